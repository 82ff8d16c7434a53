package handlers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/engine"
	"da/engine/connectors/upload"
	"da/engine/profile"
	"da/views"
)

// multipartSlack is what the multipart envelope and the small text fields may add to the file.
const multipartSlack = 1 << 20

// uploadForm is a parsed table-upload request; the file is received straight into the
// upload source's staging area (a spool), where it is converted too.
type uploadForm struct {
	Name, Description, Filename string
	Public                      bool
	Spool                       *upload.Spool
	// Checked and NameWasFree record the ownership check made when the file began to arrive.
	Checked, NameWasFree bool
	// Received is how long the file took to arrive and be written.
	Received time.Duration
}

func (f *uploadForm) close() {
	if f.Spool != nil {
		_ = f.Spool.Close()
	}
}

// readUploadForm streams a multipart body, receiving the file part into a spool and stopping
// as soon as it passes the size cap, so an oversized upload is refused while it arrives
// rather than after. An upload the disk cannot hold is refused (507) before any of it is
// read, and one the uploader may not publish (403, 409), when its name comes before the file,
// before the file is read.
func (s *Server) readUploadForm(c echo.Context) (*uploadForm, error) {
	req := c.Request()
	maxBytes := s.cfg.Upload.MaxBytes
	if req.ContentLength > maxBytes+multipartSlack {
		return nil, tooLarge(maxBytes)
	}
	ct, params, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || ct != "multipart/form-data" || params["boundary"] == "" {
		return nil, apiError(http.StatusUnsupportedMediaType, "Expected a multipart/form-data body with a file field")
	}
	expected := req.ContentLength
	if expected < 0 {
		expected = maxBytes
	}
	if err := s.publisher.CheckFreeSpace(expected); err != nil {
		return nil, uploadSpaceError(err)
	}
	req.Body = http.MaxBytesReader(c.Response(), req.Body, maxBytes+multipartSlack)
	// The multipart reader asks for 4 KB at a time; without a buffer of its own under it,
	// every one of those is a read from the connection (16,000 of them for 64 MB).
	mr := multipart.NewReader(bufio.NewReaderSize(req.Body, 1<<20), params["boundary"])
	f := &uploadForm{}
	ok := false
	defer func() {
		if !ok {
			f.close()
		}
	}()
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, multipartError(err, maxBytes)
		}
		field := part.FormName()
		if seen[field] {
			part.Close()
			return nil, fieldInvalid(field, "given more than once")
		}
		seen[field] = true
		switch field {
		case "file":
			if err := s.spool(c, f, part, maxBytes); err != nil {
				return nil, err
			}
		case "name", "description", "public", "_csrf":
			v, err := io.ReadAll(io.LimitReader(part, 64<<10+1))
			if err != nil {
				return nil, multipartError(err, maxBytes)
			}
			if len(v) > 64<<10 {
				return nil, fieldInvalid(field, "too long")
			}
			if !utf8.Valid(v) {
				return nil, fieldInvalid(field, "is not valid UTF-8 text")
			}
			val := strings.TrimSpace(string(v))
			switch field {
			case "name":
				f.Name = val
			case "description":
				f.Description = val
			case "public":
				b, err := parseFormBool(val)
				if err != nil {
					return nil, fieldInvalid("public", `must be "true" or "false"`)
				}
				f.Public = b
			}
		}
		part.Close()
	}
	v := &ValidationError{}
	if f.Spool == nil {
		v.Add("file", "Field required: attach a CSV, TSV, JSON or parquet file", "missing")
	}
	if f.Name == "" {
		v.Add("name", "Field required: the table name", "missing")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	ok = true
	return f, nil
}

// spool receives the file part into a new spool, refusing it once it passes maxBytes. When
// the name arrived first, the name and the uploader's right to publish it are checked before
// the file is read.
func (s *Server) spool(c echo.Context, f *uploadForm, part *multipart.Part, maxBytes int64) error {
	if f.Name != "" {
		if err := upload.CheckName(f.Name); err != nil {
			return uploadError(err)
		}
		u := currentUser(c)
		exists, err := s.publisher.CheckUpload(c.Request().Context(), f.Name, u.Email, auth.Role(u.Role) == auth.RoleAdmin)
		if err != nil {
			return uploadError(err)
		}
		f.Checked, f.NameWasFree = true, !exists
	}
	sp, err := s.publisher.NewUploadSpool()
	if err != nil {
		return uploadError(err)
	}
	f.Spool = sp
	start := time.Now()
	defer func() { f.Received = time.Since(start) }()
	if err := sp.Receive(c.Request().Context(), part, part.FileName(), maxBytes); err != nil {
		var mbe *http.MaxBytesError
		var ie *upload.InputError
		if errors.As(err, &mbe) || errors.As(err, &ie) && ie.Status == http.StatusRequestEntityTooLarge {
			return tooLarge(maxBytes)
		}
		if isTimeout(err) {
			return bodyReadError(err) // too slow a client: 408
		}
		return uploadError(err)
	}
	f.Filename = sp.Filename()
	return nil
}

