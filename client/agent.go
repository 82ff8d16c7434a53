package client

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
)

// UploadedFile is the answer to a session or artifact upload.
type UploadedFile struct {
	Status   string `json:"status"`
	Path     string `json:"path"`
	Size     int64  `json:"size"`
	Redacted int    `json:"redacted"`
}

// LocalMDUpload is the answer to a CLAUDE.local.md upload.
type LocalMDUpload struct {
	Status   string `json:"status"`
	User     string `json:"user"`
	Size     int    `json:"size"`
	Redacted int    `json:"redacted"`
}

// UploadSession sends one agent transcript (JSON lines) under its file name.
func (c *Client) UploadSession(ctx context.Context, fileName string, data []byte) (*UploadedFile, error) {
	return c.uploadFile(ctx, "/api/upload/sessions", fileName, data)
}

// UploadArtifact sends one file an agent produced.
func (c *Client) UploadArtifact(ctx context.Context, fileName string, data []byte) (*UploadedFile, error) {
	return c.uploadFile(ctx, "/api/upload/artifacts", fileName, data)
}

func (c *Client) uploadFile(ctx context.Context, path, fileName string, data []byte) (*UploadedFile, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", fileName)
	if err != nil {
		return nil, &Error{Method: http.MethodPost, Path: path, Err: err}
	}
	_, _ = fw.Write(data)
	if err := mw.Close(); err != nil {
		return nil, &Error{Method: http.MethodPost, Path: path, Err: err}
	}
	req, err := c.newRequest(ctx, http.MethodPost, path, &buf)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var out UploadedFile
	if err := c.send(req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UploadLocalMD sends the analyst's CLAUDE.local.md.
func (c *Client) UploadLocalMD(ctx context.Context, content string) (*LocalMDUpload, error) {
	var out LocalMDUpload
	if err := c.do(ctx, http.MethodPost, "/api/upload/local-md", map[string]string{"content": content}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Bundle is the agents' knowledge file: the approved and mandatory items for the caller.
type Bundle struct {
	Markdown string `json:"markdown"`
	Items    int    `json:"items"`
	Omitted  int    `json:"omitted"`
	Tokens   int    `json:"tokens"`
	Budget   int    `json:"budget"`
}

// MemoryBundle fetches GET /api/memory/bundle.
func (c *Client) MemoryBundle(ctx context.Context) (*Bundle, error) {
	var out Bundle
	if err := c.do(ctx, http.MethodGet, "/api/memory/bundle?format=json", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
