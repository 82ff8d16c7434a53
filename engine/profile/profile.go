package profile

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"da/config"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// workTable is the in-memory table holding the rows that are profiled (all rows, or the sample).
const workTable = "profiled"

// aggBatch is how many columns share one wide aggregate query; it keeps the SQL text and the
// aggregate state of very wide tables bounded.
const aggBatch = 48

// sampleScanRows is how many leading rows are read as text for sample_rows and sample_values;
// columns with fewer distinct values there than wanted get one extra query.
const sampleScanRows = 1000

// withDefaults fills unset (zero or negative) limits with the original's defaults (spec §8.1),
// so that a zero ProfilerConfig still profiles sensibly.
func withDefaults(c config.ProfilerConfig) config.ProfilerConfig {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.SampleSize, 500_000)
	def(&c.MaxCategoricalDistinct, 50)
	def(&c.TopValuesLimit, 10)
	def(&c.HistogramBins, 15)
	def(&c.SampleRowsLimit, 5)
	def(&c.SampleValuesLimit, 5)
	def(&c.AlertHighCardinality, 50)
	def(&c.Threads, 2)
	if strings.TrimSpace(c.MemoryLimit) == "" {
		c.MemoryLimit = "4GB"
	}
	return c
}

// column is a column being profiled: its schema, its SQL expressions and the raw aggregates.
type column struct {
	name, typ, cat string
	q              string // quoted identifier
	expr           string // NUMERIC: finite DOUBLE value; STRING: text; DATE/TIMESTAMP: finite DATE
	isFloat        bool

	nonNull, distinct int64
	min, max, mean    sql.NullFloat64
	std               sql.NullFloat64
	qs                [5]sql.NullFloat64 // p5, p25, median, p75, p95
	zeros, negative   int64
	minLen, maxLen    sql.NullInt64
	avgLen            sql.NullFloat64
	earliest, latest  sql.NullString
	spanDays          sql.NullInt64
	trueN, falseN     int64
	stdSeparately     bool // stddev left out of the wide query (it overflowed); computed alone
	samples           []string
}

func newColumn(name, typ string) *column {
	c := &column{name: name, typ: typ, cat: Category(typ), q: quoteIdent(name)}
	base := baseType(typ)
	switch c.cat {
	case CategoryNumeric:
		c.isFloat = floatBases[base]
		if c.isFloat {
			c.expr = fmt.Sprintf("(CASE WHEN isfinite(%s) THEN %s::DOUBLE END)", c.q, c.q)
		} else {
			// DECIMAL(38,10), HUGEINT and UBIGINT values all fit a DOUBLE (to ~16 digits).
			c.expr = fmt.Sprintf("(%s::DOUBLE)", c.q)
		}
	case CategoryString:
		if base == "VARCHAR" || base == "TEXT" || base == "STRING" {
			c.expr = c.q
		} else {
			c.expr = fmt.Sprintf("(%s::VARCHAR)", c.q)
		}
	case CategoryDate, CategoryTimestamp:
		// TIMESTAMP WITH TIME ZONE becomes its UTC date (the engine runs in UTC).
		c.expr = fmt.Sprintf("(CASE WHEN isfinite(%s) THEN %s::DATE END)", c.q, c.q)
	}
	return c
}

