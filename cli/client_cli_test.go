package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"da/client"
	"da/config"
)

const (
	testAdminEmail    = "admin@example.com"
	testAdminPassword = "cli-admin-password"
	testAnalystEmail  = "analyst@example.com"
	testAnalystPass   = "cli-analyst-password"
)

// startTestServer runs the real server in-process on 127.0.0.1:0 over a fresh data
// directory with a seeded admin, and returns its base URL.
func startTestServer(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	envs := map[string]string{"DATA_DIR": dir, "SEED_ADMIN_EMAIL": testAdminEmail, "SEED_ADMIN_PASSWORD": testAdminPassword}
	cfg, err := config.Load(func(k string) string { return envs[k] }, config.Overrides{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return startServerWith(t, cfg)
}

// startServerWith serves cfg in-process on 127.0.0.1:0 until the test ends.
func startServerWith(t testing.TB, cfg *config.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "test", false, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("server did not stop within 20s")
		}
	})
	return "http://" + ln.Addr().String()
}

// adminClient logs in as the seeded admin.
func adminClient(t testing.TB, base string) *client.Client {
	t.Helper()
	c := client.New(base, "")
	res, err := c.Login(context.Background(), testAdminEmail, testAdminPassword)
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	c.Token = res.AccessToken
	return c
}

// createAnalyst creates the analyst user and returns its id.
func createAnalyst(t testing.TB, admin *client.Client) string {
	t.Helper()
	pw := testAnalystPass
	u, err := admin.CreateUser(context.Background(), client.NewUser{Email: testAnalystEmail, Role: "analyst", Password: &pw})
	if err != nil {
		t.Fatalf("create analyst: %v", err)
	}
	return u.ID
}

// upload publishes CSV text as a table.
func upload(t testing.TB, c *client.Client, name, csv string, public bool) {
	t.Helper()
	if _, err := c.UploadTable(context.Background(), name, name+".csv", strings.NewReader(csv), public); err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
}

// cliEnv is one CLI user: its own config and workspace directories.
type cliEnv struct {
	t      testing.TB
	vars   map[string]string
	stdin  string
	local  string
	config string
}

// newCLI returns a CLI environment pointed at server.
func newCLI(t testing.TB, server string) *cliEnv {
	t.Helper()
	root := t.TempDir()
	c := &cliEnv{t: t, local: filepath.Join(root, "work"), config: filepath.Join(root, "config")}
	c.vars = map[string]string{"DA_SERVER": server, "DA_CONFIG_DIR": c.config, "DA_LOCAL_DIR": c.local}
	return c
}

// run executes one command line and returns the exit code, stdout and stderr.
func (c *cliEnv) run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	e := &env{version: "test", stdout: &out, stderr: &errb, getenv: func(k string) string { return c.vars[k] },
		stdin: strings.NewReader(c.stdin)}
	code := e.run(args)
	return code, out.String(), errb.String()
}

// mustRun runs a command that must exit with want.
func (c *cliEnv) mustRun(want int, args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(args...)
	if code != want {
		c.t.Fatalf("da %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errs)
	}
	return out
}

// sync runs `da sync --json` and decodes its report.
func (c *cliEnv) sync(args ...string) syncReport {
	c.t.Helper()
	out := c.mustRun(ExitOK, append([]string{"sync", "--json"}, args...)...)
	var rep syncReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		c.t.Fatalf("sync output is not JSON: %v\n%s", err, out)
	}
	return rep
}

func (c *cliEnv) file(id string) string {
	return filepath.Join(c.local, "server", "parquet", id+".parquet")
}

// queryJSON runs a query and decodes its JSON rows.
func (c *cliEnv) queryJSON(args ...string) []map[string]any {
	c.t.Helper()
	out := c.mustRun(ExitOK, append([]string{"query", "--format", "json"}, args...)...)
	var rows []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&rows); err != nil {
		c.t.Fatalf("query output is not JSON: %v\n%s", err, out)
	}
	return rows
}

