package handlers

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"da/redact"
)

// agentUploadMax is the cap of one session transcript or artifact (50 MiB), enforced while
// the file arrives.
const agentUploadMax = 50 << 20

// localMDMax caps an uploaded CLAUDE.local.md (characters are counted after decoding).
const localMDMax = 1 << 20

const (
	auditUploadSession = "upload_session"
	auditUploadLocalMD = "upload_local_md"
	auditUploadArtif   = "upload_artifact"
)

// Agent upload directories under DATA_DIR.
const (
	UserSessionsDir = "user_sessions"
	UserLocalMDDir  = "user_local_md"
	ArtifactsDir    = "artifacts"
)

// uploadedFile is the answer of POST /api/upload/sessions and /api/upload/artifacts.
type uploadedFile struct {
	Status   string `json:"status"`
	Path     string `json:"path"`
	Size     int64  `json:"size"`
	Redacted int    `json:"redacted"`
}

// safeBasename keeps only the last path element of a client's file name; fallback names
// one with none, and names that are empty or hidden get upload_<hex>.
func safeBasename(name, fallback string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	if name == "" {
		return fallback
	}
	base := filepath.Base("/" + name)
	if base == "/" || base == "." || base == ".." || strings.HasPrefix(base, ".") || strings.ContainsRune(base, 0) {
		return "upload_" + randHex(4)
	}
	return base
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// filePart opens the multipart body and returns its "file" part.
func filePart(c echo.Context) (*multipart.Part, error) {
	req := c.Request()
	if req.ContentLength > agentUploadMax+multipartSlack {
		return nil, tooLarge(agentUploadMax)
	}
	ct, params, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || ct != "multipart/form-data" || params["boundary"] == "" {
		return nil, apiError(http.StatusUnsupportedMediaType, "Expected a multipart/form-data body with a file field")
	}
	req.Body = http.MaxBytesReader(c.Response(), req.Body, agentUploadMax+multipartSlack)
	mr := multipart.NewReader(bufio.NewReaderSize(req.Body, 1<<20), params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, fieldInvalid("file", "Field required")
		}
		if err != nil {
			return nil, multipartError(err, agentUploadMax)
		}
		if p.FormName() == "file" {
			return p, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(p, multipartSlack))
	}
}

// receiveFile writes src to dir/name through a temporary file, at most agentUploadMax bytes;
// transform (may be nil) sees and may rewrite each line. Nothing is left behind on failure.
func receiveFile(src io.Reader, dir, name string, transform func(line []byte, n int) ([]byte, error)) (int64, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return 0, err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	w := bufio.NewWriterSize(tmp, 1<<20)
	r := bufio.NewReaderSize(io.LimitReader(src, agentUploadMax+1), 1<<20)
	var read, size int64
	for lineNo := 1; ; lineNo++ {
		line, rerr := r.ReadBytes('\n')
		read += int64(len(line))
		if read > agentUploadMax {
			_ = tmp.Close()
			return 0, tooLarge(agentUploadMax)
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			_ = tmp.Close()
			var mbe *http.MaxBytesError
			if errors.As(rerr, &mbe) {
				return 0, tooLarge(agentUploadMax)
			}
			if isTimeout(rerr) {
				return 0, bodyReadError(rerr)
			}
			return 0, apiError(http.StatusBadRequest, "Malformed multipart body: "+rerr.Error())
		}
		if len(line) > 0 && transform != nil {
			if line, err = transform(line, lineNo); err != nil {
				_ = tmp.Close()
				return 0, err
			}
		}
		if _, err := w.Write(line); err != nil {
			_ = tmp.Close()
			return 0, err
		}
		size += int64(len(line))
		if rerr != nil {
			break
		}
	}
	if err := w.Flush(); err != nil {
		_ = tmp.Close()
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return 0, err
	}
	return size, nil
}