// aggregates returns the column's expressions for the wide aggregate query and where to scan
// each result.
func (c *column) aggregates() (exprs []string, dests []any) {
	add := func(e string, d any) {
		exprs = append(exprs, e)
		dests = append(dests, d)
	}
	add(fmt.Sprintf("count(%s)", c.q), &c.nonNull)
	add(fmt.Sprintf("count(DISTINCT %s)", c.q), &c.distinct)
	x := c.expr
	switch c.cat {
	case CategoryNumeric:
		add(fmt.Sprintf("min(%s)", x), &c.min)
		add(fmt.Sprintf("max(%s)", x), &c.max)
		add(fmt.Sprintf("avg(%s)", x), &c.mean)
		if !c.stdSeparately {
			add(fmt.Sprintf("stddev_samp(%s)", x), &c.std)
		}
		for i := range c.qs {
			add(fmt.Sprintf("(quantile_cont(%s, [0.05, 0.25, 0.5, 0.75, 0.95]))[%d]", x, i+1), &c.qs[i])
		}
		add(fmt.Sprintf("coalesce(count_if(%s = 0), 0)", x), &c.zeros)
		add(fmt.Sprintf("coalesce(count_if(%s < 0), 0)", x), &c.negative)
	case CategoryString:
		add(fmt.Sprintf("min(length(%s))", x), &c.minLen)
		add(fmt.Sprintf("max(length(%s))", x), &c.maxLen)
		add(fmt.Sprintf("avg(length(%s))", x), &c.avgLen)
	case CategoryDate, CategoryTimestamp:
		add(fmt.Sprintf("strftime(min(%s), '%%Y-%%m-%%d')", x), &c.earliest)
		add(fmt.Sprintf("strftime(max(%s), '%%Y-%%m-%%d')", x), &c.latest)
		add(fmt.Sprintf("datediff('day', min(%s), max(%s))", x, x), &c.spanDays)
	case CategoryBoolean:
		add(fmt.Sprintf("coalesce(count_if(%s), 0)", c.q), &c.trueN)
		add(fmt.Sprintf("coalesce(count_if(NOT %s), 0)", c.q), &c.falseN)
	}
	return exprs, dests
}

// ProfileTable profiles the parquet files of one table (spec §8.2). The files are read with
// union_by_name, so shards may differ in column order or have extra columns. Tables with more
// than cfg.SampleSize rows are profiled on a deterministic sample of that many rows.
func ProfileTable(ctx context.Context, in Input, cfg config.ProfilerConfig) (*Profile, error) {
	cfg = withDefaults(cfg)
	size, err := checkFiles(in)
	if err != nil {
		return nil, err
	}
	if in.FileSizeBytes > 0 {
		size = in.FileSizeBytes
	}
	fail := func(step string, err error) error {
		return fmt.Errorf("profile %s: %s: %w", in.TableID, step, err)
	}

	eng, err := openEngine(ctx, cfg)
	if err != nil {
		return nil, fail("start engine", err)
	}
	defer eng.close()

	quoted := make([]string, len(in.Files))
	for i, f := range in.Files {
		quoted[i] = quoteString(f)
	}
	source := fmt.Sprintf("read_parquet([%s], union_by_name = true)", strings.Join(quoted, ", "))

	var total int64
	if err := eng.conn.QueryRowContext(ctx, "SELECT count(*) FROM "+source).Scan(&total); err != nil {
		return nil, fail("read parquet", err)
	}
	sampled := total > int64(cfg.SampleSize)
	load := "CREATE TABLE " + workTable + " AS SELECT * FROM " + source
	if sampled {
		load = "CREATE TABLE " + workTable + " AS SELECT * FROM " + sampleSource(source, total, cfg.SampleSize)
	}
	if _, err := eng.conn.ExecContext(ctx, load); err != nil {
		return nil, fail("load rows", err)
	}
	var working int64
	if err := eng.conn.QueryRowContext(ctx, "SELECT count(*) FROM "+workTable).Scan(&working); err != nil {
		return nil, fail("count rows", err)
	}

	cols, err := eng.columns(ctx)
	if err != nil {
		return nil, fail("read schema", err)
	}
	if err := eng.aggregate(ctx, cols); err != nil {
		return nil, fail("aggregate", err)
	}
	sampleRows, err := eng.sampleText(ctx, cols, cfg)
	if err != nil {
		return nil, fail("sample values", err)
	}

	p := &Profile{
		TableID:       in.TableID,
		Description:   in.Description,
		PrimaryKey:    in.PrimaryKey,
		SyncStrategy:  in.SyncStrategy,
		RowCount:      total,
		ColumnCount:   len(cols),
		FileSizeMB:    round2(float64(size) / (1 << 20)),
		VariableTypes: map[string]int{},
		Alerts:        []Alert{},
		Sampled:       sampled,
		ProfiledRows:  working,
		LastSync:      in.LastSync,
		RelatedTables: []RelatedTable{},
		UsedByMetrics: []MetricRef{},
		Columns:       make([]Column, 0, len(cols)),
		SampleRows:    sampleRows,
		ProfiledWith:  Version + " (duckdb " + eng.version + ")",
	}
	if p.LastSync != nil {
		t := p.LastSync.UTC()
		p.LastSync = &t
	}

	pkCols, unknownPK := primaryKey(in.PrimaryKey, cols)
	isPK := map[*column]bool{}
	for _, c := range pkCols {
		isPK[c] = true
	}

	var completenessSum float64
	for _, c := range cols {
		col, err := eng.profileColumn(ctx, c, working, cfg)
		if err != nil {
			return nil, fail(fmt.Sprintf("column %q", c.name), err)
		}
		col.IsPrimaryKey = isPK[c]
		p.Columns = append(p.Columns, *col)
		p.VariableTypes[c.cat]++
		p.MissingCells += col.NullCount
		completenessSum += col.CompletenessPct
		if p.DateRange == nil && col.DateStats != nil && col.DateStats.Earliest != nil && col.DateStats.Latest != nil {
			p.DateRange = &DateRange{Earliest: *col.DateStats.Earliest, Latest: *col.DateStats.Latest,
				SpanDays: col.DateStats.SpanDays}
		}
		for _, a := range col.Alerts {
			p.Alerts = append(p.Alerts, Alert{Column: c.name, Type: a, Message: alertMessage(a, col)})
		}
	}
	if len(cols) > 0 {
		p.AvgCompleteness = round2(completenessSum / float64(len(cols)))
	}
	p.MissingCellsPct = pct(p.MissingCells, working*int64(len(cols)))

	for _, name := range unknownPK {
		p.Alerts = append(p.Alerts, Alert{Column: name, Type: AlertUnknownPrimaryKey,
			Message: fmt.Sprintf("primary key column %s does not exist in the table", name)})
	}
	if len(pkCols) > 0 && len(unknownPK) == 0 {
		d, err := eng.duplicates(ctx, pkCols)
		if err != nil {
			return nil, fail("duplicate rows", err)
		}
		p.DuplicateRows = &d
	}
	return p, nil
}