// uploadSpaceError answers an upload the disk cannot hold with 507.
func uploadSpaceError(err error) error {
	var se *engine.SpaceError
	if errors.As(err, &se) {
		return apiError(http.StatusInsufficientStorage, fmt.Sprintf(
			"The server's disk is too full for this upload: it needs about %s free and has %s. Try a smaller file, or ask an admin to free space.",
			views.FormatBytes(int64(se.Need)), views.FormatBytes(int64(se.Free))))
	}
	return err
}

func tooLarge(maxBytes int64) error {
	return apiError(http.StatusRequestEntityTooLarge, fmt.Sprintf("File too large (max %s)", views.FormatBytes(maxBytes)))
}

func multipartError(err error, maxBytes int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(maxBytes)
	}
	if isTimeout(err) {
		return bodyReadError(err)
	}
	return apiError(http.StatusBadRequest, "Malformed multipart body: "+err.Error())
}

func parseFormBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "false", "0", "off", "no":
		return false, nil
	case "true", "1", "on", "yes":
		return true, nil
	}
	return false, strconv.ErrSyntax
}

func trimZero(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0")
}

// publishUpload runs a parsed upload through the publisher and maps its errors to statuses.
// Every upload is an event of the activity log, named by its table, whatever its outcome: a
// successful one commits its entry with the table's registration, a refused one records it
// on its own.
func (s *Server) publishUpload(c echo.Context, f *uploadForm) (*engine.UploadResult, error) {
	u := currentUser(c)
	params := map[string]any{"table_id": f.Name, "file": f.Filename, "bytes": f.Spool.Size()}
	ctx := s.auditing(c, auditUpload, f.Name, params)
	res, err := s.publisher.Upload(ctx, engine.UploadRequest{
		Name: f.Name, Filename: f.Filename, Description: f.Description, Public: f.Public, Spool: f.Spool,
		MaxBytes: s.cfg.Upload.MaxBytes, UploaderEmail: u.Email, IsAdmin: auth.Role(u.Role) == auth.RoleAdmin,
		Checked: f.Checked, NameWasFree: f.NameWasFree,
	})
	s.metrics.observeUpload(f.Spool.Size(), err)
	if err != nil {
		failed := map[string]any{"table_id": f.Name, "file": f.Filename, "bytes": f.Spool.Size(), "error": truncateRunes(err.Error(), 500)}
		_ = s.audit(c, auditUpload, f.Name, "failure", failed) // the request fails anyway; audit logs its own failure
		return nil, uploadError(err)
	}
	s.log.InfoContext(c.Request().Context(), "table uploaded", "table", res.Table.ID, "rows", res.Ingest.Rows, "bytes", f.Spool.Size(),
		"receive_ms", f.Received.Milliseconds(), "profile", res.ProfileState, "user", u.Email)
	return res, nil
}

// uploadError maps the publisher's refusals to answers; other errors stay internal.
func uploadError(err error) error {
	var ie *upload.InputError
	var ce *engine.ConflictError
	switch {
	case errors.As(err, &ie):
		if strings.HasPrefix(ie.Detail, "name: ") {
			return fieldInvalid("name", strings.TrimPrefix(ie.Detail, "name: "))
		}
		return apiError(ie.Status, ie.Detail)
	case errors.As(err, &ce):
		return apiError(http.StatusConflict, ce.Detail)
	case errors.Is(err, engine.ErrForbidden):
		return apiError(http.StatusForbidden, strings.TrimPrefix(err.Error(), engine.ErrForbidden.Error()+": "))
	case isDiskFull(err):
		// The central answer, as an HTTP error, so that the upload page shows it in the form.
		return apiError(http.StatusInsufficientStorage, diskFullDetail)
	}
	return uploadSpaceError(err)
}

// uploadTableResponse is the 201 body of POST /api/upload/table.
type uploadTableResponse struct {
	TableID   string          `json:"table_id"`
	Name      string          `json:"name"`
	Rows      int64           `json:"rows"`
	SizeBytes int64           `json:"size_bytes"`
	Format    string          `json:"format"`
	IsPublic  bool            `json:"is_public"`
	Columns   []upload.Column `json:"columns"`
	// Profile is "complete", "pending" (large files are profiled in the background) or "failed".
	Profile string `json:"profile"`
}

