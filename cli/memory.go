package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"da/client"
)

// memoryCmd is `da memory …`: the corporate memory from the command line.
func (e *env) memoryCmd(args []string) int {
	sub := "list"
	if len(args) > 0 && isHelpArg(args[0]) {
		printGroupHelp(e.stdout, "memory")
		return ExitOK
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "list", "ls", "search":
		return e.memoryList(args)
	case "show":
		return e.memoryShow(args)
	case "add":
		return e.memoryAdd(args)
	case "vote":
		return e.memoryVote(args)
	case "pending":
		return e.memoryPending(args)
	case "bundle":
		return e.memoryBundle(args)
	case "approve", "reject", "mandate", "revoke":
		return e.memoryGovern(sub, args)
	}
	fmt.Fprintf(e.stderr, "da memory: unknown sub-command %q\n\n", sub)
	printGroupHelp(e.stderr, "memory")
	return ExitUsage
}

func (e *env) memoryList(args []string) int {
	fs := flag.NewFlagSet("memory list", flag.ContinueOnError)
	var q client.MemoryQuery
	fs.StringVar(&q.Search, "search", "", "words in the title, content, category or tags")
	fs.StringVar(&q.Category, "category", "", "only this category")
	fs.StringVar(&q.Status, "status", "", "only this status (approved, mandatory, pending, …)")
	fs.StringVar(&q.Sort, "sort", "", "updated_at (default), created_at, score or title")
	fs.IntVar(&q.PerPage, "limit", 50, "at most this many items (1-200)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, code, ok := e.parseArgs(fs, args, 0, 1)
	if !ok {
		return code
	}
	if len(pos) == 1 && q.Search == "" {
		q.Search = pos[0] // da memory search WORDS
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("memory", err)
	}
	page, err := c.ListMemory(context.Background(), q)
	if err != nil {
		return e.fail("memory", err)
	}
	if *asJSON {
		return e.printJSON(page)
	}
	if len(page.Items) == 0 {
		fmt.Fprintln(e.stdout, "No knowledge items match. Contribute one with `da memory add`.")
		return ExitOK
	}
	total := page.Total
	if total < page.Count {
		total = page.Count // a server of the original sends no total
	}
	fmt.Fprintf(e.stdout, "%d of %d %s\n", page.Count, total, plural(total, "item", "items"))
	for _, m := range page.Items {
		cat := ""
		if m.Category != nil && *m.Category != "" {
			cat = " [" + *m.Category + "]"
		}
		fmt.Fprintf(e.stdout, "  %-36s  %-9s %+4d  %s%s\n", m.ID, m.Status, m.Score, m.Title, cat)
	}
	return ExitOK
}

func (e *env) memoryShow(args []string) int {
	fs := flag.NewFlagSet("memory show", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, code, ok := e.parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("memory", err)
	}
	m, err := c.MemoryItem(context.Background(), pos[0])
	if err != nil {
		return e.fail("memory", err)
	}
	if *asJSON {
		return e.printJSON(m)
	}
	fmt.Fprintf(e.stdout, "%s\n%s\n", m.Title, strings.Repeat("=", min(len(m.Title), 80)))
	line := func(label string, v *string) {
		if v != nil && *v != "" {
			fmt.Fprintf(e.stdout, "%-10s %s\n", label+":", *v)
		}
	}
	fmt.Fprintf(e.stdout, "%-10s %s\n", "Status:", m.Status)
	line("Category", m.Category)
	if tags := m.TagList(); len(tags) > 0 {
		fmt.Fprintf(e.stdout, "%-10s %s\n", "Tags:", strings.Join(tags, ", "))
	}
	line("Author", m.SourceUser)
	line("Audience", m.Audience)
	line("Updated", m.UpdatedAt)
	fmt.Fprintf(e.stdout, "%-10s %+d (%d up, %d down)\n\n%s\n", "Score:", m.Score, m.Upvotes, m.Downvotes, m.Content)
	return ExitOK
}

func (e *env) memoryAdd(args []string) int {
	fs := flag.NewFlagSet("memory add", flag.ContinueOnError)
	var m client.NewMemory
	fs.StringVar(&m.Title, "title", "", "a short title (required)")
	fs.StringVar(&m.Category, "category", "", "a category, e.g. metrics or data-quality")
	tags := fs.String("tags", "", "comma-separated tags")
	fs.StringVar(&m.Content, "content", "", "the knowledge itself")
	file := fs.String("file", "", "read the content from a file (- = standard input)")
	if _, code, ok := e.parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	if strings.TrimSpace(m.Title) == "" {
		fmt.Fprintln(e.stderr, "da memory add: --title is required")
		return ExitUsage
	}
	if *file != "" {
		if m.Content != "" {
			fmt.Fprintln(e.stderr, "da memory add: give either --content or --file, not both")
			return ExitUsage
		}
		var r io.Reader = e.stdin
		if *file != "-" {
			f, err := os.Open(*file)
			if err != nil {
				fmt.Fprintf(e.stderr, "da memory add: %v\n", err)
				return ExitUsage
			}
			defer f.Close()
			r = f
		}
		if r == nil {
			r = strings.NewReader("")
		}
		b, err := io.ReadAll(io.LimitReader(r, 1<<20))
		if err != nil {
			return e.fail("memory add", err)
		}
		m.Content = string(b)
	}
	for _, t := range strings.Split(*tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			m.Tags = append(m.Tags, t)
		}
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("memory add", err)
	}
	id, err := c.AddMemory(context.Background(), m)
	if err != nil {
		return e.fail("memory add", err)
	}
	fmt.Fprintf(e.stdout, "Contributed %s (pending review by a knowledge admin).\n", id)
	return ExitOK
}

