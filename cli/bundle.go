package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"da/client"
)

// bundlePath is where `da sync` writes the knowledge bundle in the workspace; agents such
// as Claude Code read every file under .claude/rules.
var bundlePath = filepath.Join(".claude", "rules", "corporate-memory.md")

// bundleInfo is the knowledge part of a sync report.
type bundleInfo struct {
	Path    string `json:"path"`
	Items   int    `json:"items"`
	Omitted int    `json:"omitted"`
	Tokens  int    `json:"tokens"`
}

// writeBundle fetches the bundle and writes it into the workspace atomically.
func (e *env) writeBundle(ctx context.Context, c *client.Client, root string) (*bundleInfo, error) {
	b, err := c.MemoryBundle(ctx)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(root, bundlePath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.Markdown), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, p); err != nil {
		return nil, err
	}
	return &bundleInfo{Path: p, Items: b.Items, Omitted: b.Omitted, Tokens: b.Tokens}, nil
}

// memoryBundle is `da memory bundle`: print what `da sync` writes to .claude/rules.
func (e *env) memoryBundle(args []string) int {
	fs := flag.NewFlagSet("memory bundle", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON with the counts")
	if _, code, ok := e.parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("memory", err)
	}
	b, err := c.MemoryBundle(context.Background())
	if err != nil {
		return e.fail("memory", err)
	}
	if *asJSON {
		return e.printJSON(b)
	}
	fmt.Fprint(e.stdout, b.Markdown)
	return ExitOK
}