// sampleSource returns a FROM clause drawing a deterministic uniform sample of n rows out of
// total. A reservoir over many rows is slow (2.5 s for 500k of 1M), so a Bernoulli pre-filter
// (also seeded) first keeps a little more than n rows (n plus ten standard deviations, so that
// it practically never keeps fewer); the reservoir then picks exactly n of those. A uniform
// sample of a uniform sample is uniform.
func sampleSource(source string, total int64, n int) string {
	reservoir := fmt.Sprintf(" USING SAMPLE reservoir(%d ROWS) REPEATABLE (42)", n)
	keep := float64(n) + 10*math.Sqrt(float64(n)) + 100
	percent := 100 * keep / float64(total)
	if percent >= 90 {
		return source + reservoir
	}
	return fmt.Sprintf("(SELECT * FROM %s USING SAMPLE %.6f PERCENT (bernoulli, 42))%s", source, percent, reservoir)
}

// checkFiles makes sure every input file is a readable regular file and sums their sizes.
func checkFiles(in Input) (int64, error) {
	if len(in.Files) == 0 {
		return 0, fmt.Errorf("profile %s: no parquet files given", in.TableID)
	}
	var size int64
	for _, f := range in.Files {
		if f == "" {
			return 0, fmt.Errorf("profile %s: empty file path", in.TableID)
		}
		fi, err := os.Stat(f)
		if err != nil {
			return 0, fmt.Errorf("profile %s: %w", in.TableID, err)
		}
		if !fi.Mode().IsRegular() {
			return 0, fmt.Errorf("profile %s: %s is not a regular file", in.TableID, f)
		}
		size += fi.Size()
	}
	return size, nil
}

