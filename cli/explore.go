package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"

	"da/client"
	"da/engine/localdb"
)

// exploreCmd is `da explore [TABLE]`: without a table, list the tables; with one, describe
// its columns (with the server's profile when available), row count and sample rows.
func (e *env) exploreCmd(args []string) int {
	fs := flag.NewFlagSet("explore", flag.ContinueOnError)
	remote := fs.Bool("remote", false, "use the server's catalog and profiles instead of the local copy")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, code, ok := e.parseArgs(fs, args, 0, 1)
	if !ok {
		return code
	}
	ctx := context.Background()
	if *remote {
		_, c, err := e.authedClient()
		if err != nil {
			return e.fail("explore", err)
		}
		if len(pos) == 0 {
			return e.exploreRemoteList(ctx, c, *asJSON)
		}
		return e.exploreRemoteTable(ctx, c, pos[0], *asJSON)
	}
	s, err := e.loadSession()
	if err != nil {
		return e.fail("explore", err)
	}
	ws := e.workspace(s.configDir)
	db, err := localdb.Open(ws.dbPath)
	if errors.Is(err, localdb.ErrNoDatabase) {
		fmt.Fprintf(e.stderr, "da explore: Local DuckDB not found at %s. Run: da sync (or use --remote)\n", ws.dbPath)
		return ExitNotFound
	}
	if err != nil {
		return e.fail("explore", err)
	}
	defer db.Close()
	rels, err := db.Relations(ctx)
	if err != nil {
		return e.fail("explore", err)
	}
	if len(pos) == 0 {
		return e.exploreLocalList(ctx, s, ws, db, rels, *asJSON)
	}
	name := pos[0]
	found := false
	for _, r := range rels {
		if strings.EqualFold(r.Name, name) {
			name, found = r.Name, true
		}
	}
	if !found {
		names := make([]string, 0, len(rels))
		for _, r := range rels {
			names = append(names, r.Name)
		}
		fmt.Fprintf(e.stderr, "da explore: table %q not found locally. Available: %s\n  run `da sync`, or `da explore --remote` for the server's catalog\n", pos[0], strings.Join(names, ", "))
		return ExitNotFound
	}
	cols, err := db.Describe(ctx, name)
	if err != nil {
		return e.fail("explore", err)
	}
	n, err := db.Count(ctx, name)
	if err != nil {
		return e.fail("explore", fmt.Errorf("read %s: %w (run `da sync` to fetch it again)", name, err))
	}
	sample, err := db.Sample(ctx, name, 5)
	if err != nil {
		return e.fail("explore", err)
	}
	// Profiles enrich the description when the server can be asked; offline is fine.
	var prof *client.Profile
	if s.token != "" {
		pctx, cancel := context.WithTimeout(ctx, profileTimeout)
		prof, _ = s.client().Profile(pctx, name)
		cancel()
	}
	profCols := map[string]client.ProfileColumn{}
	if prof != nil {
		for _, pc := range prof.Columns {
			profCols[pc.Name] = pc
		}
	}
	if *asJSON {
		rows := make([]map[string]any, 0, len(sample.Rows))
		for _, r := range sample.Rows {
			m := map[string]any{}
			for j, c := range sample.Columns {
				m[c] = r[j]
			}
			rows = append(rows, m)
		}
		out := map[string]any{"table": name, "row_count": n, "columns": cols, "sample_rows": rows}
		if prof != nil {
			out["profile"] = prof.Raw
		}
		return e.printJSON(out)
	}
	fmt.Fprintf(e.stdout, "Table: %s\nRows: %d\nColumns: %d\n\n", name, n, len(cols))
	crow := make([][]any, 0, len(cols))
	for _, c := range cols {
		row := []any{c.Name, c.Type, c.Nullable}
		if pc, ok := profCols[c.Name]; ok {
			row = append(row, fmt.Sprintf("%.1f%%", pc.CompletenessPct), pc.UniqueCount, strings.Join(pc.SampleValues, ", "))
		} else {
			row = append(row, nil, nil, nil)
		}
		crow = append(crow, row)
	}
	if err := writeTable(e.stdout, []string{"column", "type", "nullable", "complete", "distinct", "examples"}, crow); err != nil {
		return e.fail("explore", err)
	}
	fmt.Fprintln(e.stdout, "\nSample rows:")
	if err := writeTable(e.stdout, sample.Columns, sample.Rows); err != nil {
		return e.fail("explore", err)
	}
	return ExitOK
}

