package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestExploreForAgents: local explore shows row counts and descriptions; --remote lists
// locked tables too, marked so, with how to request them; plurals agree with counts;
// --decimals float gives JSON numbers while the default keeps exact strings.
func TestExploreForAgents(t *testing.T) {
	base := startTestServer(t)
	admin := adminClient(t, base)
	createAnalyst(t, admin)
	if _, err := admin.UploadTableWith(context.Background(), "prices", "prices.csv",
		strings.NewReader("sku,price\na,1.25\n"), true, "Unit prices in EUR"); err != nil {
		t.Fatal(err)
	}
	upload(t, admin, "vault", csvRows("v", 2), false)
	cli := newCLI(t, base)
	cli.mustRun(ExitOK, "auth", "login", "--email", testAnalystEmail, "--password", testAnalystPass)
	cli.sync()

	out := cli.mustRun(ExitOK, "explore")
	if !strings.Contains(out, "Unit prices in EUR") || !strings.Contains(out, "prices  view  1") {
		t.Fatalf("local explore:\n%s", out)
	}
	if !strings.Contains(out, "(1 row)") || strings.Contains(out, "1 rows") {
		t.Fatalf("plural:\n%s", out)
	}
	var local struct {
		Tables []localTable `json:"tables"`
	}
	if err := json.Unmarshal([]byte(cli.mustRun(ExitOK, "explore", "--json")), &local); err != nil || len(local.Tables) != 1 ||
		local.Tables[0].Rows == nil || *local.Tables[0].Rows != 1 || local.Tables[0].Description != "Unit prices in EUR" {
		t.Fatalf("local explore json: %+v %v", local, err)
	}

	out = cli.mustRun(ExitOK, "explore", "--remote")
	if !strings.Contains(out, "vault") || !strings.Contains(out, "locked") || !strings.Contains(out, "da request-access") ||
		!strings.Contains(out, "(1 you can read, 1 locked)") {
		t.Fatalf("remote explore:\n%s", out)
	}

	// DECIMAL: exact strings by default, JSON numbers on request.
	q := "SELECT CAST(price AS DECIMAL(10,2)) AS p FROM prices"
	for _, args := range [][]string{{"query", q, "--format", "json"}, {"query", q, "--format", "json", "--remote"}} {
		if out := cli.mustRun(ExitOK, args...); !strings.Contains(out, `"p":"1.25"`) {
			t.Errorf("%v: %s", args, out)
		}
		if out := cli.mustRun(ExitOK, append(args, "--decimals", "float")...); !strings.Contains(out, `"p":1.25`) {
			t.Errorf("%v --decimals float: %s", args, out)
		}
	}
	cli.mustRun(ExitUsage, "query", q, "--decimals", "double")
}