// primaryKey resolves the comma-separated primary key to columns (exact name first, then
// case-insensitive, as DuckDB resolves identifiers) and lists the names that match nothing.
func primaryKey(pk string, cols []*column) (found []*column, unknown []string) {
	for _, part := range strings.Split(pk, ",") {
		name := strings.TrimSpace(part)
		if name == "" {
			continue
		}
		var match *column
		for _, c := range cols {
			if c.name == name {
				match = c
				break
			}
		}
		if match == nil {
			for _, c := range cols {
				if strings.EqualFold(c.name, name) {
					match = c
					break
				}
			}
		}
		if match == nil {
			unknown = append(unknown, name)
			continue
		}
		found = append(found, match)
	}
	return found, unknown
}

// engine is a private in-memory DuckDB with one connection.
type engine struct {
	db      *sql.DB
	conn    *sql.Conn
	tmpDir  string
	version string
}

func openEngine(ctx context.Context, cfg config.ProfilerConfig) (*engine, error) {
	tmp, err := os.MkdirTemp("", "da-profile-*")
	if err != nil {
		return nil, err
	}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	e := &engine{db: sql.OpenDB(connector), tmpDir: tmp}
	e.db.SetMaxOpenConns(1)
	if e.conn, err = e.db.Conn(ctx); err != nil {
		e.close()
		return nil, err
	}
	settings := []struct{ stmt, what string }{
		{"SET memory_limit = " + quoteString(cfg.MemoryLimit), "profiler.memory_limit " + strconv.Quote(cfg.MemoryLimit)},
		{fmt.Sprintf("SET threads = %d", cfg.Threads), fmt.Sprintf("profiler.threads %d", cfg.Threads)},
		{"SET temp_directory = " + quoteString(tmp), "temp_directory"},
		{"SET TimeZone = 'UTC'", "TimeZone"},
		{"SET autoinstall_known_extensions = false", "autoinstall_known_extensions"},
		{"SET autoload_known_extensions = false", "autoload_known_extensions"},
	}
	for _, s := range settings {
		if _, err := e.conn.ExecContext(ctx, s.stmt); err != nil {
			e.close()
			return nil, fmt.Errorf("invalid %s: %w", s.what, err)
		}
	}
	if err := e.conn.QueryRowContext(ctx, "SELECT version()").Scan(&e.version); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *engine) close() {
	if e.conn != nil {
		_ = e.conn.Close()
	}
	_ = e.db.Close()
	_ = os.RemoveAll(e.tmpDir)
}

// columns reads the work table's schema in column order.
func (e *engine) columns(ctx context.Context) ([]*column, error) {
	rows, err := e.conn.QueryContext(ctx,
		`SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? AND database_name = current_database()
		ORDER BY column_index`, workTable)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []*column
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		cols = append(cols, newColumn(name, typ))
	}
	return cols, rows.Err()
}