// uploadTable is POST /api/upload/table: publish a file as a table (201).
func (s *Server) uploadTable(c echo.Context) error {
	f, err := s.readUploadForm(c)
	if err != nil {
		return err
	}
	defer f.close()
	res, err := s.publishUpload(c, f)
	if err != nil {
		return err
	}
	cols := res.Ingest.Columns
	if cols == nil {
		cols = []upload.Column{}
	}
	return c.JSON(http.StatusCreated, uploadTableResponse{
		TableID: res.Table.ID, Name: res.Table.Name, Rows: res.Ingest.Rows, SizeBytes: res.Ingest.SizeBytes,
		Format: res.Ingest.Format, IsPublic: res.Table.IsPublic, Columns: cols, Profile: res.ProfileState,
	})
}

// showUpload is the upload page.
func (s *Server) showUpload(c echo.Context) error {
	return render(c, http.StatusOK, views.Upload(s.shell(c, "upload", "Upload data"), s.uploadLimits()))
}

func (s *Server) uploadLimits() views.UploadLimits {
	return views.UploadLimits{MaxBytes: s.cfg.Upload.MaxBytes, MaxLabel: views.FormatBytes(s.cfg.Upload.MaxBytes)}
}

// submitUpload is the page's form post (htmx): the result panel with the new table's column
// profile, or the form with inline errors (422).
func (s *Server) submitUpload(c echo.Context) error {
	form := views.UploadFormData{Limits: s.uploadLimits()}
	f, err := s.readUploadForm(c)
	if err == nil {
		defer f.close()
		form.Name, form.Description, form.Public = f.Name, f.Description, f.Public
		var res *engine.UploadResult
		if res, err = s.publishUpload(c, f); err == nil {
			return render(c, http.StatusOK, views.UploadResult(uploadResultView(res)))
		}
	}
	var ve *ValidationError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ve):
		form.Errors = map[string]string{}
		for _, fe := range ve.Fields {
			form.Errors[fe.Loc[len(fe.Loc)-1]] = fe.Msg
		}
	case errors.As(err, &he) && (he.Code < 500 || he.Code == http.StatusInsufficientStorage):
		form.Errors = map[string]string{"file": fmt.Sprint(he.Message)}
	default:
		return err
	}
	return render(c, http.StatusUnprocessableEntity, views.UploadForm(form))
}

func uploadResultView(res *engine.UploadResult) views.UploadResultData {
	d := views.UploadResultData{
		TableID: res.Table.ID, Name: res.Table.Name, Rows: res.Ingest.Rows, SizeBytes: res.Ingest.SizeBytes,
		Format: res.Ingest.Format, Public: res.Table.IsPublic, Size: views.FormatBytes(res.Ingest.SizeBytes),
		ProfilePending: res.ProfileState == engine.ProfilePending,
	}
	for _, col := range res.Ingest.Columns {
		d.Columns = append(d.Columns, views.UploadColumn{Name: col.Name, Type: col.Type})
	}
	if p := res.Profile; p != nil {
		d.Profiled = true
		for i, pc := range p.Columns {
			if i < len(d.Columns) {
				d.Columns[i].Completeness = pc.CompletenessPct
				d.Columns[i].UniquePct = pc.UniquePct
				d.Columns[i].Category = pc.TypeCategory
				d.Columns[i].Summary = profileSummary(pc)
			}
		}
	}
	return d
}

// profileSummary is a one-line description of a column's profile for the upload result.
func profileSummary(c profile.Column) string {
	var parts []string
	switch {
	case c.NumericStats != nil && c.NumericStats.Min != nil && c.NumericStats.Max != nil:
		parts = append(parts, "range "+shortNumber(*c.NumericStats.Min)+" – "+shortNumber(*c.NumericStats.Max))
		if c.NumericStats.Median != nil {
			parts = append(parts, "median "+shortNumber(*c.NumericStats.Median))
		}
	case c.DateStats != nil && c.DateStats.Earliest != nil && c.DateStats.Latest != nil:
		parts = append(parts, *c.DateStats.Earliest+" → "+*c.DateStats.Latest)
	case c.BooleanStats != nil:
		parts = append(parts, trimZero(c.BooleanStats.TruePct)+"% true")
	case c.StringStats != nil && len(c.StringStats.TopValues) > 0:
		top := c.StringStats.TopValues[0]
		parts = append(parts, fmt.Sprintf("top %q (%s%%)", top.Value, trimZero(top.Pct)))
	case c.StringStats != nil:
		parts = append(parts, fmt.Sprintf("length %d–%d", c.StringStats.MinLength, c.StringStats.MaxLength))
	}
	if c.UniqueCount > 0 {
		parts = append(parts, views.FormatCount(c.UniqueCount)+" distinct")
	}
	if len(c.Alerts) > 0 {
		parts = append(parts, strings.Join(c.Alerts, ", "))
	}
	return strings.Join(parts, " · ")
}

func shortNumber(f float64) string {
	return strconv.FormatFloat(f, 'g', 6, 64)
}
