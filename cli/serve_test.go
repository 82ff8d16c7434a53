package cli

import "testing"

func TestOneParagraph(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"store: locked", "store: locked"},
		{"INTERNAL Error: Failure while replaying WAL file \"x.wal\": boom\nThis error signals an assertion failure within DuckDB.\n\nStack Trace:\n\n/da(duckdb::Exception::Exception()+0x1) [0x1]\n/da(main+0x2) [0x2]\n",
			"INTERNAL Error: Failure while replaying WAL file \"x.wal\": boom This error signals an assertion failure within DuckDB."},
		{"first\nsecond", "first second"},
	}
	for _, tt := range tests {
		if got := oneParagraph(tt.in); got != tt.want {
			t.Errorf("oneParagraph(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