// uploadSession is POST /api/upload/sessions: one agent transcript (JSON lines). Every line
// must be a JSON value (422 names the first that is not); secrets are redacted before the
// file is stored.
func (s *Server) uploadSession(c echo.Context) error {
	u := currentUser(c)
	p, err := filePart(c)
	if err != nil {
		return err
	}
	name := safeBasename(p.FileName(), "session_"+randHex(4)+".jsonl")
	if !strings.HasSuffix(strings.ToLower(name), ".jsonl") {
		return fieldInvalid("file", "A session transcript must be a .jsonl file")
	}
	dir := filepath.Join(s.cfg.DataDir, UserSessionsDir, u.ID)
	redacted := 0
	size, err := receiveFile(p, dir, name, func(line []byte, n int) ([]byte, error) {
		body := bytes.TrimSpace(line)
		if len(body) == 0 {
			return line, nil
		}
		if !json.Valid(body) {
			return nil, fieldInvalid("file", fmt.Sprintf("Line %d is not valid JSON", n))
		}
		out, k := redact.Bytes(line)
		redacted += k
		return out, nil
	})
	if err != nil {
		return err
	}
	rel := filepath.Join(UserSessionsDir, u.ID, name)
	if err := s.audit(c, auditUploadSession, rel, auditResultOK, map[string]any{"size": size, "redacted": redacted}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, uploadedFile{Status: "ok", Path: filepath.Join(s.cfg.DataDir, rel), Size: size, Redacted: redacted})
}

// uploadArtifact is POST /api/upload/artifacts: any file an agent produced, stored as sent.
func (s *Server) uploadArtifact(c echo.Context) error {
	u := currentUser(c)
	p, err := filePart(c)
	if err != nil {
		return err
	}
	name := safeBasename(p.FileName(), "artifact_"+randHex(4))
	dir := filepath.Join(s.cfg.DataDir, ArtifactsDir, u.ID)
	size, err := receiveFile(p, dir, name, nil)
	if err != nil {
		return err
	}
	rel := filepath.Join(ArtifactsDir, u.ID, name)
	if err := s.audit(c, auditUploadArtif, rel, auditResultOK, map[string]any{"size": size}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, uploadedFile{Status: "ok", Path: filepath.Join(s.cfg.DataDir, rel), Size: size})
}

// localMDRequest is the body of POST /api/upload/local-md.
type localMDRequest struct {
	Content *string `json:"content"`
}

// uploadLocalMD is POST /api/upload/local-md: the analyst's CLAUDE.local.md, secrets redacted.
func (s *Server) uploadLocalMD(c echo.Context) error {
	u := currentUser(c)
	var req localMDRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Content == nil {
		return fieldInvalid("content", "Field required")
	}
	if !utf8.ValidString(*req.Content) {
		return fieldInvalid("content", "Content must be UTF-8 text")
	}
	content, redacted := redact.String(*req.Content)
	dir := filepath.Join(s.cfg.DataDir, UserLocalMDDir)
	if _, err := receiveFile(strings.NewReader(content), dir, u.ID+".md", nil); err != nil {
		return err
	}
	chars := utf8.RuneCountInString(content)
	if err := s.audit(c, auditUploadLocalMD, filepath.Join(UserLocalMDDir, u.ID+".md"), auditResultOK, map[string]any{"size": chars, "redacted": redacted}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, localMDUploaded{Status: "ok", User: u.Email, Size: chars, Redacted: redacted})
}

// agentFileUpload is the multipart body of POST /api/upload/sessions and /api/upload/artifacts.
type agentFileUpload struct {
	File *multipart.FileHeader `formData:"file" required:"true" description:"a .jsonl session transcript, or any artifact file (50 MiB at most)"`
}

// localMDUploaded is the answer of POST /api/upload/local-md.
type localMDUploaded struct {
	Status   string `json:"status"`
	User     string `json:"user"`
	Size     int    `json:"size"`
	Redacted int    `json:"redacted"`
}
