package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"da/client"
)

// adminClient runs a server-side `da admin` command; ok is false for an unknown command.
func (e *env) adminClient(args []string) (code int, ok bool) {
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "users", "list-users":
		return e.adminListUsers(rest), true
	case "add-user":
		return e.adminAddUser(rest), true
	case "remove-user":
		return e.adminRemoveUser(rest), true
	case "set-role":
		return e.adminSetRole(rest), true
	case "register-table":
		return e.adminRegisterTable(rest), true
	case "list-tables":
		return e.adminListTables(rest), true
	case "permissions":
		return e.adminPermissions(rest), true
	case "grant":
		return e.adminGrant(rest), true
	case "revoke":
		return e.adminRevoke(rest), true
	case "jira":
		return e.adminJira(rest), true
	}
	return 0, false
}

// adminListUsers is `da admin users`.
func (e *env) adminListUsers(args []string) int {
	fs := flag.NewFlagSet("admin users", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, code, ok := e.parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("admin users", err)
	}
	us, err := c.ListUsers(context.Background())
	if err != nil {
		return e.fail("admin users", err)
	}
	if *asJSON {
		return e.printJSON(us)
	}
	rows := make([][]any, 0, len(us))
	for _, u := range us {
		active := any(nil)
		if u.Active != nil {
			active = *u.Active
		}
		rows = append(rows, []any{u.Email, u.Role, active, u.ID})
	}
	if err := writeTable(e.stdout, []string{"email", "role", "active", "id"}, rows); err != nil {
		return e.fail("admin users", err)
	}
	return ExitOK
}

// adminAddUser is `da admin add-user EMAIL`.
func (e *env) adminAddUser(args []string) int {
	fs := flag.NewFlagSet("admin add-user", flag.ContinueOnError)
	name := fs.String("name", "", "display name (default: the e-mail's local part)")
	role := fs.String("role", "analyst", "viewer, analyst, km_admin or admin")
	password := fs.String("password", "", "initial password (at least 8 characters); without it a one-time set-up link is printed")
	pos, code, ok := e.parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("admin add-user", err)
	}
	nu := client.NewUser{Email: pos[0], Name: *name, Role: *role}
	if *password != "" {
		nu.Password = password
	}
	u, err := c.CreateUser(context.Background(), nu)
	if err != nil {
		return e.fail("admin add-user", err)
	}
	fmt.Fprintf(e.stdout, "Created user: %s (id: %s, role: %s)\n", u.Email, u.ID, u.Role)
	if u.SetupURL != "" {
		fmt.Fprintf(e.stdout, "Password set-up link (shown once): %s\n", u.SetupURL)
	}
	return ExitOK
}

// adminRemoveUser is `da admin remove-user USER_ID`.
func (e *env) adminRemoveUser(args []string) int {
	fs := flag.NewFlagSet("admin remove-user", flag.ContinueOnError)
	pos, code, ok := e.parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("admin remove-user", err)
	}
	id, err := resolveUser(context.Background(), c, pos[0])
	if err != nil {
		return e.fail("admin remove-user", err)
	}
	if err := c.DeleteUser(context.Background(), id); err != nil {
		return e.fail("admin remove-user", err)
	}
	fmt.Fprintln(e.stdout, "User removed.")
	return ExitOK
}

// adminSetRole is `da admin set-role USER_ID ROLE`.
func (e *env) adminSetRole(args []string) int {
	fs := flag.NewFlagSet("admin set-role", flag.ContinueOnError)
	pos, code, ok := e.parseArgs(fs, args, 2, 2)
	if !ok {
		return code
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("admin set-role", err)
	}
	id, err := resolveUser(context.Background(), c, pos[0])
	if err != nil {
		return e.fail("admin set-role", err)
	}
	u, err := c.UpdateUser(context.Background(), id, &pos[1], nil)
	if err != nil {
		return e.fail("admin set-role", err)
	}
	fmt.Fprintf(e.stdout, "%s is now %s\n", u.Email, u.Role)
	return ExitOK
}

// adminRegisterTable is `da admin register-table NAME`; an existing table is not an error.
func (e *env) adminRegisterTable(args []string) int {
	fs := flag.NewFlagSet("admin register-table", flag.ContinueOnError)
	var t client.RegisterTable
	fs.StringVar(&t.SourceType, "source-type", "", "source type, e.g. upload, demo or keboola (default: the server's data source)")
	fs.StringVar(&t.Bucket, "bucket", "", "source bucket")
	fs.StringVar(&t.SourceTable, "source-table", "", "table name in the source (default: NAME)")
	fs.StringVar(&t.QueryMode, "query-mode", "local", "local or remote")
	fs.StringVar(&t.Description, "description", "", "description")
	pos, code, ok := e.parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	t.Name = pos[0]
	if t.SourceTable == "" {
		t.SourceTable = t.Name
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("admin register-table", err)
	}
	if _, err := c.RegisterTable(context.Background(), t); err != nil {
		if client.StatusOf(err) == 409 {
			fmt.Fprintf(e.stdout, "Already exists: %s\n", t.Name)
			return ExitOK
		}
		return e.fail("admin register-table", err)
	}
	fmt.Fprintf(e.stdout, "Registered: %s\n", t.Name)
	return ExitOK
}

