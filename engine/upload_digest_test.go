package engine

import (
	"context"
	"strings"
	"testing"

	"da/config"
	"da/engine/extract"
)

// TestUploadDigestMatchesFile checks that the content hash and CRC-32C the catalog serves for
// an upload (computed while the upload was published, not by the rebuild) are those of the
// published file's bytes, for a new table and for a replacement.
func TestUploadDigestMatchesFile(t *testing.T) {
	eng, st, dir := testEngine(t, Options{})
	pub := &Publisher{Engine: eng, Store: st, DataDir: dir, Profiler: config.ProfilerConfig{}, Log: eng.log}
	ctx := context.Background()
	var hashes []string
	for _, body := range []string{"a,b\n1,x\n2,y\n", "a,b\n3,z\n"} {
		res, err := pub.Upload(ctx, UploadRequest{Name: "t", Filename: "t.csv", Body: strings.NewReader(body),
			UploaderEmail: "owner@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		want, err := extract.HashFiles(res.Info.Files...)
		if err != nil {
			t.Fatal(err)
		}
		if res.Info.Hash != want.Hash || res.Info.CRC32C != want.CRC32C {
			t.Fatalf("catalog digest %s/%08x, file digest %s/%08x", res.Info.Hash, res.Info.CRC32C, want.Hash, want.CRC32C)
		}
		hashes = append(hashes, res.Info.Hash)
	}
	if hashes[0] == hashes[1] {
		t.Fatalf("replacement kept the first upload's hash %s", hashes[0])
	}
	if len(eng.primed) != 0 {
		t.Fatalf("%d primed digests left after the rebuilds used them", len(eng.primed))
	}
}