func csvRows(prefix string, n int) string {
	var b strings.Builder
	b.WriteString("id,name,amount\n")
	for i := 1; i <= n; i++ {
		b.WriteString(strings.Join([]string{itoa(i), prefix + itoa(i), itoa(i*3) + ".25"}, ","))
		b.WriteByte('\n')
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestSyncScenario walks the analyst's whole flow against the real server: login, first
// sync, a changed table, a damaged local file, a resumed download, local versus remote
// queries and a revoked table.
func TestSyncScenario(t *testing.T) {
	base := startTestServer(t)
	admin := adminClient(t, base)
	analystID := createAnalyst(t, admin)
	upload(t, admin, "orders", csvRows("o", 50), true)
	upload(t, admin, "customers", csvRows("c", 20), true)
	upload(t, admin, "products", csvRows("p", 2000), true)

	cli := newCLI(t, base)
	cli.stdin = testAnalystEmail + "\n" + testAnalystPass + "\n"
	out := cli.mustRun(ExitOK, "auth", "login")
	if !strings.Contains(out, "Logged in as "+testAnalystEmail) {
		t.Fatalf("login output: %q", out)
	}
	fi, err := os.Stat(filepath.Join(cli.config, "config.yaml"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config.yaml mode: %v %v", fi, err)
	}
	if di, _ := os.Stat(cli.config); di.Mode().Perm() != 0o700 {
		t.Fatalf("config dir mode %o", di.Mode().Perm())
	}
	if out := cli.mustRun(ExitOK, "auth", "whoami"); !strings.Contains(out, testAnalystEmail) || strings.Contains(out, "eyJ") {
		t.Fatalf("whoami: %q", out)
	}

	// First sync: all three tables.
	rep := cli.sync()
	if want := []string{"customers", "orders", "products"}; !reflect.DeepEqual(rep.Downloaded, want) {
		t.Fatalf("first sync downloaded %v, want %v (errors %v)", rep.Downloaded, want, rep.Errors)
	}
	rows := cli.queryJSON("SELECT count(*) AS n FROM products")
	if rows[0]["n"].(json.Number).String() != "2000" {
		t.Fatalf("local count: %v", rows)
	}
	// Nothing changed: nothing downloaded.
	if rep := cli.sync(); len(rep.Downloaded) != 0 || len(rep.Skipped) != 3 {
		t.Fatalf("no-change sync: %+v", rep)
	}

	// One table changes on the server: only it is downloaded.
	upload(t, admin, "customers", csvRows("changed", 25), true)
	if rep := cli.sync("--dry-run"); !reflect.DeepEqual(rep.Downloaded, []string{"customers"}) {
		t.Fatalf("dry run: %+v", rep)
	}
	rep = cli.sync()
	if !reflect.DeepEqual(rep.Downloaded, []string{"customers"}) || len(rep.Skipped) != 2 {
		t.Fatalf("after change: %+v", rep)
	}
	if rows := cli.queryJSON("SELECT name FROM customers WHERE id = 1"); rows[0]["name"] != "changed1" {
		t.Fatalf("local copy not refreshed: %v", rows)
	}

	// A damaged local file is detected and fetched again.
	f, err := os.OpenFile(cli.file("orders"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("garbage!"), 100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rep = cli.sync()
	if !reflect.DeepEqual(rep.Downloaded, []string{"orders"}) {
		t.Fatalf("corrupt file not refetched: %+v", rep)
	}
	if h, _ := client.HashFile(cli.file("orders")); h == "" {
		t.Fatal("orders missing after refetch")
	}

	// An interrupted download resumes from its .part file.
	upload(t, admin, "products", csvRows("v2-", 3000), true)
	an := client.New(base, "")
	tok, err := an.Login(context.Background(), testAnalystEmail, testAnalystPass)
	if err != nil {
		t.Fatal(err)
	}
	full := fetchAll(t, base, tok.AccessToken, "products")
	half := len(full) / 2
	if err := os.WriteFile(client.PartPath(cli.file("products")), full[:half], 0o644); err != nil {
		t.Fatal(err)
	}
	rep = cli.sync()
	if !reflect.DeepEqual(rep.Downloaded, []string{"products"}) || rep.Bytes != int64(len(full)-half) {
		t.Fatalf("resume: downloaded %v, %d bytes fetched, want %d (errors %v)", rep.Downloaded, rep.Bytes, len(full)-half, rep.Errors)
	}
	if got, _ := os.ReadFile(cli.file("products")); !bytes.Equal(got, full) {
		t.Fatal("resumed file differs from the server's")
	}

	// Local and remote queries give the same rows.
	for _, q := range []string{
		"SELECT id, name, amount FROM customers ORDER BY id",
		"SELECT count(*) AS n, sum(id) AS s, min(name) AS m FROM products",
	} {
		local := cli.queryJSON(q)
		remote := cli.queryJSON(q, "--remote")
		if !reflect.DeepEqual(local, remote) {
			t.Fatalf("%s: local %v\nremote %v", q, local, remote)
		}
	}

	// A private table granted, synced, then revoked disappears locally.
	upload(t, admin, "secret", csvRows("s", 5), false)
	if rep := cli.sync(); slices.Contains(rep.Downloaded, "secret") {
		t.Fatal("private table synced without a grant")
	}
	if err := admin.Grant(context.Background(), analystID, "secret", "read"); err != nil {
		t.Fatal(err)
	}
	if rep := cli.sync(); !reflect.DeepEqual(rep.Downloaded, []string{"secret"}) {
		t.Fatalf("granted table: %+v", rep)
	}
	cli.queryJSON("SELECT * FROM secret")
	if err := admin.Revoke(context.Background(), analystID, "secret"); err != nil {
		t.Fatal(err)
	}
	rep = cli.sync()
	if !reflect.DeepEqual(rep.Removed, []string{"secret"}) {
		t.Fatalf("revoked table not removed: %+v", rep)
	}
	if _, err := os.Stat(cli.file("secret")); !os.IsNotExist(err) {
		t.Fatalf("revoked file still there: %v", err)
	}
	cli.mustRun(ExitError, "query", "SELECT * FROM secret")
	// The remaining views still work.
	cli.queryJSON("SELECT * FROM orders LIMIT 1")

	// status, explore, diagnose and request-access against the same server.
	if out := cli.mustRun(ExitOK, "status"); !strings.Contains(out, "Up to date") {
		t.Fatalf("status: %s", out)
	}
	if out := cli.mustRun(ExitOK, "explore", "orders"); !strings.Contains(out, "Rows: 50") || !strings.Contains(out, "amount") {
		t.Fatalf("explore: %s", out)
	}
	if out := cli.mustRun(ExitOK, "diagnose"); !strings.Contains(out, "Overall: healthy") {
		t.Fatalf("diagnose: %s", out)
	}
	if out := cli.mustRun(ExitOK, "request-access", "secret", "--reason", "quarterly report"); !strings.Contains(out, "Requested access to secret") {
		t.Fatalf("request-access: %s", out)
	}
	cli.mustRun(ExitError, "request-access", "secret") // already pending → 409
}

// fetchAll downloads a table's bytes with a plain GET.
func fetchAll(t testing.TB, base, token, id string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/data/"+id+"/download", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", id, resp.StatusCode, err)
	}
	return b
}

// TestExitCodes checks the codes scripts rely on.
func TestExitCodes(t *testing.T) {
	base := startTestServer(t)
	admin := adminClient(t, base)
	createAnalyst(t, admin)
	upload(t, admin, "orders", csvRows("o", 3), true)
	upload(t, admin, "hidden", csvRows("h", 3), false)

	loggedOut := newCLI(t, base)
	dead := newCLI(t, "http://127.0.0.1:1")
	viewer := newCLI(t, base)
	pw := "viewer-password"
	if _, err := admin.CreateUser(context.Background(), client.NewUser{Email: "viewer@example.com", Role: "viewer", Password: &pw}); err != nil {
		t.Fatal(err)
	}
	viewer.mustRun(ExitOK, "auth", "login", "--email", "viewer@example.com", "--password", pw)
	analyst := newCLI(t, base)
	analyst.mustRun(ExitOK, "auth", "login", "--email", testAnalystEmail, "--password", testAnalystPass)

	pat, err := admin.CreateToken(context.Background(), "cli-test", "full", 0)
	if err != nil {
		t.Fatal(err)
	}
	withPAT := newCLI(t, base)

	tests := []struct {
		name string
		cli  *cliEnv
		args []string
		want int
		out  string // expected in stdout+stderr
	}{
		{"no command", loggedOut, nil, ExitUsage, "Usage"},
		{"unknown command", loggedOut, []string{"frobnicate"}, ExitUsage, "unknown command"},
		{"bad flag", loggedOut, []string{"sync", "--nope"}, ExitUsage, "flag provided but not defined"},
		{"query without SQL", loggedOut, []string{"query"}, ExitUsage, "missing argument"},
		{"bad format", loggedOut, []string{"query", "SELECT 1", "--format", "xml"}, ExitUsage, "--format"},
		{"whoami logged out", loggedOut, []string{"auth", "whoami"}, ExitAuth, "Not logged in"},
		{"sync logged out", loggedOut, []string{"sync"}, ExitAuth, "da auth login"},
		{"wrong password", loggedOut, []string{"auth", "login", "--email", testAnalystEmail, "--password", "wrong-password"}, ExitAuth, "wrong e-mail or password"},
		{"bad token", loggedOut, []string{"auth", "login", "--token", "da_pat_nonsense"}, ExitAuth, "refused this token"},
		{"pat login", withPAT, []string{"auth", "login", "--token", pat.Token}, ExitOK, "Logged in as " + testAdminEmail},
		{"local query without db", loggedOut, []string{"query", "SELECT 1"}, ExitNotFound, "da sync"},
		{"unreachable server", dead, []string{"status"}, ExitServer, "--local"},
		{"unreachable sync", dead, []string{"sync"}, ExitAuth, "da auth login"},
		{"status local", loggedOut, []string{"status", "--local"}, ExitOK, "Tables synced: 0"},
		{"viewer may not query", viewer, []string{"query", "--remote", "SELECT 1"}, ExitNotFound, "Requires role analyst"},
		{"viewer sync needs the analyst role", viewer, []string{"sync"}, ExitNotFound, "needs the analyst role"},
		{"hidden table", analyst, []string{"sync", "--table", "hidden"}, ExitNotFound, "request-access hidden"},
		{"remote syntax error", analyst, []string{"query", "--remote", "SELEC nonsense"}, ExitError, "Query error"},
		{"not admin", analyst, []string{"admin", "users"}, ExitNotFound, "only an admin can change a role"},
		{"logout", analyst, []string{"auth", "logout"}, ExitOK, "Logged out."},
		{"after logout", analyst, []string{"auth", "whoami"}, ExitAuth, "Not logged in"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := tc.cli.run(tc.args...)
			if code != tc.want || !strings.Contains(out+errs, tc.out) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant text %q", code, tc.want, out, errs, tc.out)
			}
			if strings.Contains(out+errs, "goroutine ") || strings.Contains(out+errs, "panic") {
				t.Fatalf("stack trace in output: %s%s", out, errs)
			}
		})
	}
	// The token never reaches the output; the config file holds it.
	b, _ := os.ReadFile(filepath.Join(withPAT.config, "config.yaml"))
	if !strings.Contains(string(b), pat.Token) {
		t.Fatal("PAT not stored")
	}
}

// TestAdminCommands covers the server-side admin sub-commands.
func TestAdminCommands(t *testing.T) {
	base := startTestServer(t)
	cli := newCLI(t, base)
	cli.mustRun(ExitOK, "auth", "login", "--email", testAdminEmail, "--password", testAdminPassword)
	out := cli.mustRun(ExitOK, "admin", "add-user", "new@example.com", "--role", "viewer", "--password", "long-enough-pw")
	if !strings.Contains(out, "Created user: new@example.com") {
		t.Fatalf("add-user: %s", out)
	}
	cli.mustRun(ExitError, "admin", "add-user", "new@example.com") // duplicate → 409
	cli.mustRun(ExitError, "admin", "add-user", "x@example.com", "--role", "emperor")
	var users []client.User
	if err := json.Unmarshal([]byte(cli.mustRun(ExitOK, "admin", "users", "--json")), &users); err != nil || len(users) != 2 {
		t.Fatalf("users: %v %v", users, err)
	}
	var id string
	for _, u := range users {
		if u.Email == "new@example.com" {
			id = u.ID
		}
	}
	if out := cli.mustRun(ExitOK, "admin", "set-role", id, "analyst"); !strings.Contains(out, "analyst") {
		t.Fatalf("set-role: %s", out)
	}
	admin := adminClient(t, base)
	upload(t, admin, "orders", csvRows("o", 3), false)
	cli.mustRun(ExitOK, "admin", "grant", id, "orders")
	if out := cli.mustRun(ExitOK, "admin", "permissions", id); !strings.Contains(out, "orders") {
		t.Fatalf("permissions: %s", out)
	}
	cli.mustRun(ExitOK, "admin", "revoke", id, "orders")
	cli.mustRun(ExitNotFound, "admin", "revoke", id, "orders")
	// USER may be an e-mail (any case) instead of the id.
	if out := cli.mustRun(ExitOK, "admin", "set-role", "New@Example.com", "viewer"); !strings.Contains(out, "new@example.com is now viewer") {
		t.Fatalf("set-role by e-mail: %s", out)
	}
	cli.mustRun(ExitOK, "admin", "grant", "new@example.com", "orders")
	if out := cli.mustRun(ExitOK, "admin", "permissions", "new@example.com"); !strings.Contains(out, id) || !strings.Contains(out, "orders") {
		t.Fatalf("permissions by e-mail: %s", out)
	}
	cli.mustRun(ExitOK, "admin", "revoke", "new@example.com", "orders")
	if _, _, errs := cli.run("admin", "set-role", "nobody@example.com", "viewer"); !strings.Contains(errs, "no user has the e-mail") {
		t.Fatalf("unknown e-mail: %s", errs)
	}
	cli.mustRun(ExitNotFound, "admin", "grant", "nobody@example.com", "orders")
	cli.mustRun(ExitUsage, "admin", "grant", id)
	cli.mustRun(ExitOK, "admin", "remove-user", id)
	cli.mustRun(ExitNotFound, "admin", "remove-user", id)
}