// adminListTables is `da admin list-tables`.
func (e *env) adminListTables(args []string) int {
	fs := flag.NewFlagSet("admin list-tables", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, code, ok := e.parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("admin list-tables", err)
	}
	ts, err := c.ListRegistry(context.Background())
	if err != nil {
		return e.fail("admin list-tables", err)
	}
	if *asJSON {
		return e.printJSON(map[string]any{"tables": ts, "count": len(ts)})
	}
	fmt.Fprintf(e.stdout, "Registered tables: %d\n", len(ts))
	rows := make([][]any, 0, len(ts))
	for _, t := range ts {
		rows = append(rows, []any{t.Name, t.SourceType, t.QueryMode, t.Bucket, t.IsPublic})
	}
	if err := writeTable(e.stdout, []string{"name", "source", "mode", "bucket", "public"}, rows); err != nil {
		return e.fail("admin list-tables", err)
	}
	return ExitOK
}

// adminPermissions is `da admin permissions [USER_ID]`.
func (e *env) adminPermissions(args []string) int {
	fs := flag.NewFlagSet("admin permissions", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, code, ok := e.parseArgs(fs, args, 0, 1)
	if !ok {
		return code
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("admin permissions", err)
	}
	user := ""
	if len(pos) == 1 {
		if user, err = resolveUser(context.Background(), c, pos[0]); err != nil {
			return e.fail("admin permissions", err)
		}
	}
	ps, err := c.ListPermissions(context.Background(), user)
	if err != nil {
		return e.fail("admin permissions", err)
	}
	if *asJSON {
		return e.printJSON(map[string]any{"permissions": ps})
	}
	rows := make([][]any, 0, len(ps))
	for _, p := range ps {
		rows = append(rows, []any{p.UserID, p.Dataset, p.Access})
	}
	if err := writeTable(e.stdout, []string{"user_id", "dataset", "access"}, rows); err != nil {
		return e.fail("admin permissions", err)
	}
	return ExitOK
}

// adminGrant is `da admin grant USER_ID TABLE`.
func (e *env) adminGrant(args []string) int {
	fs := flag.NewFlagSet("admin grant", flag.ContinueOnError)
	access := fs.String("access", "read", "read or none")
	pos, code, ok := e.parseArgs(fs, args, 2, 2)
	if !ok {
		return code
	}
	if *access != "read" && *access != "none" {
		fmt.Fprintf(e.stderr, "da admin grant: --access must be read or none, got %q\n", *access)
		return ExitUsage
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("admin grant", err)
	}
	id, err := resolveUser(context.Background(), c, pos[0])
	if err != nil {
		return e.fail("admin grant", err)
	}
	if err := c.Grant(context.Background(), id, pos[1], *access); err != nil {
		return e.fail("admin grant", err)
	}
	fmt.Fprintf(e.stdout, "Granted %s on %s to %s\n", *access, strings.ToLower(pos[1]), pos[0])
	return ExitOK
}

// adminRevoke is `da admin revoke USER_ID TABLE`.
func (e *env) adminRevoke(args []string) int {
	fs := flag.NewFlagSet("admin revoke", flag.ContinueOnError)
	pos, code, ok := e.parseArgs(fs, args, 2, 2)
	if !ok {
		return code
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("admin revoke", err)
	}
	id, err := resolveUser(context.Background(), c, pos[0])
	if err != nil {
		return e.fail("admin revoke", err)
	}
	if err := c.Revoke(context.Background(), id, pos[1]); err != nil {
		return e.fail("admin revoke", err)
	}
	fmt.Fprintf(e.stdout, "Revoked %s's access to %s\n", pos[0], pos[1])
	return ExitOK
}

// resolveUser turns a USER argument into a user id: an e-mail is looked up in the user
// list, anything else is taken as the id.
func resolveUser(ctx context.Context, c *client.Client, arg string) (string, error) {
	if !strings.Contains(arg, "@") {
		return arg, nil
	}
	us, err := c.ListUsers(ctx)
	if err != nil {
		return "", err
	}
	for _, u := range us {
		if strings.EqualFold(strings.TrimSpace(u.Email), strings.TrimSpace(arg)) {
			return u.ID, nil
		}
	}
	return "", &cliError{code: ExitNotFound, msg: fmt.Sprintf("no user has the e-mail %q: see `da admin users`", arg)}
}
