package demo

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"da/engine/extract"
)

// attach opens an in-memory DuckDB with the demo source(s) attached read-only.
func attach(t *testing.T, dirs map[string]string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	for alias, dir := range dirs {
		if _, err := db.Exec("ATTACH '" + filepath.Join(dir, extract.FileName) + "' AS " + alias + " (READ_ONLY)"); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func count(t *testing.T, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestGenerate(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "demo"), filepath.Join(t.TempDir(), "demo")
	start := time.Now()
	if err := Generate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	t.Logf("first generation: %v", first)
	if first > 5*time.Second {
		t.Errorf("generation took %v, want well under 5s", first)
	}
	if err := Generate(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	db := attach(t, map[string]string{"a": a, "b": b})

	t.Run("contract", func(t *testing.T) {
		x, err := extract.Read(a)
		if err != nil {
			t.Fatal(err)
		}
		if len(x.Tables) != len(Tables()) {
			t.Fatalf("%d tables in _meta", len(x.Tables))
		}
		for i, spec := range Tables() {
			m := x.Tables[i]
			if m.Name != spec.Name || m.Description != spec.Description || m.QueryMode != extract.ModeLocal || m.SizeBytes <= 0 {
				t.Errorf("_meta %d = %+v", i, m)
			}
			if got := count(t, db, `SELECT count(*) FROM a."`+spec.Name+`"`); got != m.Rows {
				t.Errorf("%s: %d rows, _meta says %d", spec.Name, got, m.Rows)
			}
			if got := count(t, db, `SELECT count(*) - count(DISTINCT "`+spec.PrimaryKey+`") FROM a."`+spec.Name+`"`); got != 0 {
				t.Errorf("%s: primary key %s has %d duplicates", spec.Name, spec.PrimaryKey, got)
			}
		}
	})

	t.Run("row counts", func(t *testing.T) {
		cases := []struct {
			table    string
			min, max int64
		}{
			{"customers", 500, 500}, {"products", 100, 100}, {"campaigns", 30, 30}, {"orders", 2000, 2000},
			{"order_items", 4000, 8000}, {"payments", 2050, 2200}, {"web_sessions", 10000, 10000}, {"support_tickets", 500, 500},
		}
		for _, c := range cases {
			if n := count(t, db, `SELECT count(*) FROM a.`+c.table); n < c.min || n > c.max {
				t.Errorf("%s: %d rows, want %d..%d", c.table, n, c.min, c.max)
			}
		}
	})

	t.Run("determinism", func(t *testing.T) {
		for _, spec := range Tables() {
			q := `SELECT count(*) FROM ((SELECT * FROM a."%[1]s" EXCEPT ALL SELECT * FROM b."%[1]s") UNION ALL
				(SELECT * FROM b."%[1]s" EXCEPT ALL SELECT * FROM a."%[1]s"))`
			if n := count(t, db, strings.ReplaceAll(q, "%[1]s", spec.Name)); n != 0 {
				t.Errorf("%s differs between two generations in %d rows", spec.Name, n)
			}
		}
	})

	t.Run("integrity", func(t *testing.T) {
		checks := map[string]string{
			"orders.customer_id":          `SELECT count(*) FROM a.orders o ANTI JOIN a.customers c USING (customer_id)`,
			"order_items.order_id":        `SELECT count(*) FROM a.order_items i ANTI JOIN a.orders o USING (order_id)`,
			"order_items.product_id":      `SELECT count(*) FROM a.order_items i ANTI JOIN a.products p USING (product_id)`,
			"orders without items":        `SELECT count(*) FROM a.orders o ANTI JOIN a.order_items i USING (order_id)`,
			"payments.order_id":           `SELECT count(*) FROM a.payments p ANTI JOIN a.orders o USING (order_id)`,
			"payments.customer_id":        `SELECT count(*) FROM a.payments p JOIN a.orders o USING (order_id) WHERE p.customer_id <> o.customer_id`,
			"web_sessions.customer_id":    `SELECT count(*) FROM a.web_sessions s WHERE customer_id IS NOT NULL AND customer_id NOT IN (SELECT customer_id FROM a.customers)`,
			"web_sessions.campaign_id":    `SELECT count(*) FROM a.web_sessions s WHERE campaign_id IS NOT NULL AND campaign_id NOT IN (SELECT campaign_id FROM a.campaigns)`,
			"support_tickets.customer_id": `SELECT count(*) FROM a.support_tickets t ANTI JOIN a.customers c USING (customer_id)`,
			"support_tickets.order_id":    `SELECT count(*) FROM a.support_tickets t WHERE order_id IS NOT NULL AND order_id NOT IN (SELECT order_id FROM a.orders)`,
			"ticket order of customer":    `SELECT count(*) FROM a.support_tickets t JOIN a.orders o USING (order_id) WHERE t.customer_id <> o.customer_id`,
			"order after registration":    `SELECT count(*) FROM a.orders o JOIN a.customers c USING (customer_id) WHERE o.created_at::DATE < c.registration_date`,
			"items sum to total":          `SELECT count(*) FROM a.orders o JOIN (SELECT order_id, sum(line_total) s FROM a.order_items GROUP BY 1) i USING (order_id) WHERE i.s <> o.items_total`,
			"total arithmetic":            `SELECT count(*) FROM a.orders WHERE total_amount <> items_total - discount_amount + shipping_amount`,
			"window end":                  `SELECT count(*) FROM (SELECT created_at AS t FROM a.orders UNION ALL SELECT started_at FROM a.web_sessions UNION ALL SELECT created_at FROM a.support_tickets) WHERE t >= TIMESTAMP '2026-03-01'`,
			"resolved only score":         `SELECT count(*) FROM a.support_tickets WHERE satisfaction_score IS NOT NULL AND status NOT IN ('resolved', 'closed')`,
		}
		for name, q := range checks {
			if n := count(t, db, q); n != 0 {
				t.Errorf("%s: %d violations", name, n)
			}
		}
	})

	t.Run("types and distributions", func(t *testing.T) {
		types := map[string]string{
			"orders.total_amount":                "DECIMAL(12,2)",
			"orders.created_at":                  "TIMESTAMP",
			"customers.registration_date":        "DATE",
			"customers.is_active":                "BOOLEAN",
			"customers.segment":                  "VARCHAR",
			"support_tickets.satisfaction_score": "INTEGER",
		}
		for col, want := range types {
			parts := strings.SplitN(col, ".", 2)
			var got string
			if err := db.QueryRow(`SELECT data_type FROM duckdb_columns() WHERE database_name = 'a' AND table_name = ? AND column_name = ?`,
				parts[0], parts[1]).Scan(&got); err != nil || got != want {
				t.Errorf("%s: type %q (%v), want %s", col, got, err, want)
			}
		}
		if n := count(t, db, `SELECT count(*) FROM a.customers WHERE company IS NULL`); n == 0 || n == 500 {
			t.Errorf("companies: %d NULLs, want some", n)
		}
		// Weighted: delivered is the most common order status, CZ the most common country.
		var status, country string
		if err := db.QueryRow(`SELECT mode(status) FROM a.orders`).Scan(&status); err != nil || status != "delivered" {
			t.Errorf("mode(status) = %q, %v", status, err)
		}
		if err := db.QueryRow(`SELECT mode(country) FROM a.customers`).Scan(&country); err != nil || country != "Czech Republic" {
			t.Errorf("mode(country) = %q, %v", country, err)
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		fi, err := os.Stat(filepath.Join(a, extract.FileName))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := Generate(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("second call took %v", d)
		}
		fi2, _ := os.Stat(filepath.Join(a, extract.FileName))
		if !fi2.ModTime().Equal(fi.ModTime()) {
			t.Error("second call rewrote the contract")
		}
	})
}

func TestGenerateRepairs(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	// A stale version marker and a lost file both trigger a regeneration.
	if err := os.WriteFile(filepath.Join(dir, markerFile), []byte("demo-0\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "data", "orders.parquet")); err != nil {
		t.Fatal(err)
	}
	if err := Generate(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	db := attach(t, map[string]string{"d": dir})
	if n := count(t, db, `SELECT count(*) FROM d.orders`); n != 2000 {
		t.Errorf("orders after repair = %d", n)
	}
	b, _ := os.ReadFile(filepath.Join(dir, markerFile))
	if !strings.HasPrefix(string(b), GeneratorVersion+" ") {
		t.Errorf("marker = %q", b)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".demo-gen") {
			t.Errorf("staging left: %s", e.Name())
		}
	}
}
