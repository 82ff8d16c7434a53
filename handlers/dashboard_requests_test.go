package handlers

import (
	"context"
	"strings"
	"testing"

	"da/auth"
	"da/store"
)

// The requester sees the decision on their access request on the dashboard.
func TestDashboardShowsRequestDecisions(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	analyst := env.users[auth.RoleAnalyst]
	for _, id := range []string{"payroll", "bonuses", "forecast"} {
		if err := env.store.RegisterTable(ctx, &store.Table{ID: id, Name: id, SourceType: "upload", IsPublic: false}); err != nil {
			t.Fatal(err)
		}
	}
	reqs := map[string]*store.AccessRequest{}
	for _, id := range []string{"payroll", "bonuses", "forecast"} {
		r := &store.AccessRequest{UserID: analyst.ID, UserEmail: analyst.Email, TableID: id, Reason: "work"}
		if err := env.store.CreateAccessRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
		reqs[id] = r
	}
	if _, err := env.store.ApproveAccessRequest(ctx, reqs["payroll"].ID, "admin@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.store.DenyAccessRequest(ctx, reqs["bonuses"].ID, "admin@example.com"); err != nil {
		t.Fatal(err)
	}
	b := env.browser()
	b.login(analyst.Email, testPassword)
	body := b.do("GET", "/dashboard", nil).Body.String()
	i := strings.Index(body, `data-testid="dashboard-requests"`)
	if i < 0 {
		t.Fatalf("no requests panel: %s", body)
	}
	panel := body[i:]
	for _, want := range []string{"payroll", "approved", "bonuses", "denied", "forecast", "pending", "by admin@example.com"} {
		if !strings.Contains(panel, want) {
			t.Errorf("requests panel lacks %q", want)
		}
	}
}
