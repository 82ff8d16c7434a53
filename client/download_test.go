package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])[:32]
}

// serveOpts change how fileServer answers.
type serveOpts struct {
	cutFirst bool   // the first response stops half-way and drops the connection
	digest   bool   // send the file's CRC-32C in Repr-Digest, as the da server does
	claim    []byte // describe these bytes in ETag and Repr-Digest instead of the ones sent
}

// crcDigest is the Repr-Digest header of b.
func crcDigest(b []byte) string {
	return "crc32c=:" + base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))) + ":"
}

// fileServer serves content at /api/data/t/download like the da server (ETag = quoted
// hash, Range, If-Range).
func fileServer(t *testing.T, content *atomic.Pointer[[]byte], o serveOpts) (*httptest.Server, *atomic.Int32, *atomic.Value) {
	var calls atomic.Int32
	var lastRange atomic.Value
	lastRange.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/data/t/download" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			fmt.Fprint(w, `{"detail":"Table 'x' not found"}`)
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"detail":"Not authenticated"}`)
			return
		}
		n := calls.Add(1)
		lastRange.Store(r.Header.Get("Range"))
		b := *content.Load()
		described := b
		if o.claim != nil {
			described = o.claim
		}
		w.Header().Set("ETag", strconv.Quote(hashOf(described)))
		if o.digest {
			w.Header().Set("Repr-Digest", "sha-512=:AAAA:, "+crcDigest(described))
		}
		if o.cutFirst && n == 1 {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.WriteHeader(200)
			_, _ = w.Write(b[:len(b)/2])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		http.ServeContent(w, r, "", time.Unix(1, 0), bytes.NewReader(b))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls, &lastRange
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

func TestDownload(t *testing.T) {
	data := payload(3<<20+17, 1)
	other := payload(3<<20+17, 2)
	tests := []struct {
		name       string
		serve      []byte
		cut        bool
		part       []byte // pre-existing .part content
		wantHash   string
		digest     bool
		claim      []byte
		wantErr    error
		wantStatus int
		wantCalls  int32
		wantFetch  int64
		path       string
		token      string
	}{
		{name: "fresh", serve: data, wantHash: hashOf(data), wantCalls: 1, wantFetch: int64(len(data))},
		{name: "resume from part", serve: data, part: data[:1000], wantHash: hashOf(data), wantCalls: 1, wantFetch: int64(len(data) - 1000)},
		{name: "stale part restarts", serve: data, part: other[:5000], wantHash: hashOf(data), wantCalls: 2, wantFetch: int64(len(data))},
		{name: "part as long as the file", serve: data, part: append(append([]byte{}, data...), 'x'), wantHash: hashOf(data), wantCalls: 2, wantFetch: int64(len(data))},
		{name: "hash mismatch", serve: other, wantHash: hashOf(data), wantErr: ErrHashMismatch, wantCalls: 1},
		{name: "unknown table", serve: data, path: "x", wantHash: hashOf(data), wantStatus: 404, wantCalls: 0},
		{name: "bad token", serve: data, token: "nope", wantHash: hashOf(data), wantStatus: 401, wantCalls: 0},
		// With Repr-Digest the bytes are checked by CRC-32C, resumed ones too.
		{name: "digest fresh", serve: data, digest: true, wantHash: hashOf(data), wantCalls: 1, wantFetch: int64(len(data))},
		{name: "digest resume", serve: data, digest: true, part: data[:1000], wantHash: hashOf(data), wantCalls: 1, wantFetch: int64(len(data) - 1000)},
		{name: "digest stale part restarts", serve: data, digest: true, part: other[:5000], wantHash: hashOf(data), wantCalls: 2, wantFetch: int64(len(data))},
		{name: "digest catches damaged bytes", serve: other, claim: data, digest: true, wantHash: hashOf(data), wantErr: ErrHashMismatch, wantCalls: 1},
		// A digest for another version than the manifest's is not trusted: SHA-256 decides.
		{name: "digest of another version", serve: other, digest: true, wantHash: hashOf(data), wantErr: ErrHashMismatch, wantCalls: 1},
		{name: "damaged bytes without digest", serve: other, claim: data, wantHash: hashOf(data), wantErr: ErrHashMismatch, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var content atomic.Pointer[[]byte]
			content.Store(&tc.serve)
			srv, calls, _ := fileServer(t, &content, serveOpts{cutFirst: tc.cut, digest: tc.digest, claim: tc.claim})
			dir := t.TempDir()
			dest := filepath.Join(dir, "t.parquet")
			if err := os.WriteFile(dest, []byte("old version"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.part != nil {
				if err := os.WriteFile(PartPath(dest), tc.part, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tok := "tok"
			if tc.token != "" {
				tok = tc.token
			}
			id := "t"
			if tc.path != "" {
				id = tc.path
			}
			var progressed atomic.Int64
			res, err := New(srv.URL, tok).Download(context.Background(), id, dest, DownloadOptions{Hash: tc.wantHash, Progress: func(n int64) { progressed.Add(n) }})
			if tc.wantErr != nil || tc.wantStatus != 0 {
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if tc.wantStatus != 0 && StatusOf(err) != tc.wantStatus {
					t.Fatalf("status = %d (%v), want %d", StatusOf(err), err, tc.wantStatus)
				}
				if got, _ := os.ReadFile(dest); string(got) != "old version" {
					t.Fatal("a failed download replaced the previous file")
				}
				return
			}
			if err != nil {
				t.Fatalf("download: %v", err)
			}
			if got, _ := os.ReadFile(dest); !bytes.Equal(got, tc.serve) {
				t.Fatal("file content differs")
			}
			if res.Fetched != tc.wantFetch || calls.Load() != tc.wantCalls {
				t.Fatalf("fetched %d in %d calls, want %d in %d", res.Fetched, calls.Load(), tc.wantFetch, tc.wantCalls)
			}
			if _, err := os.Stat(PartPath(dest)); !os.IsNotExist(err) {
				t.Fatal(".part left behind")
			}
			if progressed.Load() < int64(len(tc.serve)) {
				t.Fatalf("progress reported %d bytes", progressed.Load())
			}
		})
	}
}

// TestDownloadInterruptedResumes cuts the first response mid-way: the partial bytes are kept
// and the next call asks only for the rest.
func TestDownloadInterruptedResumes(t *testing.T) {
	data := payload(4<<20, 3)
	var content atomic.Pointer[[]byte]
	content.Store(&data)
	srv, calls, lastRange := fileServer(t, &content, serveOpts{cutFirst: true, digest: true})
	dest := filepath.Join(t.TempDir(), "t.parquet")
	c := New(srv.URL, "tok")
	_, err := c.Download(context.Background(), "t", dest, DownloadOptions{Hash: hashOf(data)})
	if err == nil || !IsNetwork(err) {
		t.Fatalf("first attempt: err = %v, want a network error", err)
	}
	fi, err := os.Stat(PartPath(dest))
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(data)) {
		t.Fatalf("partial file after the cut: %v %v", fi, err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatal("incomplete download became the file")
	}
	res, err := c.Download(context.Background(), "t", dest, DownloadOptions{Hash: hashOf(data)})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if !res.Resumed || res.Fetched != int64(len(data))-fi.Size() || calls.Load() != 2 {
		t.Fatalf("resume: %+v after %d calls", res, calls.Load())
	}
	if want := "bytes=" + strconv.FormatInt(fi.Size(), 10) + "-"; lastRange.Load() != want {
		t.Fatalf("Range = %q, want %q", lastRange.Load(), want)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
		t.Fatal("resumed file differs")
	}
}

func TestErrorDetail(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"string detail", 403, `{"detail":"Access denied to this table"}`, "Access denied to this table"},
		{"validation list", 422, `{"detail":[{"loc":["body","email"],"msg":"Field required","type":"missing"}]}`, "email: Field required"},
		{"html body", 502, `<html>bad gateway</html>`, "Bad Gateway"},
		{"plain text", 500, `boom`, "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			_, err := New(srv.URL, "x").Me(context.Background())
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != tc.status || !strings.Contains(ae.Detail, tc.want) {
				t.Fatalf("err = %#v, want status %d detail %q", err, tc.status, tc.want)
			}
		})
	}
	// Not a da server at all.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>") }))
	defer srv.Close()
	if _, err := New(srv.URL, "").Health(context.Background()); !IsNetwork(err) || !strings.Contains(err.Error(), "did not answer with the da API") {
		t.Fatalf("non-API answer: %v", err)
	}
}

func TestReprCRC32C(t *testing.T) {
	tests := []struct {
		header string
		want   uint32
		ok     bool
	}{
		{"crc32c=:AAAAAQ==:", 1, true},
		{"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, CRC32C=://///w==:", 0xffffffff, true},
		{"", 0, false},
		{"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", 0, false},
		{"crc32c=AAAAAQ==", 0, false},      // not a byte sequence
		{"crc32c=:AAAAAAA=:", 0, false},    // 5 bytes
		{"crc32c=:not base64!:", 0, false}, // bad encoding
	}
	for _, tc := range tests {
		got, ok := ReprCRC32C(tc.header)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ReprCRC32C(%q) = %d, %v; want %d, %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}