// exploreRemoteList prints the server's catalog.
func (e *env) exploreRemoteList(ctx context.Context, c *client.Client, asJSON bool) int {
	ts, err := c.CatalogTablesWithLocked(ctx)
	if err != nil {
		return e.fail("explore", err)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
	locked := 0
	for _, t := range ts {
		if t.Locked() {
			locked++
		}
	}
	if asJSON {
		return e.printJSON(map[string]any{"tables": ts, "count": len(ts), "locked": locked})
	}
	fmt.Fprintf(e.stdout, "Tables on the server: %d (%d you can read, %d locked)\n", len(ts), len(ts)-locked, locked)
	rows := make([][]any, 0, len(ts))
	for _, t := range ts {
		if t.Locked() {
			rows = append(rows, []any{t.ID, "locked", nil, nil, nil, t.QueryMode, t.Description})
			continue
		}
		rows = append(rows, []any{t.ID, "read", t.Rows, t.Columns, humanBytes(t.SizeBytes), t.QueryMode, t.Description})
	}
	if err := writeTable(e.stdout, []string{"table", "access", "rows", "columns", "size", "mode", "description"}, rows); err != nil {
		return e.fail("explore", err)
	}
	if locked > 0 {
		fmt.Fprintln(e.stdout, "Locked tables: run `da request-access TABLE --reason R` to ask for one.")
	}
	return ExitOK
}

// exploreRemoteTable prints a table's profile from the server.
func (e *env) exploreRemoteTable(ctx context.Context, c *client.Client, id string, asJSON bool) int {
	p, err := c.Profile(ctx, id)
	if err != nil {
		return e.fail("explore", err)
	}
	if asJSON {
		_, err := e.stdout.Write(append(p.Raw, '\n'))
		if err != nil {
			return e.fail("explore", err)
		}
		return ExitOK
	}
	fmt.Fprintf(e.stdout, "Table: %s\nRows: %d\nColumns: %d\n", p.TableID, p.RowCount, p.ColumnCount)
	if p.Description != "" {
		fmt.Fprintf(e.stdout, "Description: %s\n", p.Description)
	}
	if p.ProfiledAt != "" {
		fmt.Fprintf(e.stdout, "Profiled at: %s\n", p.ProfiledAt)
	}
	fmt.Fprintln(e.stdout)
	rows := make([][]any, 0, len(p.Columns))
	for _, pc := range p.Columns {
		rows = append(rows, []any{pc.Name, pc.Type, fmt.Sprintf("%.1f%%", pc.CompletenessPct), pc.UniqueCount, strings.Join(pc.SampleValues, ", ")})
	}
	if err := writeTable(e.stdout, []string{"column", "type", "complete", "distinct", "examples"}, rows); err != nil {
		return e.fail("explore", err)
	}
	return ExitOK
}

// localTable is one row of the local `da explore` list.
type localTable struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Rows        *int64 `json:"rows"`
	Description string `json:"description"`
}

// exploreLocalList lists the local tables with their row counts (from the last sync, else
// counted) and, when the server answers, their catalog descriptions.
func (e *env) exploreLocalList(ctx context.Context, s *session, ws workspace, db *localdb.DB, rels []localdb.Relation, asJSON bool) int {
	st, err := loadSyncState(ws.statePath)
	if err != nil {
		return e.fail("explore", err)
	}
	desc := map[string]string{}
	if s.token != "" {
		cctx, cancel := context.WithTimeout(ctx, profileTimeout)
		if ts, err := s.client().CatalogTables(cctx); err == nil {
			for _, t := range ts {
				desc[strings.ToLower(t.ID)] = t.Description
			}
		}
		cancel()
	}
	out := make([]localTable, 0, len(rels))
	for _, r := range rels {
		lt := localTable{Name: r.Name, Kind: r.Kind, Description: desc[strings.ToLower(r.Name)]}
		if se, ok := st.Tables[r.Name]; ok && r.Kind == "view" {
			n := se.Rows
			lt.Rows = &n
		} else if n, err := db.Count(ctx, r.Name); err == nil {
			lt.Rows = &n
		}
		out = append(out, lt)
	}
	if asJSON {
		return e.printJSON(map[string]any{"tables": out, "count": len(out)})
	}
	fmt.Fprintf(e.stdout, "Local tables: %d\n", len(out))
	rows := make([][]any, 0, len(out))
	for _, t := range out {
		var n any
		if t.Rows != nil {
			n = *t.Rows
		}
		rows = append(rows, []any{t.Name, t.Kind, n, t.Description})
	}
	if err := writeTable(e.stdout, []string{"table", "kind", "rows", "description"}, rows); err != nil {
		return e.fail("explore", err)
	}
	return ExitOK
}