// aggregate computes every column's counts and statistics with one wide query per batch of
// columns. DuckDB refuses a sample standard deviation that overflows a DOUBLE (values near
// 1e300); when that happens the batch is rerun without it and stddev is computed per column.
func (e *engine) aggregate(ctx context.Context, cols []*column) error {
	for start := 0; start < len(cols); start += aggBatch {
		batch := cols[start:min(start+aggBatch, len(cols))]
		err := e.aggregateBatch(ctx, batch)
		if err != nil && strings.Contains(strings.ToLower(err.Error()), "out of range") {
			for _, c := range batch {
				if c.isFloat {
					c.stdSeparately = true
				}
			}
			if err = e.aggregateBatch(ctx, batch); err == nil {
				err = e.separateStddev(ctx, batch)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *engine) aggregateBatch(ctx context.Context, batch []*column) error {
	var exprs []string
	var dests []any
	for _, c := range batch {
		x, d := c.aggregates()
		exprs = append(exprs, x...)
		dests = append(dests, d...)
	}
	q := "SELECT " + strings.Join(exprs, ",\n\t") + "\nFROM " + workTable
	return e.conn.QueryRowContext(ctx, q).Scan(dests...)
}

// separateStddev computes stddev of float columns one by one, scaling the values down by a
// power of two (exact) when the plain computation overflows.
func (e *engine) separateStddev(ctx context.Context, batch []*column) error {
	for _, c := range batch {
		if !c.stdSeparately {
			continue
		}
		err := e.conn.QueryRowContext(ctx, fmt.Sprintf("SELECT stddev_samp(%s) FROM %s", c.expr, workTable)).Scan(&c.std)
		if err == nil {
			continue
		}
		err = e.conn.QueryRowContext(ctx, fmt.Sprintf("SELECT stddev_samp(%s * pow(2, -600)) * pow(2, 600) FROM %s",
			c.expr, workTable)).Scan(&c.std)
		if err != nil && !strings.Contains(strings.ToLower(err.Error()), "out of range") {
			return err
		}
		if err != nil {
			c.std = sql.NullFloat64{}
		}
	}
	return nil
}

// sampleText reads the leading rows as text: the first cfg.SampleRowsLimit become sample_rows,
// and the distinct non-null values in first-seen order become each column's sample_values.
// A column with fewer distinct values there than wanted is completed with its own query.
func (e *engine) sampleText(ctx context.Context, cols []*column, cfg config.ProfilerConfig) ([]SampleRow, error) {
	out := []SampleRow{}
	if len(cols) == 0 {
		return out, nil
	}
	names := make([]string, len(cols))
	exprs := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
		exprs[i] = c.q + "::VARCHAR"
		c.samples = []string{}
	}
	limit := max(cfg.SampleRowsLimit, sampleScanRows)
	rows, err := e.conn.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s LIMIT %d", strings.Join(exprs, ", "), workTable, limit))
	if err != nil {
		return nil, err
	}
	vals := make([]sql.NullString, len(cols))
	dests := make([]any, len(cols))
	for i := range vals {
		dests[i] = &vals[i]
	}
	seen := make([]map[string]bool, len(cols))
	for i := range seen {
		seen[i] = map[string]bool{}
	}
	for n := 0; rows.Next(); n++ {
		if err := rows.Scan(dests...); err != nil {
			rows.Close()
			return nil, err
		}
		if n < cfg.SampleRowsLimit {
			r := SampleRow{Columns: names, Values: make([]*string, len(cols))}
			for i, v := range vals {
				if v.Valid {
					s := clip(v.String)
					r.Values[i] = &s
				}
			}
			out = append(out, r)
		}
		for i, v := range vals {
			c := cols[i]
			if v.Valid && len(c.samples) < cfg.SampleValuesLimit && !seen[i][v.String] {
				seen[i][v.String] = true
				c.samples = append(c.samples, clip(v.String))
			}
		}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	// First-seen order needs the rowid pseudo-column, which a column named rowid hides;
	// such tables get their sample values in text order instead.
	order := "min(rowid)"
	for _, c := range cols {
		if strings.EqualFold(c.name, "rowid") {
			order = "1"
		}
	}
	for _, c := range cols {
		want := min(int64(cfg.SampleValuesLimit), c.distinct)
		if int64(len(c.samples)) >= want {
			continue
		}
		if c.samples, err = e.queryStrings(ctx, fmt.Sprintf(
			`SELECT %s::VARCHAR FROM %s WHERE %s IS NOT NULL GROUP BY 1 ORDER BY %s LIMIT %d`,
			c.q, workTable, c.q, order, cfg.SampleValuesLimit)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (e *engine) queryStrings(ctx context.Context, q string) ([]string, error) {
	rows, err := e.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, clip(s))
	}
	return out, rows.Err()
}

// duplicates counts rows whose primary-key tuple repeats an earlier row's (NULLs compare equal).
func (e *engine) duplicates(ctx context.Context, pk []*column) (int64, error) {
	ids := make([]string, len(pk))
	for i, c := range pk {
		ids[i] = c.q
	}
	var d int64
	err := e.conn.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) - count(DISTINCT row(%s)) FROM %s",
		strings.Join(ids, ", "), workTable)).Scan(&d)
	return d, err
}

// profileColumn turns a column's aggregates into its profile, running the per-column queries
// (histograms, top values) it needs.
func (e *engine) profileColumn(ctx context.Context, c *column, working int64, cfg config.ProfilerConfig) (*Column, error) {
	nulls := working - c.nonNull
	col := &Column{
		Name:            c.name,
		Type:            c.typ,
		TypeCategory:    c.cat,
		CompletenessPct: pct(c.nonNull, working),
		NullCount:       nulls,
		UniqueCount:     c.distinct,
		UniquePct:       pct(c.distinct, c.nonNull),
		SampleValues:    c.samples,
		Alerts:          []string{},
	}
	missingPct := pct(nulls, working)
	if c.distinct == 1 && nulls == 0 {
		col.Alerts = append(col.Alerts, AlertConstant)
	}
	if col.UniquePct == 100 && nulls == 0 && c.nonNull > 0 {
		col.Alerts = append(col.Alerts, AlertUnique)
	}
	switch {
	case missingPct > cfg.AlertHighMissingPct:
		col.Alerts = append(col.Alerts, AlertHighMissing)
	case missingPct > cfg.AlertMissingPct:
		col.Alerts = append(col.Alerts, AlertMissing)
	}

	var err error
	switch c.cat {
	case CategoryNumeric:
		col.NumericStats, err = e.numericStats(ctx, c, cfg)
		if err == nil && col.NumericStats.ZerosPct > cfg.AlertZerosPct {
			col.Alerts = append(col.Alerts, AlertZeros)
		}
	case CategoryString:
		col.StringStats, err = e.stringStats(ctx, c, cfg)
		switch {
		case err != nil:
		case c.distinct <= int64(cfg.MaxCategoricalDistinct):
			if len(col.StringStats.TopValues) > 0 && col.StringStats.TopValues[0].Pct > cfg.AlertImbalancePct {
				col.Alerts = append(col.Alerts, AlertImbalance)
			}
		case c.distinct > int64(cfg.AlertHighCardinality):
			col.Alerts = append(col.Alerts, AlertHighCardinality)
		}
	case CategoryDate, CategoryTimestamp:
		col.DateStats, err = e.dateStats(ctx, c)
	case CategoryBoolean:
		col.BooleanStats = &BooleanStats{TrueCount: c.trueN, FalseCount: c.falseN, TruePct: pct(c.trueN, c.trueN+c.falseN)}
	}
	if err != nil {
		return nil, err
	}
	return col, nil
}

func (e *engine) numericStats(ctx context.Context, c *column, cfg config.ProfilerConfig) (*NumericStats, error) {
	s := &NumericStats{
		Min:         opt2(c.min.Float64, c.min.Valid),
		Max:         opt2(c.max.Float64, c.max.Valid),
		Mean:        opt2(c.mean.Float64, c.mean.Valid),
		Stddev:      opt2(c.std.Float64, c.std.Valid),
		P5:          opt2(c.qs[0].Float64, c.qs[0].Valid),
		P25:         opt2(c.qs[1].Float64, c.qs[1].Valid),
		Median:      opt2(c.qs[2].Float64, c.qs[2].Valid),
		P75:         opt2(c.qs[3].Float64, c.qs[3].Valid),
		P95:         opt2(c.qs[4].Float64, c.qs[4].Valid),
		Zeros:       c.zeros,
		ZerosPct:    pct(c.zeros, c.nonNull),
		Negative:    c.negative,
		NegativePct: pct(c.negative, c.nonNull),
	}
	if !c.min.Valid || !c.max.Valid || c.min.Float64 == c.max.Float64 {
		return s, nil
	}
	lo, hi, bins := c.min.Float64, c.max.Float64, cfg.HistogramBins
	width := (hi - lo) / float64(bins)
	if width <= 0 || isNonFinite(width) {
		return s, nil // the range overflows a DOUBLE or is too narrow to split
	}
	rows, err := e.conn.QueryContext(ctx, fmt.Sprintf(
		`SELECT least(greatest(floor((%s - ?) / ?), 0), ?)::BIGINT, count(*) FROM %s WHERE %s IS NOT NULL GROUP BY 1`,
		c.expr, workTable, c.expr), lo, width, bins-1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	h := &Histogram{Bins: make([]string, bins), Counts: make([]int64, bins)}
	for i := range bins {
		h.Bins[i] = binLabel(lo+float64(i)*width) + "-" + binLabel(lo+float64(i+1)*width)
	}
	for rows.Next() {
		var b, n int64
		if err := rows.Scan(&b, &n); err != nil {
			return nil, err
		}
		if b >= 0 && b < int64(bins) {
			h.Counts[b] += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.Histogram = h
	return s, nil
}

func (e *engine) stringStats(ctx context.Context, c *column, cfg config.ProfilerConfig) (*StringStats, error) {
	s := &StringStats{MinLength: c.minLen.Int64, MaxLength: c.maxLen.Int64, AvgLength: round2(c.avgLen.Float64),
		TopValues: []TopValue{}}
	if c.nonNull == 0 || c.distinct > int64(cfg.MaxCategoricalDistinct) {
		return s, nil
	}
	rows, err := e.conn.QueryContext(ctx, fmt.Sprintf(
		`SELECT %s, count(*) FROM %s WHERE %s IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %d`,
		c.expr, workTable, c.q, cfg.TopValuesLimit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var tv TopValue
		if err := rows.Scan(&tv.Value, &tv.Count); err != nil {
			return nil, err
		}
		tv.Value = clip(tv.Value)
		tv.Pct = pct(tv.Count, c.nonNull)
		s.TopValues = append(s.TopValues, tv)
	}
	return s, rows.Err()
}

func (e *engine) dateStats(ctx context.Context, c *column) (*DateStats, error) {
	s := &DateStats{Histogram: &Histogram{Bins: []string{}, Counts: []int64{}}}
	if c.earliest.Valid {
		s.Earliest = &c.earliest.String
	}
	if c.latest.Valid {
		s.Latest = &c.latest.String
	}
	if c.spanDays.Valid {
		s.SpanDays = &c.spanDays.Int64
	}
	if !c.earliest.Valid {
		return s, nil
	}
	rows, err := e.conn.QueryContext(ctx, fmt.Sprintf(
		`SELECT year(d)::BIGINT, quarter(d)::BIGINT, count(*) FROM (SELECT %s AS d FROM %s)
		WHERE d IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2`, c.expr, workTable))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var y, q, n int64
		if err := rows.Scan(&y, &q, &n); err != nil {
			return nil, err
		}
		s.Histogram.Bins = append(s.Histogram.Bins, fmt.Sprintf("%04d-Q%d", y, q))
		s.Histogram.Counts = append(s.Histogram.Counts, n)
	}
	return s, rows.Err()
}

func isNonFinite(x float64) bool { return x-x != 0 }

// alertMessage is the original's text for a column alert.
func alertMessage(kind string, col *Column) string {
	switch kind {
	case AlertConstant:
		return col.Name + " is constant (single value)"
	case AlertUnique:
		return col.Name + " has all unique values"
	case AlertHighMissing, AlertMissing:
		return fmt.Sprintf("%s has %s%% missing values", col.Name, pyFloat(round2(100-col.CompletenessPct)))
	case AlertImbalance:
		return fmt.Sprintf("%s is highly imbalanced (top value %s%%)", col.Name, pyFloat(col.StringStats.TopValues[0].Pct))
	case AlertZeros:
		return fmt.Sprintf("%s has %s%% zero values", col.Name, pyFloat(col.NumericStats.ZerosPct))
	case AlertHighCardinality:
		return fmt.Sprintf("%s has high cardinality (%d distinct)", col.Name, col.UniqueCount)
	}
	return col.Name + ": " + kind
}
