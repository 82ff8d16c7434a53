package keboola

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"da/engine/connectors"
	"da/engine/extract"
)

// Sync strategies.
const (
	FullRefresh = "full_refresh"
	Incremental = "incremental"
	Partitioned = "partitioned"
)

// Keys of the marks every written parquet file carries in its key-value metadata. They travel
// with the data, so a sync that fails to publish leaves the previous marks in force.
const (
	markExportStart = "da_keboola_export_start" // RFC 3339 start of the export the file holds
	markFullAt      = "da_keboola_full_at"      // RFC 3339 start of the last full export
)

// Extract implements connectors.Connector: it exports the table from Keboola and writes it as
// typed parquet (full refresh, incremental merge by primary key, or date partitions).
func (k *Connector) Extract(ctx context.Context, t connectors.Table, stagePath string) (*connectors.Result, error) {
	if k.client == nil {
		return nil, errors.New(NotConfiguredMessage)
	}
	if t.QueryMode == extract.ModeRemote {
		if r := k.ModeRefusal(extract.ModeRemote); r != "" {
			return nil, errors.New(r)
		}
		return &connectors.Result{Remote: &extract.RemoteAttach{Alias: "kbc", Extension: "keboola", URL: k.client.BaseURL(), TokenEnv: k.cfg.TokenEnv}}, nil
	}
	id, err := tableID(t)
	if err != nil {
		return nil, err
	}
	res, err := k.extract(ctx, id, t, stagePath)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("table %s: cancelled: %w", id, ctx.Err())
		}
		return nil, fmt.Errorf("table %s: %w", id, err)
	}
	return res, nil
}

func (k *Connector) extract(ctx context.Context, id string, t connectors.Table, stagePath string) (*connectors.Result, error) {
	detail, err := k.client.TableDetail(ctx, id)
	if err != nil {
		return nil, err
	}
	cols, err := selectColumns(ColumnTypes(detail), t.Options.Columns)
	if err != nil {
		return nil, err
	}
	pk := splitList(t.PrimaryKey)
	if len(pk) == 0 {
		pk = detail.PrimaryKey
	}
	strategy := t.Strategy
	if strategy == "" {
		strategy = FullRefresh
	}
	var partCol *ColumnType
	if strategy == Partitioned {
		if t.Options.PartitionBy == "" {
			return nil, errors.New("a partitioned table needs partition_by (a date or timestamp column)")
		}
		for i := range cols {
			if strings.EqualFold(cols[i].Name, t.Options.PartitionBy) {
				partCol = &cols[i]
			}
		}
		if partCol == nil {
			return nil, fmt.Errorf("partition_by column %q is not among the exported columns", t.Options.PartitionBy)
		}
	}
	if strategy != FullRefresh {
		for _, c := range pk {
			if _, err := selectColumns(cols, []string{c}); err != nil {
				return nil, fmt.Errorf("primary key column %q must be exported", c)
			}
		}
	}

	work, err := os.MkdirTemp(filepath.Dir(stagePath), ".keboola-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	// What the previous data tells: when its export started, when the last full one did.
	prev := extract.TableFiles(k.cfg.SourceDir, t.Name)
	if strategy == Partitioned && len(prev) == 1 && filepath.Base(prev[0]) == t.Name+".parquet" {
		prev = nil // stored as one file before: partition it afresh
	}
	if strategy == Incremental && (len(prev) != 1 || filepath.Base(prev[0]) != t.Name+".parquet") {
		prev = nil
	}
	db, err := k.openDuck(work)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var since, fullAt time.Time
	if len(prev) > 0 && strategy != FullRefresh && len(pk) > 0 {
		since, fullAt = readMarks(ctx, db, prev)
	}
	full := since.IsZero() || (k.cfg.FullRefreshEvery > 0 && time.Since(fullAt) > k.cfg.FullRefreshEvery)
	used := strategy
	if strategy != FullRefresh && len(pk) == 0 {
		used = FullRefresh + " (no primary key)"
	} else if full && strategy != FullRefresh {
		used = FullRefresh + " (" + strategy + " needs a full export first)"
		if !fullAt.IsZero() {
			used = FullRefresh + " (periodic, to drop deleted rows)"
		}
	}
	if full {
		since = time.Time{}
	}

	started := time.Now().UTC()
	files, gz, err := k.download(ctx, id, cols, since.Add(-k.cfg.SafetyMargin), since.IsZero(), t.Options, work)
	if err != nil {
		return nil, err
	}
	if full {
		fullAt = started
	}
	marks := fmt.Sprintf("KV_METADATA {%s: %s, %s: %s}", markExportStart, sqlString(started.Format(time.RFC3339Nano)),
		markFullAt, sqlString(fullAt.Format(time.RFC3339Nano)))
	if err := createSource(ctx, db, cols, files, gz); err != nil {
		return nil, err
	}
	res := &connectors.Result{Description: detail.Description(), Strategy: used}

	switch {
	case strategy == Partitioned:
		p, err := k.writePartitions(ctx, db, cols, *partCol, t.Options.PartitionGrain, pk, prev, full, work, stagePath, marks)
		if err != nil {
			return nil, k.explain(ctx, db, cols, err)
		}
		res.Partitions = p
		if res.RowsChanged, err = count(ctx, db, "SELECT count(*) FROM delta"); err != nil {
			return nil, err
		}
	case full || strategy == FullRefresh:
		r, err := db.ExecContext(ctx, "COPY (SELECT "+typedList(cols)+" FROM src) TO "+sqlString(stagePath)+
			" (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880, "+marks+")")
		if err != nil {
			return nil, k.explain(ctx, db, cols, err)
		}
		res.RowsChanged, _ = r.RowsAffected()
	default:
		delta := filepath.Join(work, "delta.parquet")
		r, err := db.ExecContext(ctx, "COPY (SELECT "+typedList(cols)+" FROM src) TO "+sqlString(delta)+" (FORMAT parquet)")
		if err != nil {
			return nil, k.explain(ctx, db, cols, err)
		}
		res.RowsChanged, _ = r.RowsAffected()
		// The newest row of each key wins: the delta's, and the previous file's others.
		q := "COPY (SELECT * FROM read_parquet(" + sqlString(delta) + ") UNION ALL BY NAME SELECT o.* FROM read_parquet(" +
			sqlString(prev[0]) + ") o ANTI JOIN read_parquet(" + sqlString(delta) + ") d ON " + pkJoin(pk, "o", "d") + ") TO " +
			sqlString(stagePath) + " (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880, " + marks + ")"
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("merging the changed rows into the previous data failed: %w", err)
		}
	}
	return res, nil
}

