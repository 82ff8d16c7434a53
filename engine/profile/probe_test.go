package profile

import (
	"database/sql"
	"fmt"
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
	var x any
	for _, q := range []string{
		`SELECT stddev_samp(x) FROM (VALUES (1e300::DOUBLE),(-1e300::DOUBLE)) t(x)`,
		`SELECT try(stddev_samp(x)) FROM (VALUES (1e300::DOUBLE),(-1e300::DOUBLE)) t(x)`,
		`SELECT avg(x) FROM (VALUES (1e308::DOUBLE),(1e308::DOUBLE)) t(x)`,
		`SELECT var_samp(x/1e150)  FROM (VALUES (1e300::DOUBLE),(-1e300::DOUBLE)) t(x)`,
		`SELECT quantile_cont(x, [0.05,0.5])[2] FROM (VALUES (1e308::DOUBLE),(1e308::DOUBLE)) t(x)`,
		`SELECT quantile_cont(x, [0.05,0.5])[2] FROM (VALUES (1),(2)) t(x) WHERE false`,
		`SELECT isfinite('infinity'::TIMESTAMPTZ), isfinite('infinity'::TIMESTAMP_NS)`,
		`SELECT 'infinity'::TIMESTAMP::DATE::VARCHAR`,
		`SELECT avg(length(x)) FROM (VALUES ('héllo'),('日本')) t(x)`,
		`SELECT '\xff\x00'::BLOB::VARCHAR`,
	} {
		err := db.QueryRow(q).Scan(&x)
		fmt.Printf("%s\n   => %v %v\n", q, x, err)
	}
	db.Exec(`SET threads=2`)
	db.Exec(`CREATE TABLE big AS SELECT i, random() r FROM range(2000000) t(i)`)
	db.Exec(`COPY big TO '/tmp/probe_big.parquet' (FORMAT parquet, ROW_GROUP_SIZE 100000)`)
	for k := 0; k < 4; k++ {
		var s, c any
		err := db.QueryRow(`SELECT sum(i), count(*) FROM (SELECT * FROM read_parquet(['/tmp/probe_big.parquet']) USING SAMPLE reservoir(500000 ROWS) REPEATABLE (42))`).Scan(&s, &c)
		fmt.Println("sample", s, c, err)
	}
}
