package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"
	"gopkg.in/yaml.v3"

	"da/client"
)

// defaultServer is the server URL when neither DA_SERVER nor config.yaml names one.
const defaultServer = "http://localhost:8000"

// cliError is a failure with its exit code and a message that says how to fix it.
type cliError struct {
	code int
	msg  string
}

func (c *cliError) Error() string { return c.msg }

// errNotLoggedIn is returned by commands that need a token when none is configured.
var errNotLoggedIn = &cliError{code: ExitAuth, msg: "not logged in: run `da auth login` (or set DA_TOKEN to a personal access token)"}

// session is the resolved client configuration: server, token and where they came from.
type session struct {
	configDir   string
	server      string
	token       string
	tokenSource string // "config.yaml", "token.json", "DA_TOKEN" or ""
	email, role string
}

// configDir is DA_CONFIG_DIR, else ~/.config/da.
func (e *env) configDir() (string, error) {
	if d := e.getenv("DA_CONFIG_DIR"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", &cliError{code: ExitError, msg: "cannot find the home directory; set DA_CONFIG_DIR"}
	}
	return filepath.Join(home, ".config", "da"), nil
}

// localDir is the workspace root: DA_LOCAL_DIR, else the working directory, made absolute.
func (e *env) localDir() string {
	d := e.getenv("DA_LOCAL_DIR")
	if d == "" {
		d = "."
	}
	if abs, err := filepath.Abs(d); err == nil {
		return abs
	}
	return d
}

// userConfigPath is config.yaml in the config directory.
func userConfigPath(dir string) string { return filepath.Join(dir, "config.yaml") }

// loadUserConfig reads config.yaml as a map (missing file → empty map), so keys this
// version does not know survive a save.
func loadUserConfig(dir string) (map[string]any, error) {
	b, err := os.ReadFile(userConfigPath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, &cliError{code: ExitError, msg: fmt.Sprintf("cannot read %s: %v", userConfigPath(dir), err)}
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, &cliError{code: ExitError, msg: fmt.Sprintf("%s is not valid YAML (%v): fix or delete it, then run `da auth login`", userConfigPath(dir), err)}
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// saveUserConfig writes config.yaml atomically with mode 0600 in a 0700 directory: it holds
// the token.
func saveUserConfig(dir string, m map[string]any) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	_ = os.Chmod(dir, 0o700)
	b, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	return writeFileAtomic(userConfigPath(dir), b, 0o600)
}

// writeFileAtomic writes data to a temporary file next to path, syncs it and renames it over
// path, so a crash leaves either the old or the new content.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return nil
}

// str reads a string key of a YAML/JSON map.
func str(m map[string]any, k string) string {
	if v, ok := m[k].(string); ok {
		return v
	}
	return ""
}

// loadSession resolves server and token: DA_SERVER > config.yaml server > default; the saved
// login (config.yaml, else the original CLI's token.json) > DA_TOKEN.
func (e *env) loadSession() (*session, error) {
	dir, err := e.configDir()
	if err != nil {
		return nil, err
	}
	m, err := loadUserConfig(dir)
	if err != nil {
		return nil, err
	}
	s := &session{configDir: dir, server: defaultServer}
	if v := str(m, "server"); v != "" {
		s.server = v
	}
	if v := e.getenv("DA_SERVER"); v != "" {
		s.server = v
	}
	s.server = strings.TrimRight(s.server, "/")
	if t := str(m, "token"); t != "" {
		s.token, s.tokenSource, s.email, s.role = t, "config.yaml", str(m, "email"), str(m, "role")
	} else if b, err := os.ReadFile(filepath.Join(dir, "token.json")); err == nil {
		var tj map[string]any
		if json.Unmarshal(b, &tj) == nil && str(tj, "access_token") != "" {
			s.token, s.tokenSource, s.email, s.role = str(tj, "access_token"), "token.json", str(tj, "email"), str(tj, "role")
		}
	}
	if s.token == "" {
		if t := e.getenv("DA_TOKEN"); t != "" {
			s.token, s.tokenSource = t, "DA_TOKEN"
		}
	}
	return s, nil
}

// client returns an API client for the session.
func (s *session) client() *client.Client {
	c := client.New(s.server, s.token)
	c.UserAgent = "da-cli"
	return c
}

// authedClient returns a client, or errNotLoggedIn when there is no token.
func (e *env) authedClient() (*session, *client.Client, error) {
	s, err := e.loadSession()
	if err != nil {
		return nil, nil, err
	}
	if s.token == "" {
		return s, nil, errNotLoggedIn
	}
	return s, s.client(), nil
}

// fail prints err for command cmd with a hint on how to fix it and returns the exit code.
func (e *env) fail(cmd string, err error) int {
	code, msg := describeError(err)
	fmt.Fprintf(e.stderr, "da %s: %s\n", cmd, msg)
	return code
}

