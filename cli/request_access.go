package cli

import (
	"context"
	"flag"
	"fmt"
)

// requestAccessCmd is `da request-access TABLE [--reason R]`.
func (e *env) requestAccessCmd(args []string) int {
	fs := flag.NewFlagSet("request-access", flag.ContinueOnError)
	reason := fs.String("reason", "", "why you need the table (shown to the admins)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, code, ok := e.parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("request-access", err)
	}
	r, err := c.RequestAccess(context.Background(), pos[0], *reason)
	if err != nil {
		return e.fail("request-access", err)
	}
	if *asJSON {
		return e.printJSON(r)
	}
	fmt.Fprintf(e.stdout, "Requested access to %s (request %s, %s). An admin will review it; run `da sync` once approved.\n", r.TableID, r.ID, r.Status)
	return ExitOK
}