func (e *env) memoryVote(args []string) int {
	fs := flag.NewFlagSet("memory vote", flag.ContinueOnError)
	pos, code, ok := e.parseArgs(fs, args, 2, 2)
	if !ok {
		return code
	}
	votes := map[string]int{"up": 1, "+1": 1, "1": 1, "down": -1, "-1": -1, "clear": 0, "0": 0, "withdraw": 0}
	v, known := votes[strings.ToLower(pos[1])]
	if !known {
		fmt.Fprintf(e.stderr, "da memory vote: the vote must be up, down or clear, not %q\n", pos[1])
		return ExitUsage
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("memory vote", err)
	}
	r, err := c.VoteMemory(context.Background(), pos[0], v)
	if err != nil {
		return e.fail("memory vote", err)
	}
	fmt.Fprintf(e.stdout, "%s: %d up, %d down\n", pos[0], r.Upvotes, r.Downvotes)
	return ExitOK
}

func (e *env) memoryPending(args []string) int {
	fs := flag.NewFlagSet("memory pending", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, code, ok := e.parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("memory pending", err)
	}
	items, err := c.PendingMemory(context.Background())
	if err != nil {
		return e.fail("memory pending", err)
	}
	if *asJSON {
		return e.printJSON(map[string]any{"items": items, "count": len(items)})
	}
	if len(items) == 0 {
		fmt.Fprintln(e.stdout, "Nothing awaits review.")
		return ExitOK
	}
	for _, m := range items {
		author := ""
		if m.SourceUser != nil {
			author = *m.SourceUser
		}
		fmt.Fprintf(e.stdout, "  %-36s  %s (by %s)\n", m.ID, m.Title, author)
	}
	return ExitOK
}

func (e *env) memoryGovern(action string, args []string) int {
	fs := flag.NewFlagSet("memory "+action, flag.ContinueOnError)
	reason := fs.String("reason", "", "why (recorded in the audit log)")
	audience := fs.String("audience", "", "who a mandatory item applies to (mandate)")
	pos, code, ok := e.parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	_, c, err := e.authedClient()
	if err != nil {
		return e.fail("memory "+action, err)
	}
	status, err := c.GovernMemory(context.Background(), action, pos[0], *reason, *audience)
	if err != nil {
		return e.fail("memory "+action, err)
	}
	fmt.Fprintf(e.stdout, "%s is now %s.\n", pos[0], status)
	return ExitOK
}
