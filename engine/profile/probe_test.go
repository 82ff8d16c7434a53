package profile

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

func TestProbe(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	p := filepath.Join(t.TempDir(), "x.parquet")
	exec := func(q string) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TYPE mood AS ENUM ('sad','ok','happy')`)
	exec(`CREATE TABLE t AS SELECT i::BOOLEAN b, i::TINYINT ti, i::HUGEINT hi, i::UBIGINT ub, i::UHUGEINT uh, 1.5::DECIMAL(5,2) d5, 123.4567891234::DECIMAL(38,10) d38,
	 'x' v, DATE '2024-01-01' d, TIME '10:00:00' tm, TIMESTAMP '2024-01-01 10:00' ts, TIMESTAMPTZ '2024-01-01 10:00:00+02' tz, INTERVAL 3 DAY iv, uuid() u, 'ab'::BLOB bl, [1,2] li,
	 {'a':1,'b':'x'} st, MAP {'k': 1} mp, 'ok'::mood e, '2024-01-01 10:00:00.123456789'::TIMESTAMP_NS tns, [1,2]::INTEGER[2] arr FROM range(2) r(i)`)
	exec(fmt.Sprintf(`COPY t TO '%s' (FORMAT parquet)`, p))
	rows, err := db.Query(fmt.Sprintf(`DESCRIBE SELECT * FROM read_parquet(['%s'], union_by_name=true)`, p))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n, ty string
		var a, b, c, d any
		rows.Scan(&n, &ty, &a, &b, &c, &d)
		var cd, cdv, ok string
		err := db.QueryRow(fmt.Sprintf(`SELECT count(DISTINCT "%s")::VARCHAR, min("%s")::VARCHAR, max("%s")::VARCHAR FROM read_parquet('%s')`, n, n, n, p)).Scan(&cd, &cdv, &ok)
		fmt.Println(n, "|", ty, "|", cd, cdv, ok, err)
	}
	var v string
	db.QueryRow(`SELECT version()`).Scan(&v)
	fmt.Println(v)
	var x any
	fmt.Println(db.QueryRow(`SELECT count(DISTINCT row(a)) FROM (VALUES (1),(NULL),(NULL)) t(a)`).Scan(&x), x)
	fmt.Println(db.QueryRow(`SELECT count(DISTINCT (a,b)) FROM (VALUES (1,NULL),(NULL,NULL),(NULL,NULL)) t(a,b)`).Scan(&x), x)
	fmt.Println(db.QueryRow(`SELECT isfinite(DATE 'infinity')`).Scan(&x), x)
}
