package diskfull

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

func TestIsAndWrap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"ENOSPC", &fs.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, true},
		{"EDQUOT wrapped", fmt.Errorf("spool: %w", syscall.EDQUOT), true},
		{"DuckDB text", errors.New(`IO Error: Could not write file "/x": No space left on device`), true},
		{"quota text", errors.New("write /x: disk quota exceeded"), true},
		{"other I/O error", &fs.PathError{Op: "write", Path: "/x", Err: syscall.EIO}, false},
		{"plain error", errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := Is(tt.err); got != tt.want {
			t.Errorf("%s: Is = %v, want %v", tt.name, got, tt.want)
		}
		w := Wrap(tt.err)
		if got := errors.Is(w, ErrDiskFull); got != tt.want {
			t.Errorf("%s: errors.Is(Wrap(err), ErrDiskFull) = %v, want %v", tt.name, got, tt.want)
		}
		if tt.err != nil && (w == nil || w.Error() != tt.err.Error() || !errors.Is(w, tt.err)) {
			t.Errorf("%s: Wrap lost the cause: %v", tt.name, w)
		}
	}
	once := Wrap(syscall.ENOSPC)
	if Wrap(once) != once {
		t.Error("Wrap wrapped an already marked error again")
	}
}
