package cli

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
)

// statusCmd is `da status`: server health, what is local and what is stale.
func (e *env) statusCmd(args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	local := fs.Bool("local", false, "show only the local state (no server call)")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, code, ok := e.parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	s, err := e.loadSession()
	if err != nil {
		return e.fail("status", err)
	}
	ws := e.workspace(s.configDir)
	st, err := loadSyncState(ws.statePath)
	if err != nil {
		return e.fail("status", err)
	}
	lastSync := st.LastSync
	if lastSync == "" {
		lastSync = "never"
	}
	local_ := make([]string, 0, len(st.Tables))
	for id := range st.Tables {
		local_ = append(local_, id)
	}
	sort.Strings(local_)
	if *local {
		if *asJSON {
			return e.printJSON(map[string]any{"mode": "local", "tables_synced": len(local_), "last_sync": lastSync, "tables": local_,
				"local_dir": ws.root})
		}
		fmt.Fprintf(e.stdout, "Mode: offline (local data)\nTables synced: %d\nLast sync: %s\nWorkspace: %s\n", len(local_), lastSync, ws.root)
		return ExitOK
	}
	ctx := context.Background()
	c := s.client()
	h, err := c.Health(ctx)
	if err != nil {
		code, msg := describeError(err)
		fmt.Fprintf(e.stderr, "da status: server %s: %s\n  Use --local for the offline status.\n", s.server, msg)
		return code
	}
	out := map[string]any{"mode": "server", "server": s.server, "status": h.Status, "version": h.Version, "services": h.Services,
		"tables_synced": len(local_), "last_sync": lastSync, "tables": local_}
	var stale, fresh, gone []string
	loggedIn := s.token != ""
	if loggedIn {
		man, err := c.Manifest(ctx)
		if err != nil {
			return e.fail("status", err)
		}
		subscribed, err := subscriptions(ctx, c)
		if err != nil {
			return e.fail("status", err)
		}
		for id, mt := range man.Tables {
			prev, ok := st.Tables[id]
			switch {
			case !mt.CanDownload():
			case len(subscribed) > 0 && !subscribed[strings.ToLower(id)]:
				// da sync does not take it: the user subscribes to other tables.
			case !ok:
				fresh = append(fresh, id)
			case prev.Hash != mt.Hash || mt.Hash == "":
				stale = append(stale, id)
			}
		}
		for id := range st.Tables {
			if _, ok := man.Tables[id]; !ok || (len(subscribed) > 0 && !subscribed[strings.ToLower(id)]) {
				gone = append(gone, id)
			}
		}
		sort.Strings(stale)
		sort.Strings(fresh)
		sort.Strings(gone)
		out["stale"], out["new"], out["gone"] = nonNil(stale), nonNil(fresh), nonNil(gone)
	}
	if *asJSON {
		return e.printJSON(out)
	}
	fmt.Fprintf(e.stdout, "Server: %s\nStatus: %s", s.server, h.Status)
	if h.Version != "" {
		fmt.Fprintf(e.stdout, " (version %s)", h.Version)
	}
	fmt.Fprintln(e.stdout)
	names := make([]string, 0, len(h.Services))
	for n := range h.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		svc := h.Services[n]
		var extra []string
		for _, k := range []string{"tables", "total_rows", "count", "detail"} {
			if v, ok := svc[k]; ok {
				extra = append(extra, fmt.Sprintf("%s=%v", k, v))
			}
		}
		if v, ok := svc["stale_tables"].([]any); ok && len(v) > 0 {
			extra = append(extra, fmt.Sprintf("stale=%v", v))
		}
		if v, ok := svc["failing_tables"].([]any); ok && len(v) > 0 {
			extra = append(extra, fmt.Sprintf("never_synced=%v", v))
		}
		fmt.Fprintf(e.stdout, "  %-14s %-8v %s\n", n, svc["status"], strings.Join(extra, " "))
	}
	fmt.Fprintf(e.stdout, "Local: %d %s synced, last sync %s (%s)\n", len(local_), plural(len(local_), "table", "tables"), lastSync, ws.root)
	if !loggedIn {
		fmt.Fprintln(e.stdout, "Not logged in: run `da auth login` to see which tables are stale.")
		return ExitOK
	}
	if len(stale)+len(fresh)+len(gone) == 0 {
		fmt.Fprintln(e.stdout, "Up to date.")
		return ExitOK
	}
	if len(stale) > 0 {
		fmt.Fprintf(e.stdout, "Changed on the server: %s\n", strings.Join(stale, ", "))
	}
	if len(fresh) > 0 {
		fmt.Fprintf(e.stdout, "New on the server: %s\n", strings.Join(fresh, ", "))
	}
	if len(gone) > 0 {
		fmt.Fprintf(e.stdout, "No longer available or not subscribed (removed on the next sync): %s\n", strings.Join(gone, ", "))
	}
	fmt.Fprintln(e.stdout, "Run `da sync` to update.")
	return ExitOK
}

// nonNil returns s, or an empty slice for nil (JSON [] rather than null).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