// describeError maps an error to an exit code and a message that names the fix.
func describeError(err error) (int, string) {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.code, ce.msg
	}
	var ae *client.Error
	if errors.As(err, &ae) {
		switch {
		case ae.Status == 0:
			return ExitServer, fmt.Sprintf("cannot reach the server: %v\n  check DA_SERVER or `server:` in config.yaml, or run `da diagnose`", ae.Err)
		case ae.Status == 401:
			return ExitAuth, ae.Detail + "\n  your login is missing, expired or revoked: run `da auth login`"
		case ae.Status == 403:
			return ExitNotFound, ae.Detail + "\n  " + forbiddenHint(ae.Detail, "TABLE")
		case ae.Status == 404:
			return ExitNotFound, ae.Detail
		case ae.Status >= 500:
			return ExitServer, ae.Detail + " (server error; try again, or ask the server's admin to check its log)"
		}
		return ExitError, ae.Detail
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ExitServer, "timed out waiting for the server"
	}
	return ExitError, err.Error()
}

// forbiddenHint says how to get past a 403, matching its cause: a role that is too low
// (only an admin can change it), a read-only token, or a missing table grant (which
// `da request-access` asks for).
func forbiddenHint(detail, table string) string {
	switch {
	case strings.HasPrefix(detail, "Requires role"):
		return "only an admin can change a role (`da auth whoami` shows what yours allows)"
	case strings.Contains(detail, "read scope"):
		return "this personal access token may only read: create a full-scope token in Settings and `da auth login --token` it"
	case strings.Contains(detail, "CSRF"):
		return "the request was refused; try again"
	}
	return "you have no access to this table: run `da request-access " + table + "`"
}

