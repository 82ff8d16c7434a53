package query

import (
	"encoding/json"
	"math/big"
	"testing"

	"github.com/duckdb/duckdb-go/v2"
)

// TestValueTyping checks every value kind comes back as faithful JSON.
func TestValueTyping(t *testing.T) {
	r := newTestRunner(t, Options{})
	cases := []struct {
		name, expr, wantType, wantJSON string
	}{
		{"null", "NULL::INTEGER", "INTEGER", "null"},
		{"boolean", "true", "BOOLEAN", "true"},
		{"tinyint", "(-5)::TINYINT", "TINYINT", "-5"},
		{"integer", "42::INTEGER", "INTEGER", "42"},
		{"bigint", "9007199254740993::BIGINT", "BIGINT", "9007199254740993"},
		{"ubigint small", "7::UBIGINT", "UBIGINT", "7"},
		{"ubigint big", "18446744073709551615::UBIGINT", "UBIGINT", `"18446744073709551615"`},
		{"hugeint small", "-12::HUGEINT", "HUGEINT", "-12"},
		{"hugeint 2^53", "9007199254740992::HUGEINT", "HUGEINT", "9007199254740992"},
		{"hugeint big", "170141183460469231731687303715884105727::HUGEINT", "HUGEINT", `"170141183460469231731687303715884105727"`},
		{"uhugeint big", "340282366920938463463374607431768211455::UHUGEINT", "UHUGEINT", `"340282366920938463463374607431768211455"`},
		{"decimal scale kept", "1.50::DECIMAL(10,2)", "DECIMAL(10,2)", `"1.50"`},
		{"decimal negative small", "(-0.05)::DECIMAL(4,3)", "DECIMAL(4,3)", `"-0.050"`},
		{"decimal 38 digits", "12345678901234567890123456.789012345678::DECIMAL(38,12)", "DECIMAL(38,12)", `"12345678901234567890123456.789012345678"`},
		{"decimal zero scale", "123::DECIMAL(5,0)", "DECIMAL(5,0)", `"123"`},
		{"double", "0.1::DOUBLE", "DOUBLE", "0.1"},
		{"float", "0.1::FLOAT", "FLOAT", "0.1"},
		{"nan", "'nan'::DOUBLE", "DOUBLE", `"NaN"`},
		{"inf", "'inf'::DOUBLE", "DOUBLE", `"Infinity"`},
		{"-inf", "'-inf'::FLOAT", "FLOAT", `"-Infinity"`},
		{"varchar", "'héllo \"x\"'", "VARCHAR", `"héllo \"x\""`},
		{"date", "DATE '2024-02-29'", "DATE", `"2024-02-29"`},
		{"time", "TIME '12:34:56'", "TIME", `"12:34:56"`},
		{"time fraction", "TIME '12:34:56.25'", "TIME", `"12:34:56.25"`},
		{"timetz", "TIMETZ '12:00:00+01:30'", "TIMETZ", `"12:00:00+01:30"`},
		{"timestamp", "TIMESTAMP '2024-01-02 03:04:05'", "TIMESTAMP", `"2024-01-02T03:04:05"`},
		{"timestamp micros", "TIMESTAMP '2024-01-02 03:04:05.123456'", "TIMESTAMP", `"2024-01-02T03:04:05.123456"`},
		{"timestamp_ns", "TIMESTAMP_NS '2024-01-01 00:00:00.123456789'", "TIMESTAMP_NS", `"2024-01-01T00:00:00.123456789"`},
		{"timestamptz utc", "TIMESTAMPTZ '2024-01-02 03:04:05.5+02'", "TIMESTAMPTZ", `"2024-01-02T01:04:05.5Z"`},
		{"interval days", "INTERVAL 3 DAY", "INTERVAL", `"P3D"`},
		{"interval mixed", "INTERVAL '1 year 2 months 3 days 04:05:06.5'", "INTERVAL", `"P1Y2M3DT4H5M6.5S"`},
		{"interval zero", "INTERVAL 0 SECOND", "INTERVAL", `"PT0S"`},
		{"uuid", "'0f8fad5b-d9cb-469f-a165-70867728950e'::UUID", "UUID", `"0f8fad5b-d9cb-469f-a165-70867728950e"`},
		{"blob base64", `'\xAA\xBBhi'::BLOB`, "BLOB", `"qrtoaQ=="`},
		{"enum", "'b'::ENUM('a', 'b')", "ENUM", `"b"`},
		{"bit", "'101'::BIT", "BIT", `"101"`},
		{"list", "[1, NULL, 3]", "INTEGER[]", "[1,null,3]"},
		{"list of decimals", "[1.5::DECIMAL(3,1)]", "DECIMAL(3,1)[]", `["1.5"]`},
		{"list of dates", "[DATE '2024-01-01']", "DATE[]", `["2024-01-01"]`},
		{"array", "[1, 2]::INTEGER[2]", "INTEGER[2]", "[1,2]"},
		{"struct order kept", "{'z': 1, 'a': DATE '2024-01-01', 'm': [0.5::DECIMAL(2,1)]}", `STRUCT("z" INTEGER, "a" DATE, "m" DECIMAL(2,1)[])`, `{"z":1,"a":"2024-01-01","m":["0.5"]}`},
		{"struct odd names", `{'a"b': 1, 'c d': 'x'}`, `STRUCT("a""b" INTEGER, "c d" VARCHAR)`, `{"a\"b":1,"c d":"x"}`},
		{"nested uuid in struct", "{'id': '0f8fad5b-d9cb-469f-a165-70867728950e'::UUID}", `STRUCT("id" UUID)`, `{"id":"0f8fad5b-d9cb-469f-a165-70867728950e"}`},
		{"map", "MAP {'k': 1, 'a': 2}", "MAP(VARCHAR, INTEGER)", `{"k":1,"a":2}`},
		{"map int keys", "MAP {2: DATE '2024-01-01'}", "MAP(INTEGER, DATE)", `{"2":"2024-01-01"}`},
		{"union", "union_value(k := 1.5::DECIMAL(2,1))", `UNION("k" DECIMAL(2,1))`, `"1.5"`},
		{"json", `'{"a": [1, 2]}'::JSON`, "JSON", `{"a":[1,2]}`},
		{"histogram aggregate", "(SELECT histogram(x) FROM (VALUES (1), (1), (2)) v(x))", "MAP(INTEGER, UBIGINT)", `{"1":2,"2":1}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := mustRun(t, r, Request{SQL: "SELECT " + c.expr + " AS v"})
			if res.ColumnTypes[0] != c.wantType {
				t.Errorf("type %q, want %q", res.ColumnTypes[0], c.wantType)
			}
			b, err := json.Marshal(res.Rows[0][0])
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != c.wantJSON {
				t.Fatalf("json %s, want %s", b, c.wantJSON)
			}
		})
	}
}

func TestFormatDecimal(t *testing.T) {
	cases := []struct {
		v     int64
		scale int
		want  string
	}{
		{0, 2, "0.00"}, {5, 2, "0.05"}, {-5, 2, "-0.05"}, {150, 2, "1.50"}, {-12345, 0, "-12345"}, {1, 5, "0.00001"},
	}
	for _, c := range cases {
		if got := formatDecimal(big.NewInt(c.v), c.scale); got != c.want {
			t.Errorf("formatDecimal(%d, %d) = %q, want %q", c.v, c.scale, got, c.want)
		}
	}
}

func TestFormatInterval(t *testing.T) {
	cases := []struct {
		iv   duckdb.Interval
		want string
	}{
		{duckdb.Interval{}, "PT0S"},
		{duckdb.Interval{Months: 14}, "P1Y2M"},
		{duckdb.Interval{Micros: -90_000_000}, "PT-1M-30S"},
		{duckdb.Interval{Days: 1, Micros: 1}, "P1DT0.000001S"},
	}
	for _, c := range cases {
		if got := formatInterval(c.iv); got != c.want {
			t.Errorf("formatInterval(%+v) = %q, want %q", c.iv, got, c.want)
		}
	}
}

func TestParseType(t *testing.T) {
	cases := []struct{ in, ddl string }{
		{"INTEGER", "INTEGER"},
		{"DECIMAL(18,3)", "DECIMAL(18,3)"},
		{"VARCHAR[][]", "VARCHAR[][]"},
		{"INTEGER[3]", "INTEGER[3]"},
		{`STRUCT("a""b" INTEGER, "c" MAP(VARCHAR, DATE[]))`, `STRUCT("a""b" INTEGER, "c" MAP(VARCHAR, DATE[]))`},
		{"ENUM", ""},
		{`STRUCT("a" ENUM)`, ""},
		{`STRUCT("a) INTEGER); DROP TABLE x; --" INTEGER)`, `STRUCT("a) INTEGER); DROP TABLE x; --" INTEGER)`},
		{"garbage((", ""},
	}
	for _, c := range cases {
		got, ok := parseType(c.in).writerDDL()
		if !ok {
			got = ""
		}
		if got != c.ddl {
			t.Errorf("parseType(%q).writerDDL() = %q, want %q", c.in, got, c.ddl)
		}
	}
}
