package client

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// ManifestTable is one table of the sync manifest.
type ManifestTable struct {
	// Hash is the first 32 hex characters of the SHA-256 of the table file's bytes; it
	// changes exactly when the data changes. Empty for tables without local data.
	Hash      string  `json:"hash"`
	Updated   *string `json:"updated"`
	SizeBytes int64   `json:"size_bytes"`
	Rows      int64   `json:"rows"`
	Columns   int     `json:"columns"`
	QueryMode string  `json:"query_mode"`
	// Downloadable is false for remote tables and tables stored as several files. A server
	// of the original system does not send it (see CanDownload).
	Downloadable *bool `json:"downloadable"`
}

// CanDownload reports whether GET /api/data/{id}/download is expected to serve the table.
func (t ManifestTable) CanDownload() bool {
	if t.Downloadable != nil {
		return *t.Downloadable
	}
	return t.QueryMode == "" || t.QueryMode == "local"
}

// Manifest is GET /api/sync/manifest: every table the caller may read.
type Manifest struct {
	Tables     map[string]ManifestTable     `json:"tables"`
	Assets     map[string]map[string]string `json:"assets"`
	ServerTime string                       `json:"server_time"`
}

// Manifest returns the caller's sync manifest.
func (c *Client) Manifest(ctx context.Context) (*Manifest, error) {
	var m Manifest
	if err := c.do(ctx, http.MethodGet, "/api/sync/manifest", nil, &m); err != nil {
		return nil, err
	}
	if m.Tables == nil {
		m.Tables = map[string]ManifestTable{}
	}
	return &m, nil
}

// HashFile is the manifest hash of a local file: the first 32 hex characters of the SHA-256
// of its bytes.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(h, f, buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// ErrHashMismatch means a downloaded file's bytes do not match the expected hash; the file
// was discarded.
var ErrHashMismatch = errors.New("downloaded file does not match the manifest hash")

// DownloadOptions tune Download.
type DownloadOptions struct {
	// Hash is the expected manifest hash; empty skips verification.
	Hash string
	// Progress, when set, is called with the number of new bytes as they arrive (from
	// several goroutines when downloads run in parallel).
	Progress func(n int64)
}

// DownloadResult describes a finished download.
type DownloadResult struct {
	Bytes   int64  // size of the final file
	Fetched int64  // bytes transferred by this call (less than Bytes after a resume)
	Resumed bool   // an earlier partial download was continued
	Hash    string // manifest hash of the final file
}

// PartPath is where Download keeps an unfinished download of dest.
func PartPath(dest string) string { return dest + ".part" }

// Download fetches a table's parquet file to dest. Bytes go to dest.part first; an existing
// .part is continued with a Range request (If-Range on the expected hash, so a changed file
// restarts from zero). The whole file is verified (see verifier) and renamed over dest only
// when complete and correct, so dest always holds either the old or the new file. A resumed
// download whose result does not verify is fetched once more from scratch.
func (c *Client) Download(ctx context.Context, tableID, dest string, opt DownloadOptions) (*DownloadResult, error) {
	res, err := c.download(ctx, tableID, dest, opt)
	if errors.Is(err, ErrHashMismatch) && res != nil && res.Resumed {
		// The partial file may have belonged to an older version of the table.
		return c.download(ctx, tableID, dest, opt)
	}
	return res, err
}