// parseArgs parses flags placed anywhere among positional arguments (Go's flag package
// stops at the first positional one) and checks the positional count.
func (e *env) parseArgs(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, int, bool) {
	var pos []string
	for {
		if code, ok := e.parseHelpful(fs, args); !ok {
			return nil, code, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) < minPos || (maxPos >= 0 && len(pos) > maxPos) {
		if len(pos) < minPos {
			fmt.Fprintf(e.stderr, "da %s: missing argument\n", fs.Name())
		} else {
			fmt.Fprintf(e.stderr, "da %s: unexpected argument %q\n", fs.Name(), strings.Join(pos[maxPos:], " "))
		}
		printHelp(e.stderr, fs)
		return nil, ExitUsage, false
	}
	return pos, 0, true
}

// authCmd dispatches `da auth ...`.
func (e *env) authCmd(args []string) int {
	if len(args) == 0 {
		printGroupHelp(e.stderr, "auth")
		return ExitUsage
	}
	switch args[0] {
	case "login":
		return e.authLogin(args[1:])
	case "logout":
		return e.authLogout(args[1:])
	case "whoami":
		return e.authWhoami(args[1:])
	case "--help", "-h", "-help", "help":
		printGroupHelp(e.stdout, "auth")
		return ExitOK
	}
	fmt.Fprintf(e.stderr, "da auth: unknown command %q (try login, logout or whoami)\n", args[0])
	return ExitUsage
}

// prompter reads answers from stdin, hiding secrets on a terminal.
type prompter struct {
	e  *env
	rd *bufio.Reader
}

// ask prints label to stderr and reads one line; secret input is not echoed on a terminal.
func (p *prompter) ask(label string, secret bool) (string, error) {
	if p.e.stdin == nil {
		return "", &cliError{code: ExitUsage, msg: "no input available: pass " + strings.ToLower(label) + " as a flag"}
	}
	fmt.Fprintf(p.e.stderr, "%s: ", label)
	if f, ok := p.e.stdin.(*os.File); ok && secret && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(p.e.stderr)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	if p.rd == nil {
		p.rd = bufio.NewReader(p.e.stdin)
	}
	line, err := p.rd.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", &cliError{code: ExitUsage, msg: "no " + strings.ToLower(label) + " given: pass it as a flag or type it at the prompt"}
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// authLogin is `da auth login`: password login or a stored personal access token.
func (e *env) authLogin(args []string) int {
	fs := flag.NewFlagSet("auth login", flag.ContinueOnError)
	email := fs.String("email", "", "account e-mail (prompted if missing)")
	password := fs.String("password", "", "password (prompted without echo if missing)")
	token := fs.String("token", "", "store this personal access token (da_pat_...) instead of signing in with a password")
	server := fs.String("server", "", "server URL to use and remember (default: DA_SERVER, config.yaml, "+defaultServer+")")
	if _, code, ok := e.parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	s, err := e.loadSession()
	if err != nil {
		return e.fail("auth login", err)
	}
	if *server != "" {
		if !strings.HasPrefix(*server, "http://") && !strings.HasPrefix(*server, "https://") {
			fmt.Fprintf(e.stderr, "da auth login: --server must be an http:// or https:// URL, got %q\n", *server)
			return ExitUsage
		}
		s.server = strings.TrimRight(*server, "/")
	}
	ctx := context.Background()
	var tok, em, role string
	if *token != "" {
		if *email != "" || *password != "" {
			fmt.Fprintln(e.stderr, "da auth login: use either --token or --email/--password, not both")
			return ExitUsage
		}
		c := client.New(s.server, *token)
		me, err := c.Me(ctx)
		if err != nil {
			if client.StatusOf(err) == 401 {
				return e.fail("auth login", &cliError{code: ExitAuth, msg: "the server refused this token (expired, revoked or mistyped): create a new one under Settings → Tokens"})
			}
			return e.fail("auth login", err)
		}
		tok, em, role = *token, me.Email, me.Role
	} else {
		p := &prompter{e: e}
		if *email == "" {
			if *email, err = p.ask("Email", false); err != nil {
				return e.fail("auth login", err)
			}
		}
		if *password == "" {
			if *password, err = p.ask("Password", true); err != nil {
				return e.fail("auth login", err)
			}
		}
		res, err := client.New(s.server, "").Login(ctx, strings.TrimSpace(*email), *password)
		if err != nil {
			if client.StatusOf(err) == 401 {
				return e.fail("auth login", &cliError{code: ExitAuth, msg: "wrong e-mail or password (" + errDetail(err) + ")"})
			}
			return e.fail("auth login", err)
		}
		tok, em, role = res.AccessToken, res.Email, res.Role
	}
	m, err := loadUserConfig(s.configDir)
	if err != nil {
		return e.fail("auth login", err)
	}
	m["token"], m["email"], m["role"] = tok, em, role
	if *server != "" {
		m["server"] = s.server
	}
	if err := saveUserConfig(s.configDir, m); err != nil {
		return e.fail("auth login", fmt.Errorf("save the login: %w", err))
	}
	fmt.Fprintf(e.stdout, "Logged in as %s (role: %s) at %s\n", em, role, s.server)
	return ExitOK
}

// errDetail is the server's detail of an API error, or the error text.
func errDetail(err error) string {
	var ae *client.Error
	if errors.As(err, &ae) && ae.Detail != "" {
		return ae.Detail
	}
	return err.Error()
}

// authLogout is `da auth logout`: forget the saved token (the server URL stays).
func (e *env) authLogout(args []string) int {
	fs := flag.NewFlagSet("auth logout", flag.ContinueOnError)
	if _, code, ok := e.parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	dir, err := e.configDir()
	if err != nil {
		return e.fail("auth logout", err)
	}
	m, err := loadUserConfig(dir)
	if err != nil {
		return e.fail("auth logout", err)
	}
	if _, had := m["token"]; had {
		delete(m, "token")
		delete(m, "email")
		delete(m, "role")
		if err := saveUserConfig(dir, m); err != nil {
			return e.fail("auth logout", err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "token.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return e.fail("auth logout", err)
	}
	fmt.Fprintln(e.stdout, "Logged out.")
	return ExitOK
}

// authWhoami is `da auth whoami`: ask the server who the token belongs to; offline, read
// the token's own claims.
func (e *env) authWhoami(args []string) int {
	fs := flag.NewFlagSet("auth whoami", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, code, ok := e.parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	s, c, err := e.authedClient()
	if err != nil {
		if errors.Is(err, errNotLoggedIn) {
			fmt.Fprintln(e.stderr, "Not logged in. Run: da auth login")
			return ExitAuth
		}
		return e.fail("auth whoami", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]any{"server": s.server, "token_source": s.tokenSource}
	me, err := c.Me(ctx)
	switch {
	case err == nil:
		out["email"], out["role"], out["user_id"], out["name"], out["verified"] = me.Email, me.Role, me.ID, me.Name, true
		if len(me.Allows) > 0 {
			out["allows"], out["admins"] = me.Allows, me.Admins
		}
	case client.IsNetwork(err):
		claims := jwtClaims(s.token)
		em, role := s.email, s.role
		if em == "" {
			em = str(claims, "email")
		}
		if role == "" {
			role = str(claims, "role")
		}
		if em == "" {
			return e.fail("auth whoami", err)
		}
		out["email"], out["role"], out["verified"] = em, role, false
	default:
		return e.fail("auth whoami", err)
	}
	if *asJSON {
		return e.printJSON(out)
	}
	fmt.Fprintf(e.stdout, "Email:  %s\nRole:   %s\nServer: %s\n", out["email"], out["role"], s.server)
	if out["verified"] == false {
		fmt.Fprintln(e.stdout, "(server unreachable: shown from the saved login, not verified)")
	}
	if me != nil && len(me.Allows) > 0 {
		fmt.Fprintf(e.stdout, "Your role may: %s\n", strings.Join(me.Allows, "; "))
		if me.Role == "viewer" && len(me.Admins) > 0 {
			fmt.Fprintf(e.stdout, "Querying and downloading need the analyst role: ask %s\n", strings.Join(me.Admins, ", "))
		}
	}
	return ExitOK
}

// jwtClaims decodes a JWT's payload without verifying it (display only); nil if it is not a
// JWT.
func jwtClaims(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// printJSON writes v as indented JSON to stdout.
func (e *env) printJSON(v any) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return e.fail("output", err)
	}
	return ExitOK
}
