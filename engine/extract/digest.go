package extract

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
)

// castagnoli is the CRC-32C table.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Digest is what the catalog knows of a table's bytes: the content hash (SHA-256 in hex, cut
// to 32 characters; the ETag of a download) and the CRC-32C (sent with downloads so that
// clients can check the bytes without computing a SHA-256).
type Digest struct {
	Hash   string
	CRC32C uint32
}

// HashFiles reads the files' bytes in order once and returns their Digest.
func HashFiles(files ...string) (Digest, error) {
	d := newDigester()
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return Digest{}, err
		}
		err = d.add(f)
		_ = f.Close()
		if err != nil {
			return Digest{}, fmt.Errorf("read %s: %w", name, err)
		}
	}
	return d.sum(), nil
}

// HashReader returns the Digest of what r holds.
func HashReader(r io.Reader) (Digest, error) {
	d := newDigester()
	if err := d.add(r); err != nil {
		return Digest{}, err
	}
	return d.sum(), nil
}

type digester struct {
	h, c hash.Hash
	w    io.Writer
	buf  []byte
}

func newDigester() *digester {
	d := &digester{h: sha256.New(), c: crc32.New(castagnoli), buf: make([]byte, 1<<20)}
	d.w = io.MultiWriter(d.h, d.c)
	return d
}

func (d *digester) add(r io.Reader) error {
	_, err := io.CopyBuffer(d.w, r, d.buf)
	return err
}

func (d *digester) sum() Digest {
	return Digest{Hash: hex.EncodeToString(d.h.Sum(nil))[:32], CRC32C: d.c.(hash.Hash32).Sum32()}
}
