package cli

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"da/client"
)

// TestSyncFollowsSubscriptions: with no subscriptions `da sync` takes every readable table;
// once the user subscribes to some, it takes only those (and drops the others locally);
// switching every subscription off goes back to all; --table fetches any readable table.
func TestSyncFollowsSubscriptions(t *testing.T) {
	base := startTestServer(t)
	admin := adminClient(t, base)
	createAnalyst(t, admin)
	for _, n := range []string{"alpha", "beta", "gamma"} {
		upload(t, admin, n, csvRows(n, 3), true)
	}
	upload(t, admin, "secret", csvRows("s", 3), false)
	cli := newCLI(t, base)
	cli.mustRun(ExitOK, "auth", "login", "--email", testAnalystEmail, "--password", testAnalystPass)
	analyst := client.New(base, "")
	res, err := analyst.Login(context.Background(), testAnalystEmail, testAnalystPass)
	if err != nil {
		t.Fatal(err)
	}
	analyst.Token = res.AccessToken
	ctx := context.Background()

	// A choice of one table: only it is downloaded.
	if refused, err := analyst.SetSubscriptions(ctx, map[string]bool{"beta": true, "secret": true}); err != nil || !reflect.DeepEqual(refused, []string{"secret"}) {
		t.Fatalf("subscribe: refused %v, %v", refused, err)
	}
	var st struct {
		New []string `json:"new"`
	}
	if err := json.Unmarshal([]byte(cli.mustRun(ExitOK, "status", "--json")), &st); err != nil || !reflect.DeepEqual(st.New, []string{"beta"}) {
		t.Fatalf("status before the sync: %+v %v", st, err)
	}
	rep := cli.sync()
	if rep.Mode != "subscriptions" || !reflect.DeepEqual(rep.Downloaded, []string{"beta"}) || !reflect.DeepEqual(rep.NotSubscribed, []string{"alpha", "gamma"}) {
		t.Fatalf("subscribed sync: %+v", rep)
	}
	if rows := cli.queryJSON("SELECT count(*) AS n FROM beta"); len(rows) != 1 {
		t.Fatalf("beta not queryable: %v", rows)
	}
	if code, _, _ := cli.run("query", "SELECT * FROM alpha"); code == ExitOK {
		t.Fatal("alpha was synced although not subscribed")
	}
	out := cli.mustRun(ExitOK, "sync")
	if !strings.Contains(out, "Syncing the tables you subscribe to.") || !strings.Contains(out, "Not subscribed (not downloaded): 2 tables") {
		t.Fatalf("summary: %s", out)
	}

	// --table takes an unsubscribed readable table.
	if rep := cli.sync("--table", "gamma"); !reflect.DeepEqual(rep.Downloaded, []string{"gamma"}) {
		t.Fatalf("--table gamma: %+v", rep)
	}

	// Every subscription off: every readable table again.
	if _, err := analyst.SetSubscriptions(ctx, map[string]bool{"beta": false}); err != nil {
		t.Fatal(err)
	}
	rep = cli.sync()
	if rep.Mode != "all" || !reflect.DeepEqual(rep.Downloaded, []string{"alpha"}) || len(rep.NotSubscribed) != 0 ||
		!reflect.DeepEqual(rep.Skipped, []string{"beta", "gamma"}) {
		t.Fatalf("all-tables sync: %+v", rep)
	}

	// Subscribing to alpha only removes the local copies of the others.
	if _, err := analyst.SetSubscriptions(ctx, map[string]bool{"alpha": true}); err != nil {
		t.Fatal(err)
	}
	rep = cli.sync()
	if !reflect.DeepEqual(rep.Removed, []string{"beta", "gamma"}) || !reflect.DeepEqual(rep.Skipped, []string{"alpha"}) {
		t.Fatalf("narrowed sync: %+v", rep)
	}
	if code, _, _ := cli.run("query", "SELECT * FROM beta"); code == ExitOK {
		t.Fatal("beta still queryable after unsubscribing")
	}
}

// TestViewerSyncExplainsRole: a viewer's `da sync` says in one line that downloading needs
// the analyst role and whom to ask, and never suggests `da request-access`.
func TestViewerSyncExplainsRole(t *testing.T) {
	base := startTestServer(t)
	admin := adminClient(t, base)
	upload(t, admin, "orders", csvRows("o", 3), true)
	pw := "viewer-password"
	if _, err := admin.CreateUser(context.Background(), client.NewUser{Email: "viewer@example.com", Role: "viewer", Password: &pw}); err != nil {
		t.Fatal(err)
	}
	cli := newCLI(t, base)
	cli.mustRun(ExitOK, "auth", "login", "--email", "viewer@example.com", "--password", pw)
	for _, args := range [][]string{{"sync"}, {"sync", "--table", "orders"}, {"sync", "--dry-run"}} {
		code, out, errs := cli.run(args...)
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if code != ExitNotFound || len(lines) != 1 || !strings.Contains(errs, "needs the analyst role") ||
			!strings.Contains(errs, testAdminEmail) || strings.Contains(out+errs, "request-access") {
			t.Fatalf("da %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errs)
		}
	}
	// A role refusal elsewhere points at an admin, not at an access request.
	code, _, errs := cli.run("query", "--remote", "SELECT 1")
	if code != ExitNotFound || !strings.Contains(errs, "Requires role analyst") || !strings.Contains(errs, "Ask an admin") || strings.Contains(errs, "request-access") {
		t.Fatalf("viewer query: exit %d %s", code, errs)
	}
	// whoami shows what the role allows.
	out := cli.mustRun(ExitOK, "auth", "whoami")
	if !strings.Contains(out, "browse the catalog") || strings.Contains(out, "download tables") {
		t.Fatalf("whoami: %s", out)
	}
}
