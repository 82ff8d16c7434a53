package query

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// escapeEnv is a data directory with one granted table (orders) and, next to it, a private
// table, a secret text file, a secret CSV and an environment variable.
type escapeEnv struct {
	dataDir     string
	ordersFile  string
	privateFile string
	secretTxt   string
	secretCSV   string
	tables      []Table
}

const (
	rowSecret  = "SECRET_ROW_TOKEN_5c1"
	fileSecret = "FILE_SECRET_TOKEN_9d2"
	envSecret  = "ENV_SECRET_TOKEN_3e7"
)

func newEscapeEnv(t *testing.T) escapeEnv {
	dir := filepath.Join(t.TempDir(), "srvdata_private_layout")
	e := escapeEnv{
		dataDir:     dir,
		ordersFile:  filepath.Join(dir, "sales", "data", "orders.parquet"),
		privateFile: filepath.Join(dir, "hr", "data", "salaries.parquet"),
		secretTxt:   filepath.Join(dir, "secret.txt"),
		secretCSV:   filepath.Join(dir, "sales", "data", "secret.csv"),
	}
	writeParquet(t, e.ordersFile, "SELECT range AS id, 'order_'||range AS label, range*1.5 AS amount FROM range(10)")
	writeParquet(t, e.privateFile, "SELECT 'alice' AS name, '"+rowSecret+"' AS note")
	if err := os.WriteFile(e.secretTxt, []byte(fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.secretCSV, []byte("a,b\n"+fileSecret+",1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DA_TEST_SECRET", envSecret)
	e.tables = []Table{{Name: "orders", Files: []string{e.ordersFile}}}
	return e
}

func fileHash(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return fmt.Sprintf("%x", s)
}

// TestEscapeAttempts runs every way out we know of; each must be refused or harmless, and
// nothing it returns may contain a private row, a file's content, an env value or a server
// path.
func TestEscapeAttempts(t *testing.T) {
	e := newEscapeEnv(t)
	// As in the server, the sandboxes live under the data directory, whose path must not show.
	r := newTestRunner(t, Options{Timeout: time.Second, MemoryLimit: "512MB", Threads: 2,
		TempDir: filepath.Join(e.dataDir, "tmp")})
	before := map[string]string{}
	for _, f := range []string{e.ordersFile, e.privateFile, e.secretTxt, e.secretCSV} {
		before[f] = fileHash(t, f)
	}
	home, _ := os.UserHomeDir()
	if home == "/" {
		home = ""
	}
	forbidden := []string{rowSecret, fileSecret, envSecret, e.dataDir, "srvdata_private_layout", "stored_secrets"}
	if home != "" {
		forbidden = append(forbidden, home+"/")
	}

	q := func(s string) string { return strings.ReplaceAll(s, "'", "''") }
	cases := []struct {
		name string
		sql  string
		want Kind // 0: may succeed (must then be harmless)
	}{
		// the private table, directly and disguised
		{"private table", "SELECT * FROM salaries", Engine},
		{"quoted name", `SELECT * FROM "salaries"`, Engine},
		{"upper case", "SELECT * FROM SALARIES", Engine},
		{"catalog prefix", "SELECT * FROM memory.main.salaries", Engine},
		{"quoted catalog prefix", `SELECT * FROM "memory"."main"."salaries"`, Engine},
		{"schema prefix", "SELECT * FROM main.salaries", Engine},
		{"system catalog", "SELECT * FROM system.main.salaries", Engine},
		{"temp catalog", "SELECT * FROM temp.main.salaries", Engine},
		{"union with private", "SELECT id::VARCHAR, label FROM orders UNION ALL SELECT name, note FROM salaries", Engine},
		{"cte over private", "WITH s AS (SELECT * FROM salaries) SELECT * FROM s", Engine},
		{"scalar subquery", "SELECT (SELECT count(*) FROM salaries)", Engine},
		{"summarize private", "SUMMARIZE salaries", Engine},
		{"describe private", "DESCRIBE salaries", Engine},
		{"pragma_table_info", "SELECT * FROM pragma_table_info('salaries')", Engine},
		// system catalogs: allowed, but show only what the caller may read and no paths
		{"duckdb_tables", "SELECT * FROM duckdb_tables()", 0},
		{"duckdb_views", "SELECT * FROM duckdb_views()", 0},
		{"duckdb_views sql", "SELECT sql FROM duckdb_views() WHERE NOT internal", 0},
		{"information_schema tables", "SELECT * FROM information_schema.tables", 0},
		{"information_schema views", "SELECT view_definition FROM information_schema.views", 0},
		{"sqlite_master", "SELECT * FROM sqlite_master", 0},
		{"pg_views", "SELECT * FROM pg_catalog.pg_views", 0},
		{"duckdb_databases", "SELECT * FROM duckdb_databases()", 0},
		{"duckdb_columns", "SELECT * FROM duckdb_columns()", 0},
		{"show tables", "SHOW TABLES", 0},
		{"show all tables", "SHOW ALL TABLES", 0},
		// settings and internals
		{"duckdb_settings", "SELECT * FROM duckdb_settings()", Invalid},
		{"duckdb_settings prefixed", "SELECT * FROM system.main.duckdb_settings()", Invalid},
		{"duckdb_settings quoted", `SELECT * FROM "DuckDB_Settings"()`, Invalid},
		{"current_setting", "SELECT current_setting('allowed_paths')", Invalid},
		{"current_setting in where", "SELECT 1 WHERE current_setting('temp_directory') IS NOT NULL", Invalid},
		{"current_setting in lambda", "SELECT list_transform(['allowed_paths'], x -> current_setting(x))", Invalid},
		{"pg_settings", "SELECT * FROM pg_catalog.pg_settings", Invalid},
		{"show setting", "SHOW allowed_paths", 0},
		{"duckdb_extensions", "SELECT * FROM duckdb_extensions()", Invalid},
		{"duckdb_secrets", "SELECT * FROM duckdb_secrets()", Invalid},
		{"which_secret", "SELECT * FROM which_secret('s3://bucket/x', 's3')", Invalid},
		{"duckdb_temporary_files", "SELECT * FROM duckdb_temporary_files()", Invalid},
		{"getenv", "SELECT getenv('DA_TEST_SECRET')", Engine},
		{"histogram table macro", "SELECT * FROM histogram('pg_settings', name)", Invalid},
		{"histogram_values", "SELECT * FROM histogram_values('pg_settings', value)", Invalid},
		{"duckdb_profiling_settings", "SELECT * FROM duckdb_profiling_settings()", Invalid},
		{"getvariable", "SELECT getvariable('x')", Invalid},
		{"proc environ", "SELECT * FROM read_text('/proc/self/environ')", Engine},
		{"filename column", "SELECT filename FROM orders", Engine},
		// file-reading table functions
		{"read_csv", "SELECT * FROM read_csv('" + q(e.secretCSV) + "')", Engine},
		{"read_csv_auto", "SELECT * FROM read_csv_auto('" + q(e.secretCSV) + "')", Engine},
		{"read_csv next to allowed", "SELECT * FROM read_csv('" + q(filepath.Join(filepath.Dir(e.ordersFile), "secret.csv")) + "')", Engine},
		{"read_parquet private", "SELECT * FROM read_parquet('" + q(e.privateFile) + "')", Engine},
		{"parquet_scan private", "SELECT * FROM parquet_scan('" + q(e.privateFile) + "')", Engine},
		{"read_parquet glob", "SELECT * FROM read_parquet('" + q(e.dataDir) + "/**/*.parquet')", Engine},
		{"read_json", "SELECT * FROM read_json('" + q(e.secretTxt) + "')", Engine},
		{"read_json_auto", "SELECT * FROM read_json_auto('" + q(e.secretTxt) + "')", Engine},
		{"read_ndjson", "SELECT * FROM read_ndjson('" + q(e.secretTxt) + "')", Engine},
		{"read_text", "SELECT * FROM read_text('" + q(e.secretTxt) + "')", Engine},
		{"read_blob", "SELECT * FROM read_blob('" + q(e.secretTxt) + "')", Engine},
		{"glob", "SELECT * FROM glob('" + q(e.dataDir) + "/*')", Engine},
		{"glob root", "SELECT * FROM glob('/*')", Engine},
		{"parquet_metadata", "SELECT * FROM parquet_metadata('" + q(e.privateFile) + "')", Engine},
		{"parquet_schema", "SELECT * FROM parquet_schema('" + q(e.privateFile) + "')", Engine},
		{"parquet_kv_metadata", "SELECT * FROM parquet_kv_metadata('" + q(e.privateFile) + "')", Engine},
		{"sniff_csv", "SELECT * FROM sniff_csv('" + q(e.secretCSV) + "')", Engine},
		{"replacement scan csv", "SELECT * FROM '" + q(e.secretCSV) + "'", Engine},
		{"replacement scan parquet dq", `SELECT * FROM "` + e.privateFile + `"`, Engine},
		{"replacement scan glob", "FROM '" + q(e.dataDir) + "/*/data/*.parquet'", Engine},
		{"replacement scan url", "SELECT * FROM 'https://example.com/x.csv'", Engine},
		{"join with file", "SELECT * FROM orders, read_csv('" + q(e.secretCSV) + "')", Engine},
		// writes, attach, extensions, configuration
		{"copy to", "COPY orders TO '" + q(filepath.Join(e.dataDir, "out.csv")) + "'", Invalid},
		{"copy over allowed file", "COPY (SELECT 42) TO '" + q(e.ordersFile) + "' (FORMAT parquet, USE_TMP_FILE false)", Invalid},
		{"copy from", "COPY orders FROM '" + q(e.secretCSV) + "'", Invalid},
		{"export database", "EXPORT DATABASE '" + q(filepath.Join(e.dataDir, "exp")) + "'", Invalid},
		{"import database", "IMPORT DATABASE '" + q(e.dataDir) + "'", Invalid},
		{"attach", "ATTACH '" + q(filepath.Join(e.dataDir, "x.duckdb")) + "' AS x", Invalid},
		{"detach", "DETACH memory", Invalid},
		{"use", "USE system", Invalid},
		{"install", "INSTALL httpfs", Invalid},
		{"load", "LOAD httpfs", Invalid},
		{"load path", "LOAD '" + q(filepath.Join(e.dataDir, "x.duckdb_extension")) + "'", Invalid},
		{"set", "SET enable_external_access=true", Invalid},
		{"set variable", "SET VARIABLE x = 1", Invalid},
		{"reset", "RESET lock_configuration", Invalid},
		{"pragma", "PRAGMA enable_profiling", Invalid},
		{"call", "CALL pragma_version()", Invalid},
		{"create table", "CREATE TABLE x AS SELECT 1", Invalid},
		{"create view over private", "CREATE VIEW v AS SELECT * FROM read_parquet('" + q(e.privateFile) + "')", Invalid},
		{"create macro", "CREATE MACRO m() AS 1", Invalid},
		{"create secret", "CREATE SECRET (TYPE s3, KEY_ID 'a', SECRET 'b')", Invalid},
		{"insert", "INSERT INTO orders VALUES (1, 'x', 1)", Invalid},
		{"update", "UPDATE orders SET label = 'x'", Invalid},
		{"delete", "DELETE FROM orders", Invalid},
		{"drop", "DROP VIEW orders", Invalid},
		{"alter", "ALTER VIEW orders RENAME TO o2", Invalid},
		{"checkpoint", "CHECKPOINT", Invalid},
		{"vacuum", "VACUUM", Invalid},
		{"explain", "EXPLAIN SELECT * FROM orders", Invalid},
		{"explain analyze", "EXPLAIN ANALYZE SELECT * FROM orders", Invalid},
		{"cte with delete", "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", Invalid},
		// multiple statements, comments, whitespace
		{"multi drop", "SELECT 1; DROP VIEW orders", Invalid},
		{"multi select private", "SELECT 1; SELECT * FROM salaries", Invalid},
		{"multi copy", "SELECT 1;COPY orders TO '" + q(filepath.Join(e.dataDir, "o.csv")) + "'", Invalid},
		{"comment hides nothing", "SELECT 1 /*; DROP VIEW orders */", 0},
		{"line comment", "SELECT 1 -- ; DROP VIEW orders", 0},
		{"comment then drop", "/* SELECT */ DROP VIEW orders", Invalid},
		{"newline then drop", "SELECT 1;\n\n\tDROP VIEW orders;", Invalid},
		{"whitespace only", " \n\t ", Invalid},
		{"comment only", "-- nothing here\n/* still nothing */", Invalid},
		// string-built names
		{"query()", "SELECT * FROM query('SELECT * FROM salaries')", Invalid},
		{"query() concat", "SELECT * FROM query('SELECT * FROM sal' || 'aries')", Invalid},
		{"query_table", "SELECT * FROM query_table('salaries')", Invalid},
		{"query_table concat", "SELECT * FROM query_table('sal' || 'aries')", Invalid},
		{"query_table list", "SELECT * FROM query_table(['orders', 'salaries'])", Invalid},
		{"query() read_csv", "SELECT * FROM query('SELECT * FROM read_csv(''" + q(e.secretCSV) + "'')')", Invalid},
		{"json_execute_serialized_sql", "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT * FROM salaries'))", Invalid},
		{"prefixed query", "SELECT * FROM system.main.query('SELECT 1')", Invalid},
		// resource exhaustion: stopped by the timeout (or the memory limit)
		{"range sum", "SELECT sum(range) FROM range(1000000000000)", Timeout},
		{"cross join", "SELECT count(*) FROM range(100000000) a, range(100000000) b WHERE a.range + b.range = -1", Timeout},
		{"recursive cte", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT max(n) FROM r", -1},
		{"cross join of table", "SELECT count(*) FROM orders a, orders b, orders c, orders d, orders e, orders f, orders g, orders h, orders i, orders j", -1},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d escape attempts", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			res, err := r.Run(context.Background(), Request{SQL: c.sql, Tables: e.tables, UserID: "u1"})
			elapsed := time.Since(start)
			out := ""
			if err != nil {
				out = err.Error()
				if !strings.HasPrefix(out, "Query error: ") {
					t.Errorf("error %q lacks the \"Query error: \" prefix", out)
				}
			} else {
				b, _ := json.Marshal(res)
				out = string(b)
			}
			// A path the SQL itself names may be echoed back; nothing else may appear.
			var check []string
			for _, f := range forbidden {
				if !strings.Contains(c.sql, f) {
					check = append(check, f)
				}
			}
			if leak := containsAny(out, check...); leak != "" {
				t.Fatalf("leaked %q in %s", leak, out)
			}
			switch {
			case c.want > 0 && errKind(err) != c.want:
				t.Fatalf("want %v error, got err=%v (kind %v) out=%.300s", c.want, err, errKind(err), out)
			case c.want == -1 && err == nil:
				t.Fatalf("resource attempt finished: %.300s", out)
			}
			if c.want == Timeout || c.want == -1 {
				if elapsed > 3*time.Second {
					t.Errorf("took %v, the 1s timeout did not stop the engine promptly", elapsed)
				}
			}
		})
	}
	for f, h := range before {
		if fileHash(t, f) != h {
			t.Errorf("%s changed", f)
		}
	}
	for _, p := range []string{"out.csv", "o.csv", "exp", "x.duckdb"} {
		if _, err := os.Stat(filepath.Join(e.dataDir, p)); err == nil {
			t.Errorf("%s was created", p)
		}
	}
	res := mustRun(t, r, Request{SQL: "SELECT count(*) AS n FROM orders", Tables: e.tables})
	if got := rowsJSON(t, res); got != "[[10]]" {
		t.Fatalf("orders after the attempts: %s", got)
	}
}

// TestCatalogShowsOnlyGrantedTables checks the system catalogs list exactly the caller's views.
func TestCatalogShowsOnlyGrantedTables(t *testing.T) {
	e := newEscapeEnv(t)
	r := newTestRunner(t, Options{})
	res := mustRun(t, r, Request{SQL: "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1", Tables: e.tables})
	if got := rowsJSON(t, res); got != `[["orders"]]` {
		t.Fatalf("information_schema.tables = %s", got)
	}
	admin := append([]Table{{Name: "salaries", Files: []string{e.privateFile}}}, e.tables...)
	res = mustRun(t, r, Request{SQL: "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1", Tables: admin})
	if got := rowsJSON(t, res); got != `[["orders"],["salaries"]]` {
		t.Fatalf("admin information_schema.tables = %s", got)
	}
}

// TestDeniedBuiltinViewsCovered fails when a DuckDB built-in view or macro reads a denied
// function but is not itself denied (e.g. after an upgrade adds one).
func TestDeniedBuiltinViewsCovered(t *testing.T) {
	r := newTestRunner(t, Options{})
	res := mustRun(t, r, Request{SQL: "SELECT view_name, sql FROM duckdb_views() WHERE internal"})
	for _, row := range res.Rows {
		name, sqlText := row[0].(string), strings.ToLower(row[1].(string))
		for fn := range deniedFunctions {
			if callsFunction(sqlText, fn) && !deniedTables[strings.ToLower(name)] {
				t.Errorf("built-in view %s uses %s() but is not in deniedTables", name, fn)
			}
		}
		for tn := range deniedTables {
			if tn != strings.ToLower(name) && strings.Contains(sqlText, tn) && !deniedTables[strings.ToLower(name)] {
				t.Errorf("built-in view %s reads %s but is not in deniedTables", name, tn)
			}
		}
	}
	res = mustRun(t, r, Request{SQL: "SELECT function_name, coalesce(macro_definition, '') FROM duckdb_functions() WHERE function_type IN ('macro', 'table_macro')"})
	for _, row := range res.Rows {
		name, def := row[0].(string), strings.ToLower(row[1].(string))
		for fn := range deniedFunctions {
			if callsFunction(def, fn) && !deniedFunctions[strings.ToLower(name)] && !deniedTableFunctions[strings.ToLower(name)] {
				t.Errorf("built-in macro %s uses %s() but is not denied", name, fn)
			}
		}
		for tn := range deniedTables {
			if strings.Contains(def, tn) && !deniedFunctions[strings.ToLower(name)] {
				t.Errorf("built-in macro %s reads %s but is not denied", name, tn)
			}
		}
	}
}

// callsFunction reports whether sql calls fn (fn followed by "(", not part of a longer name).
func callsFunction(sql, fn string) bool {
	for i := 0; ; {
		j := strings.Index(sql[i:], fn+"(")
		if j < 0 {
			return false
		}
		k := i + j
		if k == 0 || !(sql[k-1] == '_' || sql[k-1] >= 'a' && sql[k-1] <= 'z' || sql[k-1] >= '0' && sql[k-1] <= '9') {
			return true
		}
		i = k + 1
	}
}

func TestGateAccepts(t *testing.T) {
	e := newEscapeEnv(t)
	r := newTestRunner(t, Options{})
	cases := []struct{ name, sql, want string }{
		{"select", "SELECT count(*) FROM orders", "[[10]]"},
		{"from first", "FROM orders SELECT max(id)", "[[9]]"},
		{"with", "WITH x AS (SELECT id FROM orders) SELECT count(*) FROM x", "[[10]]"},
		{"trailing semicolon", "SELECT 1;", "[[1]]"},
		{"comments", "-- hello\nSELECT /* inline */ 2 ; -- bye", "[[2]]"},
		{"lowercase and newline", "select\n*\nfrom orders where id = 3", `[[3,"order_3","4.5"]]`},
		{"values", "VALUES (1, 'a')", `[[1,"a"]]`},
		{"union", "SELECT 1 UNION ALL SELECT 2 ORDER BY 1", "[[1],[2]]"},
		{"literal with slash and keywords", "SELECT '/etc/passwd; DROP TABLE x' AS s", `[["/etc/passwd; DROP TABLE x"]]`},
		{"column named like a keyword", "SELECT 1 AS last_update, 2 AS reload", "[[1,2]]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := mustRun(t, r, Request{SQL: c.sql, Tables: e.tables})
			if got := rowsJSON(t, res); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
	res := mustRun(t, r, Request{SQL: "SUMMARIZE orders", Tables: e.tables})
	if res.RowCount != 3 {
		t.Fatalf("SUMMARIZE rows = %d", res.RowCount)
	}
}

func TestBadInput(t *testing.T) {
	e := newEscapeEnv(t)
	r := newTestRunner(t, Options{})
	cases := []struct {
		name string
		req  Request
		want string
	}{
		{"empty", Request{SQL: ""}, "Query error: empty query"},
		{"spaces", Request{SQL: "   "}, "Query error: empty query"},
		{"comment", Request{SQL: "-- x"}, "Query error: empty query"},
		{"syntax", Request{SQL: "SELEC 1"}, "Query error: Parser Error: syntax error"},
		{"unknown column", Request{SQL: "SELECT nope FROM orders", Tables: e.tables}, "Query error: Binder Error"},
		{"conversion", Request{SQL: "SELECT 'x'::INTEGER"}, "Query error: Conversion Error"},
		{"negative limit", Request{SQL: "SELECT 1", Limit: -1}, "Query error: limit must not be negative"},
		{"bad query id", Request{SQL: "SELECT 1", QueryID: "a b"}, "Query error: query_id"},
		{"bad table name", Request{SQL: "SELECT 1", Tables: []Table{{Name: "x; DROP", Files: []string{e.ordersFile}}}}, "Query error: invalid table name"},
		{"duplicate table", Request{SQL: "SELECT 1", Tables: []Table{e.tables[0], {Name: "ORDERS", Files: []string{e.ordersFile}}}}, "listed twice"},
		{"no files", Request{SQL: "SELECT 1", Tables: []Table{{Name: "t"}}}, "has no files"},
		{"relative file", Request{SQL: "SELECT 1", Tables: []Table{{Name: "t", Files: []string{"x.parquet"}}}}, "not absolute"},
		{"missing file", Request{SQL: "SELECT 1", Tables: []Table{{Name: "t", Files: []string{filepath.Join(e.dataDir, "nope.parquet")}}}}, "missing"},
		{"dir as file", Request{SQL: "SELECT 1", Tables: []Table{{Name: "t", Files: []string{e.dataDir}}}}, "not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Run(context.Background(), c.req)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if k := errKind(err); k != Invalid && k != Engine {
				t.Fatalf("kind %v", k)
			}
			if strings.Contains(err.Error(), e.dataDir) {
				t.Fatalf("error leaks a path: %v", err)
			}
		})
	}
	if _, err := r.Export(context.Background(), Request{SQL: "SELECT 1"}, "xlsx", &strings.Builder{}); errKind(err) != Invalid {
		t.Fatalf("unknown format: %v", err)
	}
}
