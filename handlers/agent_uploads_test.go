package handlers

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"da/auth"
	"da/store"
)

func TestAgentUploads(t *testing.T) {
	env := newTestEnv(t)
	analyst, viewer := env.tokens[auth.RoleAnalyst], env.tokens[auth.RoleViewer]
	uid := env.users[auth.RoleAnalyst].ID
	dataDir := env.srv.cfg.DataDir
	post := func(path, token, filename string, content []byte) (int, map[string]any) {
		body, ctype := multipartBody(t, nil, filename, content)
		rec := env.do(request{method: "POST", path: path, body: body, ctype: ctype, token: token})
		return rec.Code, decodeJSON(t, rec)
	}

	transcript := `{"type":"user","message":"connect with DA_TOKEN=da_pat_abcdefgh12345678XYZ"}` + "\n" +
		`{"type":"assistant","message":"done"}` + "\n"
	code, got := post("/api/upload/sessions", analyst, "../../etc/2026-01-01_abc.jsonl", []byte(transcript))
	if code != http.StatusOK || got["status"] != "ok" {
		t.Fatalf("session upload: %d %v", code, got)
	}
	stored := filepath.Join(dataDir, UserSessionsDir, uid, "2026-01-01_abc.jsonl")
	if got["path"] != stored {
		t.Fatalf("path %v, want %s (basename only)", got["path"], stored)
	}
	b, err := os.ReadFile(stored)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("da_pat_abcdefgh")) || !bytes.Contains(b, []byte("[REDACTED]")) {
		t.Fatalf("token not redacted: %s", b)
	}
	if int(got["size"].(float64)) != len(b) {
		t.Fatalf("size %v, file has %d bytes", got["size"], len(b))
	}

	// Bad input changes nothing.
	for _, tc := range []struct {
		name, path, token, filename string
		content                     []byte
		want                        int
	}{
		{"viewer", "/api/upload/sessions", viewer, "a.jsonl", []byte("{}\n"), http.StatusForbidden},
		{"no auth", "/api/upload/sessions", "", "a.jsonl", []byte("{}\n"), http.StatusUnauthorized},
		{"not json", "/api/upload/sessions", analyst, "b.jsonl", []byte("{}\nnot json\n"), http.StatusUnprocessableEntity},
		{"not jsonl", "/api/upload/sessions", analyst, "b.txt", []byte("{}\n"), http.StatusUnprocessableEntity},
		{"no file", "/api/upload/sessions", analyst, "", nil, http.StatusUnprocessableEntity},
		{"too large", "/api/upload/sessions", analyst, "big.jsonl", bytes.Repeat([]byte("{}\n"), agentUploadMax/3+2), http.StatusRequestEntityTooLarge},
		{"artifact too large", "/api/upload/artifacts", analyst, "big.bin", make([]byte, agentUploadMax+1), http.StatusRequestEntityTooLarge},
	} {
		code, got := post(tc.path, tc.token, tc.filename, tc.content)
		if code != tc.want || got["detail"] == nil {
			t.Errorf("%s: %d %v, want %d with detail", tc.name, code, got, tc.want)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dataDir, UserSessionsDir, uid))
	if len(entries) != 1 {
		t.Fatalf("refused uploads left files: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(dataDir, ArtifactsDir, uid, "big.bin")); !os.IsNotExist(err) {
		t.Fatalf("oversized artifact stored: %v", err)
	}

	// Artifacts are stored as sent; a hidden name gets a generated one.
	code, got = post("/api/upload/artifacts", analyst, ".hidden", []byte("binary\x00data"))
	if code != http.StatusOK || !strings.HasPrefix(filepath.Base(got["path"].(string)), "upload_") {
		t.Fatalf("artifact: %d %v", code, got)
	}

	// Local notes.
	rec := env.do(request{method: "POST", path: "/api/upload/local-md", token: analyst,
		body: `{"content":"# Notes\nUse the orders table. password: hunter2hunter2\nčeský text"}`})
	got = decodeJSON(t, rec)
	if rec.Code != http.StatusOK || got["user"] != env.users[auth.RoleAnalyst].Email {
		t.Fatalf("local-md: %d %v", rec.Code, got)
	}
	md, _ := os.ReadFile(filepath.Join(dataDir, UserLocalMDDir, uid+".md"))
	if strings.Contains(string(md), "hunter2") || !strings.Contains(string(md), "český text") {
		t.Fatalf("stored notes: %q", md)
	}
	if int(got["size"].(float64)) != len([]rune(string(md))) {
		t.Fatalf("size %v is not the character count of %q", got["size"], md)
	}
	for _, body := range []string{`{"content":`, `{}`, `{"content": 5}`, `[]`} {
		rec := env.do(request{method: "POST", path: "/api/upload/local-md", token: analyst, body: body})
		if rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("local-md %s: %d %s", body, rec.Code, rec.Body)
		}
	}
	md2, _ := os.ReadFile(filepath.Join(dataDir, UserLocalMDDir, uid+".md"))
	if !bytes.Equal(md, md2) {
		t.Fatal("refused local-md changed the stored notes")
	}

	// Audited.
	entries2, err := env.store.QueryAudit(context.Background(), store.AuditFilter{Action: auditUploadSession})
	if err != nil || len(entries2) != 1 {
		t.Fatalf("audit: %v %v", entries2, err)
	}
}
