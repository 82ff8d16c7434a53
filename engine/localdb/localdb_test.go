package localdb

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// writeParquet writes a parquet file with n rows of one column named col.
func writeParquet(t *testing.T, path, col string, n int) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf("COPY (SELECT range AS %s FROM range(%d)) TO %s (FORMAT parquet)", quoteIdent(col), n, quoteLiteral(path))); err != nil {
		t.Fatal(err)
	}
}

func TestRebuildViewsIncremental(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "analytics.duckdb")
	files := map[string]string{}
	for i, name := range []string{"a", "b", "c", "mine"} {
		files[name] = filepath.Join(dir, name+".parquet")
		writeParquet(t, files[name], "x", i+1)
	}
	// The user's own base table "mine" wins over the synced table of that name.
	db, err := sql.Open("duckdb", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE mine AS SELECT 42 AS answer"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	steps := []struct {
		name             string
		tables           map[string]string
		fresh            map[string]bool
		before           func()
		views, shadows   []string
		created, dropped int
		counts           map[string]int64
		column           map[string]string
	}{
		{name: "first build", tables: files, views: []string{"a", "b", "c"}, shadows: []string{"mine"}, created: 3,
			counts: map[string]int64{"a": 1, "b": 2, "c": 3, "mine": 1}},
		{name: "nothing changed", tables: files, views: []string{"a", "b", "c"}, shadows: []string{"mine"}},
		{name: "b replaced with new columns", tables: files, fresh: map[string]bool{"b": true},
			before: func() { writeParquet(t, files["b"], "y", 7) },
			views:  []string{"a", "b", "c"}, shadows: []string{"mine"}, created: 1,
			counts: map[string]int64{"b": 7}, column: map[string]string{"b": "y"}},
		{name: "c removed", tables: map[string]string{"a": files["a"], "b": files["b"]},
			views: []string{"a", "b"}, shadows: []string{}, dropped: 1},
		{name: "a moved", tables: map[string]string{"a": filepath.Join(dir, "moved.parquet"), "b": files["b"]},
			before: func() { writeParquet(t, filepath.Join(dir, "moved.parquet"), "x", 11) },
			views:  []string{"a", "b"}, shadows: []string{}, created: 1, counts: map[string]int64{"a": 11, "b": 7}},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		res, err := RebuildViews(ctx, dbPath, st.tables, st.fresh)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !slices.Equal(res.Views, st.views) || !slices.Equal(res.Shadows, st.shadows) || res.Created != st.created || res.Dropped != st.dropped {
			t.Errorf("%s: views %v shadows %v created %d dropped %d; want %v %v %d %d", st.name,
				res.Views, res.Shadows, res.Created, res.Dropped, st.views, st.shadows, st.created, st.dropped)
		}
		local, err := Open(dbPath)
		if err != nil {
			t.Fatal(err)
		}
		rels, _ := local.Relations(ctx)
		if len(rels) != len(st.views)+1 { // + the base table
			t.Errorf("%s: relations %v", st.name, rels)
		}
		for name, want := range st.counts {
			if got, err := local.Count(ctx, name); err != nil || got != want {
				t.Errorf("%s: count(%s) = %d, %v; want %d", st.name, name, got, err, want)
			}
		}
		for name, want := range st.column {
			cols, err := local.Describe(ctx, name)
			if err != nil || len(cols) != 1 || cols[0].Name != want {
				t.Errorf("%s: columns of %s = %v, %v; want %s", st.name, name, cols, err, want)
			}
		}
		local.Close()
	}
	if _, err := RebuildViews(ctx, dbPath, map[string]string{"bad name": files["a"]}, nil); err == nil {
		t.Error("an invalid view name was accepted")
	}
}