// openDuck opens the DuckDB that converts one table, spilling into work.
func (k *Connector) openDuck(work string) (*sql.DB, error) {
	db, err := sql.Open("duckdb", "?autoinstall_known_extensions=false&autoload_known_extensions=false")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		"SET memory_limit = " + sqlString(k.cfg.MemoryLimit),
		fmt.Sprintf("SET threads = %d", k.cfg.Threads),
		"SET temp_directory = " + sqlString(filepath.Join(work, "spill")),
		"SET preserve_insertion_order = false",
	} {
		if _, err := db.Exec(q); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("duckdb: %w", err)
		}
	}
	return db, nil
}

// download runs the export and writes its slices, as they come, to files in work.
func (k *Connector) download(ctx context.Context, id string, cols []ColumnType, since time.Time, all bool,
	o connectors.TableOptions, work string) ([]string, bool, error) {
	eo := ExportOptions{}
	for _, c := range cols {
		eo.Columns = append(eo.Columns, c.Name)
	}
	if !all {
		eo.ChangedSince = since
	}
	for _, f := range o.WhereFilters {
		eo.WhereFilters = append(eo.WhereFilters, WhereFilter{Column: f.Column, Operator: f.Operator, Values: f.Values})
	}
	job, err := k.client.ExportAsync(ctx, id, eo)
	if err != nil {
		return nil, false, err
	}
	job, err = k.client.WaitJob(ctx, string(job.ID))
	if err != nil {
		return nil, false, err
	}
	fid := job.FileID()
	if fid == "" {
		return nil, false, errors.New("the export job succeeded without a file")
	}
	f, err := k.client.FileDetail(ctx, fid)
	if err != nil {
		return nil, false, err
	}
	var files []string
	gz := -1
	err = k.client.Slices(ctx, f, func(i int, r io.Reader) error {
		br := bufio.NewReaderSize(r, 256<<10)
		head, _ := br.Peek(2)
		if len(head) == 0 {
			return nil // an empty slice
		}
		isGz := 0
		if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
			isGz = 1
		}
		if gz >= 0 && gz != isGz {
			return errors.New("the slices mix gzip and plain files")
		}
		gz = isGz
		name := filepath.Join(work, fmt.Sprintf("slice%05d.csv", i))
		if isGz == 1 {
			name += ".gz"
		}
		out, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, br); err != nil {
			_ = out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		files = append(files, name)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return files, gz == 1, nil
}

// createSource makes the view src over the downloaded slices: header-less RFC 4180 CSV,
// every column read as text (typing happens in typedList, where a bad value is caught).
func createSource(ctx context.Context, db *sql.DB, cols []ColumnType, files []string, gz bool) error {
	if len(files) == 0 {
		var sel []string
		for _, c := range cols {
			sel = append(sel, "NULL::VARCHAR AS "+quoteIdent(c.Name))
		}
		_, err := db.ExecContext(ctx, "CREATE VIEW src AS SELECT "+strings.Join(sel, ", ")+" WHERE false")
		return err
	}
	var lits, spec []string
	for _, f := range files {
		lits = append(lits, sqlString(f))
	}
	for _, c := range cols {
		spec = append(spec, sqlString(c.Name)+": 'VARCHAR'")
	}
	comp := "none"
	if gz {
		comp = "gzip"
	}
	_, err := db.ExecContext(ctx, "CREATE VIEW src AS SELECT * FROM read_csv(["+strings.Join(lits, ", ")+"], header = false, "+
		"auto_detect = false, delim = ',', quote = '\"', escape = '\"', strict_mode = true, compression = "+sqlString(comp)+
		", columns = {"+strings.Join(spec, ", ")+"})")
	return err
}

// typedList is the select list casting every column to its type; "" is NULL in a typed column.
func typedList(cols []ColumnType) string {
	var out []string
	for _, c := range cols {
		out = append(out, castExpr(c)+" AS "+quoteIdent(c.Name))
	}
	return strings.Join(out, ", ")
}

func castExpr(c ColumnType) string {
	if c.DuckDB == "VARCHAR" {
		return quoteIdent(c.Name)
	}
	return "CAST(NULLIF(" + quoteIdent(c.Name) + ", '') AS " + c.DuckDB + ")"
}

// explain turns a failed conversion into an error naming the column, its type and a value
// that does not convert; other errors pass through.
func (k *Connector) explain(ctx context.Context, db *sql.DB, cols []ColumnType, cause error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, c := range cols {
		if c.DuckDB == "VARCHAR" {
			continue
		}
		var v string
		err := db.QueryRowContext(ctx, "SELECT "+quoteIdent(c.Name)+" FROM src WHERE NULLIF("+quoteIdent(c.Name)+", '') IS NOT NULL AND TRY_CAST("+
			quoteIdent(c.Name)+" AS "+c.DuckDB+") IS NULL LIMIT 1").Scan(&v)
		if err == nil {
			if len(v) > 80 {
				v = v[:80] + "…"
			}
			return fmt.Errorf("%w: column %q is %s in Keboola (stored as %s) but holds %q", errCast, c.Name, c.Source, c.DuckDB, v)
		}
	}
	return cause
}

// readMarks returns the newest export start and last full export recorded in the files.
func readMarks(ctx context.Context, db *sql.DB, files []string) (since, fullAt time.Time) {
	var lits []string
	for _, f := range files {
		lits = append(lits, sqlString(f))
	}
	rows, err := db.QueryContext(ctx, "SELECT decode(key), decode(value) FROM parquet_kv_metadata(["+strings.Join(lits, ", ")+"])")
	if err != nil {
		return time.Time{}, time.Time{}
	}
	defer rows.Close()
	for rows.Next() {
		var key, val string
		if rows.Scan(&key, &val) != nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, val)
		if err != nil {
			continue
		}
		switch key {
		case markExportStart:
			if at.After(since) {
				since = at
			}
		case markFullAt:
			if at.After(fullAt) {
				fullAt = at
			}
		}
	}
	return since, fullAt
}

var partNameRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$|^unknown$`)

// writePartitions writes the partitions the export touched into work/parts and returns them
// with the full list the table has afterwards. A full export rewrites every partition; an
// incremental one rewrites the partitions of the changed rows and those the rows moved out of.
func (k *Connector) writePartitions(ctx context.Context, db *sql.DB, cols []ColumnType, part ColumnType, grain string,
	pk []string, prev []string, full bool, work, stagePath, marks string) (*connectors.Partitions, error) {
	format := "%Y-%m"
	if grain == "day" {
		format = "%Y-%m-%d"
	}
	partExpr := func(col string) string {
		return "coalesce(strftime(TRY_CAST(" + col + " AS TIMESTAMP), '" + format + "'), 'unknown')"
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE delta AS SELECT "+typedList(cols)+" FROM src"); err != nil {
		return nil, err
	}
	existing := map[string]string{} // partition name → file
	for _, f := range prev {
		existing[strings.TrimSuffix(filepath.Base(f), ".parquet")] = f
	}
	query := "SELECT *, " + partExpr(quoteIdent(part.Name)) + " AS __part FROM delta"
	touchedOld := map[string]bool{}
	if !full && len(prev) > 0 {
		// Old partitions holding a key that changed are rewritten without that row.
		var lits []string
		for _, f := range prev {
			lits = append(lits, sqlString(f))
		}
		old := "read_parquet([" + strings.Join(lits, ", ") + "], filename = true, union_by_name = true)"
		rows, err := db.QueryContext(ctx, "SELECT DISTINCT o.filename FROM "+old+" o SEMI JOIN delta d ON "+pkJoin(pk, "o", "d")+
			" UNION SELECT DISTINCT "+partExpr(quoteIdent(part.Name))+" FROM delta")
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return nil, err
			}
			name := strings.TrimSuffix(filepath.Base(s), ".parquet")
			if _, ok := existing[name]; ok {
				touchedOld[name] = true
			}
		}
		rows.Close()
		if len(touchedOld) > 0 {
			var tl []string
			for name := range touchedOld {
				tl = append(tl, sqlString(existing[name]))
			}
			sort.Strings(tl)
			query += " UNION ALL BY NAME SELECT o.* EXCLUDE (filename), " + partExpr("o."+quoteIdent(part.Name)) + " AS __part FROM read_parquet([" +
				strings.Join(tl, ", ") + "], filename = true, union_by_name = true) o ANTI JOIN delta d ON " + pkJoin(pk, "o", "d")
		}
	}
	outDir := filepath.Join(work, "parts")
	if _, err := db.ExecContext(ctx, "COPY ("+query+") TO "+sqlString(outDir)+
		" (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (__part), FILENAME_PATTERN 'data_{i}', "+marks+")"); err != nil {
		return nil, err
	}
	// The files outlive work: the caller publishes them from the staging directory.
	flat := filepath.Join(filepath.Dir(stagePath), "partitions")
	if err := os.MkdirAll(flat, 0o750); err != nil {
		return nil, err
	}
	dirs, _ := os.ReadDir(outDir)
	var written []string
	for _, d := range dirs {
		name := strings.TrimPrefix(d.Name(), "__part=")
		if !d.IsDir() || !partNameRE.MatchString(name) {
			continue
		}
		fs, _ := filepath.Glob(filepath.Join(outDir, d.Name(), "*.parquet"))
		sort.Strings(fs)
		for i, f := range fs {
			base := name
			if i > 0 {
				base = fmt.Sprintf("%s~%d", name, i)
			}
			if err := os.Rename(f, filepath.Join(flat, base+".parquet")); err != nil {
				return nil, err
			}
			written = append(written, base)
		}
	}
	all := map[string]bool{}
	if !full {
		for name := range existing {
			if !touchedOld[name] {
				all[name] = true
			}
		}
	}
	for _, w := range written {
		all[w] = true
	}
	p := &connectors.Partitions{Dir: flat, Rewritten: written}
	for name := range all {
		p.All = append(p.All, name)
	}
	sort.Strings(p.All)
	return p, nil
}

// selectColumns keeps the wanted columns (all when want is empty), in the table's order.
func selectColumns(cols []ColumnType, want []string) ([]ColumnType, error) {
	if len(want) == 0 {
		return cols, nil
	}
	var out []ColumnType
	for _, w := range want {
		found := false
		for _, c := range cols {
			if strings.EqualFold(c.Name, strings.TrimSpace(w)) {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("column %q is not in the table", w)
		}
	}
	for _, c := range cols {
		for _, w := range want {
			if strings.EqualFold(c.Name, strings.TrimSpace(w)) {
				out = append(out, c)
				break
			}
		}
	}
	return out, nil
}

func pkJoin(pk []string, a, b string) string {
	var parts []string
	for _, c := range pk {
		parts = append(parts, a+"."+quoteIdent(c)+" IS NOT DISTINCT FROM "+b+"."+quoteIdent(c))
	}
	return strings.Join(parts, " AND ")
}

func count(ctx context.Context, db *sql.DB, q string) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, q).Scan(&n)
	return n, err
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
