package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"da/config"
	"da/engine"
	"da/handlers"
	"da/store"
)

// Demo admin credentials, printed at start so a newcomer can sign in.
const (
	demoAdminEmail    = "admin@demo.local"
	demoAdminPassword = "demo-admin-pass"
)

// demoLogin is what the login page of a demo instance shows; nil when not in demo mode.
func demoLogin(demo bool) *handlers.DemoLogin {
	if !demo {
		return nil
	}
	return &handlers.DemoLogin{Email: demoAdminEmail, Password: demoAdminPassword}
}

// loadDemo prepares the demo instance: the demo data set as a public source, and a demo admin
// whose credentials are printed.
func loadDemo(ctx context.Context, cfg *config.Config, st *store.Store, pub *engine.Publisher, log *slog.Logger, url string) error {
	_, err := st.GetUserByEmail(ctx, demoAdminEmail)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if _, err := handlers.CreateFirstAdmin(ctx, st, demoAdminEmail, "Demo Admin", demoAdminPassword); err != nil {
			return fmt.Errorf("demo admin: %w", err)
		}
		log.Info("demo admin created", "email", demoAdminEmail)
	case err != nil:
		return err
	}
	if err := pub.LoadDemo(ctx, demoAdminEmail); err != nil {
		return err
	}
	if err := seedDemoMemory(ctx, st); err != nil {
		return fmt.Errorf("demo knowledge: %w", err)
	}
	fmt.Printf("\n  Demo instance ready. Open %s and sign in as %s / %s\n\n", url, demoAdminEmail, demoAdminPassword)
	return nil
}

// browseURL is the address a person on this machine opens to reach a listener.
func browseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// demoCmd is `da demo load`: load the demo data set and demo admin into a stopped instance.
func (e *env) demoCmd(args []string) int {
	if len(args) > 0 && isHelpArg(args[0]) {
		printGroupHelp(e.stdout, "demo")
		return ExitOK
	}
	if len(args) == 0 || args[0] != "load" {
		printGroupHelp(e.stderr, "demo")
		return ExitUsage
	}
	fs := flag.NewFlagSet("demo load", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "data directory (env DATA_DIR, default ./data)")
	if code, ok := e.parseFlags(fs, args[1:]); !ok {
		return code
	}
	var ov config.Overrides
	if *dataDir != "" {
		ov.DataDir = dataDir
	}
	cfg, err := config.Load(e.getenv, ov)
	if err != nil {
		fmt.Fprintf(e.stderr, "da demo load: invalid configuration:\n%v\n", err)
		return ExitUsage
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "state"), 0o700); err != nil {
		fmt.Fprintf(e.stderr, "da demo load: %v\n", err)
		return ExitError
	}
	st, err := openState(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "da demo load: %v\n(if the server is running, restart it with --demo instead)\n", err)
		return ExitError
	}
	defer st.Close()
	ctx := context.Background()
	_, pub := openEngine(ctx, cfg, st, log)
	if err := loadDemo(ctx, cfg, st, pub, log, cfg.ServerURL); err != nil {
		fmt.Fprintf(e.stderr, "da demo load: %v\n", err)
		return ExitError
	}
	return ExitOK
}

// demoMemory is the demo's corporate memory: what an analyst team knows about the demo data.
var demoMemory = []store.KnowledgeItem{
	{Title: "Revenue means completed payments, net of refunds", Category: "metrics", Tags: []string{"revenue", "orders", "payments"}, Status: store.KnowledgeMandatory,
		Audience: "everyone", Content: "Revenue is the sum of payments.amount with status 'completed'. Refunded payments (status 'refunded') are not revenue.\nDo not sum order_items.line_total for revenue: it ignores order-level discounts and shipping; orders.total_amount has both."},
	{Title: "B2B means segment b2b_small or b2b_enterprise", Category: "definitions", Tags: []string{"customers", "segments"}, Status: store.KnowledgeApproved,
		Content: "When a stakeholder says \"B2B\" they mean customers.segment in ('b2b_small', 'b2b_enterprise'); everything else is b2c.\nThe segment is the one at registration; it is not updated when a customer grows."},
	{Title: "Failed payment attempts are rows too", Category: "data-quality", Tags: []string{"payments"}, Status: store.KnowledgeApproved,
		Content: "payments holds every attempt, including failed ones (status 'failed'). Filter on status before joining payments to orders, or orders with a retry are counted twice."},
	{Title: "Campaign ROI uses spend, not budget", Category: "metrics", Tags: []string{"marketing", "campaigns"}, Status: store.KnowledgeApproved,
		Content: "ROI = attributed revenue / campaigns.spend. The budget is the plan; spend is what was paid.\nAttribute a session to a campaign through web_sessions.campaign_id."},
	{Title: "Satisfaction is only asked on resolved and closed tickets", Category: "data-quality", Tags: []string{"support"}, Status: store.KnowledgeApproved,
		Content: "support_tickets.satisfaction_score is NULL for open tickets and for about 30% of closed ones (no answer). Average it over the tickets that have a score and say so in the chart title."},
	{Title: "Report bounce rate per device type", Category: "metrics", Tags: []string{"web", "marketing"}, Status: store.KnowledgePending,
		Content: "Proposal: always split web_sessions.is_bounce by device_type. Mobile bounces much more often than desktop, so a change in the device mix moves the overall rate on its own."},
}

// seedDemoMemory adds the demo's knowledge items once, when the corporate memory is empty.
func seedDemoMemory(ctx context.Context, st *store.Store) error {
	_, total, err := st.ListKnowledge(ctx, store.KnowledgeFilter{SeeAll: true, Limit: 1})
	if err != nil || total > 0 {
		return err
	}
	for _, k := range demoMemory {
		k.SourceUser = demoAdminEmail
		if err := st.CreateKnowledge(ctx, &k); err != nil {
			return err
		}
	}
	return nil
}