func (c *Client) download(ctx context.Context, tableID, dest string, opt DownloadOptions) (*DownloadResult, error) {
	path := "/api/data/" + pathEscape(tableID) + "/download"
	part := PartPath(dest)
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", tableID, err)
	}
	keep := false
	defer func() {
		_ = f.Close()
		if !keep {
			_ = os.Remove(part)
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", tableID, err)
	}
	offset := fi.Size()

	req, err := c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/octet-stream")
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
		if opt.Hash != "" {
			req.Header.Set("If-Range", strconv.Quote(opt.Hash))
		}
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		keep = offset > 0 // keep what we have for the next attempt
		return nil, &Error{Method: http.MethodGet, Path: path, Err: err}
	}
	defer resp.Body.Close()

	v := newVerifier(resp.Header, opt.Hash)
	res := &DownloadResult{}
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != offset {
			return nil, &Error{Method: http.MethodGet, Path: path, Err: fmt.Errorf("server answered an unexpected range %q", resp.Header.Get("Content-Range"))}
		}
		// The check covers the whole file: feed it the bytes already here.
		if _, err := io.CopyBuffer(v.h, io.NewSectionReader(f, 0, offset), make([]byte, 1<<20)); err != nil {
			return nil, fmt.Errorf("download %s: read partial file: %w", tableID, err)
		}
		res.Resumed = true
		if opt.Progress != nil {
			opt.Progress(offset)
		}
	case resp.StatusCode == http.StatusOK:
		// Truncate only a partial file that has bytes: on ext4, truncating even an empty
		// file marks it for a forced flush when it is closed, which would make every
		// download wait for the disk.
		if offset > 0 {
			if err := f.Truncate(0); err != nil {
				return nil, fmt.Errorf("download %s: %w", tableID, err)
			}
		}
		offset = 0
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// The partial file is as long as (or longer than) the current file: start over.
		keep = true // retryFresh owns the part file now
		return c.retryFresh(ctx, tableID, dest, opt, f)
	default:
		return nil, responseError(resp)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, fmt.Errorf("download %s: %w", tableID, err)
	}
	n, err := copyWithProgress(io.MultiWriter(f, v.h), resp.Body, opt.Progress)
	res.Fetched = n
	res.Bytes = offset + n
	if err != nil {
		keep = true // resume next time
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Method: http.MethodGet, Path: path, Err: fmt.Errorf("transfer interrupted after %d bytes: %w", res.Bytes, err)}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		keep = true
		return nil, &Error{Method: http.MethodGet, Path: path, Err: fmt.Errorf("transfer ended after %d of %d bytes", n, resp.ContentLength)}
	}
	hash, err := v.check()
	res.Hash = hash
	if err != nil {
		return res, fmt.Errorf("%w (table %s: %v)", ErrHashMismatch, tableID, err)
	}
	// No fsync before the rename: the local copy is a verified cache. After a crash, a file
	// that did not reach the disk whole has another size or time, so the next sync hashes it
	// again and fetches it anew; waiting for the disk here would halve the throughput.
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("download %s: %w", tableID, err)
	}
	if err := os.Rename(part, dest); err != nil {
		return nil, fmt.Errorf("download %s: %w", tableID, err)
	}
	keep = true // renamed: nothing left to remove
	return res, nil
}

// verifier checks a downloaded file. When the server vouches that the file it sends is the
// version the manifest names (its strong ETag is the expected hash) and sends the file's
// CRC-32C in Repr-Digest, the bytes are checked against that CRC, which costs a tenth of a
// SHA-256 and keeps a sync as fast as the transfer. Otherwise (a server of the original
// system, or the file changed since the manifest) the SHA-256 of the bytes is compared with
// the expected hash.
type verifier struct {
	h        hash.Hash
	want     string // expected manifest hash ("" = none)
	crc      bool
	crcValue uint32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func newVerifier(h http.Header, want string) *verifier {
	if want != "" && h.Get("ETag") == strconv.Quote(want) {
		if crc, ok := ReprCRC32C(h.Get("Repr-Digest")); ok {
			return &verifier{h: crc32.New(castagnoli), want: want, crc: true, crcValue: crc}
		}
	}
	return &verifier{h: sha256.New(), want: want}
}

// check returns the manifest hash of the downloaded file, or why it does not verify.
func (v *verifier) check() (string, error) {
	if v.crc {
		if got := v.h.(hash.Hash32).Sum32(); got != v.crcValue {
			return "", fmt.Errorf("CRC-32C %08x, the server sent %08x", got, v.crcValue)
		}
		return v.want, nil
	}
	got := hex.EncodeToString(v.h.Sum(nil))[:32]
	if v.want != "" && !strings.EqualFold(got, v.want) {
		return got, fmt.Errorf("expected %s, got %s", v.want, got)
	}
	return got, nil
}

// ReprCRC32C reads the crc32c member of a Repr-Digest header (RFC 9530: a dictionary of
// base64 byte sequences; the CRC-32C as 4 big-endian bytes).
func ReprCRC32C(header string) (uint32, bool) {
	for _, member := range strings.Split(header, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok || !strings.EqualFold(key, "crc32c") {
			continue
		}
		val, ok = strings.CutPrefix(val, ":")
		if !ok {
			return 0, false
		}
		val, ok = strings.CutSuffix(val, ":")
		if !ok {
			return 0, false
		}
		b, err := base64.StdEncoding.DecodeString(val)
		if err != nil || len(b) != 4 {
			return 0, false
		}
		return binary.BigEndian.Uint32(b), true
	}
	return 0, false
}

// retryFresh restarts a download after the server refused the partial file's range.
func (c *Client) retryFresh(ctx context.Context, tableID, dest string, opt DownloadOptions, f *os.File) (*DownloadResult, error) {
	_ = f.Close()
	_ = os.Remove(PartPath(dest))
	return c.download(ctx, tableID, dest, opt)
}

// rangeStart parses the first byte position of a Content-Range header.
func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

// copyWithProgress copies src to dst in 1 MiB chunks, reporting each chunk.
func copyWithProgress(dst io.Writer, src io.Reader, progress func(int64)) (int64, error) {
	buf := make([]byte, 1<<20)
	var total int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return total, err
			}
			total += int64(n)
			if progress != nil {
				progress(int64(n))
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}
