package query

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissingTableNeverSuggestsSystemTables: an unknown table name is reported by name, a
// suggestion is one of the caller's tables only, and DuckDB's internal catalog tables
// (sqlite_master, pg_depend, ...) are never offered.
func TestMissingTableNeverSuggestsSystemTables(t *testing.T) {
	r := newTestRunner(t, Options{})
	p := filepath.Join(t.TempDir(), "orders.parquet")
	writeParquet(t, p, "SELECT 1 AS id")
	tables := []Table{{Name: "orders", Files: []string{p}}}
	cases := []struct {
		sql, missing, suggest string
	}{
		{"SELECT * FROM secret_pay", "secret_pay", ""},
		{"SELECT * FROM pg_dep", "pg_dep", ""},
		{"SELECT * FROM sqlite_maste", "sqlite_maste", ""},
		{"SELECT * FROM main.nosuch", "nosuch", ""},
		{`FROM "Secret Pay"`, "Secret Pay", ""},
		{"SELECT * FROM ordrs", "ordrs", "orders"},
		{"SELECT * FROM ORDER_S", "ORDER_S", "orders"},
	}
	for _, c := range cases {
		_, err := r.Run(context.Background(), Request{SQL: c.sql, Tables: tables})
		qe, ok := err.(*Error)
		if !ok {
			t.Fatalf("%s: err = %v", c.sql, err)
		}
		if qe.MissingTable != c.missing {
			t.Errorf("%s: MissingTable = %q, want %q", c.sql, qe.MissingTable, c.missing)
		}
		if !strings.Contains(qe.Msg, "Table with name "+c.missing+" does not exist!") {
			t.Errorf("%s: message lost the name: %q", c.sql, qe.Msg)
		}
		for _, bad := range []string{"sqlite_", "pg_d", "duckdb_", "information_schema"} {
			if strings.Contains(strings.SplitN(qe.Msg, "LINE 1", 2)[0], "mean \""+bad) {
				t.Errorf("%s: suggests an internal table: %q", c.sql, qe.Msg)
			}
		}
		hasSuggestion := strings.Contains(qe.Msg, "Did you mean")
		if c.suggest == "" && hasSuggestion {
			t.Errorf("%s: unexpected suggestion: %q", c.sql, qe.Msg)
		}
		if c.suggest != "" && !strings.Contains(qe.Msg, `Did you mean "`+c.suggest+`"?`) {
			t.Errorf("%s: want suggestion %q: %q", c.sql, c.suggest, qe.Msg)
		}
	}
	// Other errors are untouched and name no table.
	_, err := r.Run(context.Background(), Request{SQL: "SELECT nope FROM orders", Tables: tables})
	if qe, ok := err.(*Error); !ok || qe.MissingTable != "" || !strings.Contains(qe.Msg, "nope") {
		t.Fatalf("column error = %#v", err)
	}
}

// TestCheckBindsWithoutRunning: Check finds unknown tables and columns and syntax errors,
// passes a valid statement, and runs nothing (a statement that would take minutes returns
// at once, and nothing is left running).
func TestCheckBindsWithoutRunning(t *testing.T) {
	r := newTestRunner(t, Options{})
	p := filepath.Join(t.TempDir(), "orders.parquet")
	writeParquet(t, p, "SELECT 1 AS id")
	tables := []Table{{Name: "orders", Files: []string{p}}}
	ctx := context.Background()
	for sql, want := range map[string]string{
		"SELECT nope FROM orders": "nope",
		"SELECT * FROM secret":    "Table with name secret does not exist",
		"SELEC 1":                 "syntax error",
		"DROP TABLE orders":       "Query error:",
	} {
		err := r.Check(ctx, Request{SQL: sql, Tables: tables})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%q) = %v, want %q", sql, err, want)
		}
	}
	if err := r.Check(ctx, Request{SQL: "SELECT id FROM orders", Tables: tables}); err != nil {
		t.Fatalf("valid statement: %v", err)
	}
	if err := r.Check(ctx, Request{SQL: slowSQL, Tables: tables}); err != nil {
		t.Fatalf("slow statement: %v", err)
	}
	if n := len(r.Running()); n != 0 {
		t.Fatalf("%d queries left running", n)
	}
}
