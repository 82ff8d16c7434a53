package handlers

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/engine"
	"da/engine/connectors/upload"
	"da/engine/profile"
	"da/views"
)

// multipartSlack is what the multipart envelope and the small text fields may add to the file.
const multipartSlack = 1 << 20

// uploadForm is a parsed table-upload request; the file is spooled to a temp file.
type uploadForm struct {
	Name, Description, Filename string
	Public                      bool
	File                        *os.File
	Size                        int64
}

func (f *uploadForm) close() {
	if f.File != nil {
		f.File.Close()
		os.Remove(f.File.Name())
	}
}

// readUploadForm streams a multipart body, spooling the file part into DATA_DIR/tmp and
// stopping as soon as it passes the size cap, so an oversized upload is refused while it
// arrives rather than after.
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
	req.Body = http.MaxBytesReader(c.Response(), req.Body, maxBytes+multipartSlack)
	mr := multipart.NewReader(req.Body, params["boundary"])
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
			if err := s.spool(f, part, maxBytes); err != nil {
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
	if f.File == nil {
		v.Add("file", "Field required: attach a CSV, TSV, JSON lines or parquet file", "missing")
	}
	if f.Name == "" {
		v.Add("name", "Field required: the table name", "missing")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if _, err := f.File.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	ok = true
	return f, nil
}

// spool copies the file part into a temp file, refusing it once it passes maxBytes.
func (s *Server) spool(f *uploadForm, part *multipart.Part, maxBytes int64) error {
	dir := filepath.Join(s.cfg.DataDir, "tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "upload-*")
	if err != nil {
		return err
	}
	f.File = tmp
	f.Filename = filepath.Base(strings.ReplaceAll(part.FileName(), `\`, "/"))
	// Copy through a writer that remembers its own failure: a failed write to the spool (a
	// full disk) is the server's problem, not a malformed body.
	w := &spoolWriter{f: tmp}
	n, err := io.Copy(w, io.LimitReader(part, maxBytes+1))
	if w.err != nil {
		return fmt.Errorf("upload: spool the file: %w", w.err)
	}
	if err != nil {
		return multipartError(err, maxBytes)
	}
	if n > maxBytes {
		return tooLarge(maxBytes)
	}
	f.Size = n
	return nil
}

// spoolWriter writes to the spool file and keeps the first write error.
type spoolWriter struct {
	f   *os.File
	err error
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
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
func (s *Server) publishUpload(c echo.Context, f *uploadForm) (*engine.UploadResult, error) {
	u := currentUser(c)
	res, err := s.publisher.Upload(c.Request().Context(), engine.UploadRequest{
		Name: f.Name, Filename: f.Filename, Description: f.Description, Public: f.Public, Body: f.File,
		MaxBytes: s.cfg.Upload.MaxBytes, UploaderEmail: u.Email, IsAdmin: auth.Role(u.Role) == auth.RoleAdmin,
	})
	var ie *upload.InputError
	var ce *engine.ConflictError
	// Every upload is an event of the activity log, named by its table, whatever its outcome.
	params := map[string]any{"table_id": f.Name, "file": f.Filename, "bytes": f.Size}
	if err == nil {
		params["table_id"], params["rows"], params["format"] = res.Table.ID, res.Ingest.Rows, res.Ingest.Format
		s.audit(c, auditUpload, res.Table.ID, auditResultOK, params)
	} else {
		params["error"] = truncateRunes(err.Error(), 500)
		s.audit(c, auditUpload, f.Name, "failure", params)
	}
	switch {
	case err == nil:
		s.log.Info("table uploaded", "table", res.Table.ID, "rows", res.Ingest.Rows, "bytes", f.Size, "user", u.Email)
		return res, nil
	case errors.As(err, &ie):
		if strings.HasPrefix(ie.Detail, "name: ") {
			return nil, fieldInvalid("name", strings.TrimPrefix(ie.Detail, "name: "))
		}
		return nil, apiError(ie.Status, ie.Detail)
	case errors.As(err, &ce):
		return nil, apiError(http.StatusConflict, ce.Detail)
	case errors.Is(err, engine.ErrForbidden):
		return nil, apiError(http.StatusForbidden, strings.TrimPrefix(err.Error(), engine.ErrForbidden.Error()+": "))
	}
	return nil, err
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
		Format: res.Ingest.Format, IsPublic: res.Table.IsPublic, Columns: cols,
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
	case errors.As(err, &he) && he.Code < 500:
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
