package handlers

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"da/auth"
)

// TestAccessRequestsAdminSide: approving updates the pending count on the page, decided
// requests are listed, an admin (who reads everything) gets no request form, and the
// catalog's dialog has one "Request access" heading, not two.
func TestAccessRequestsAdminSide(t *testing.T) {
	env := newTestEnv(t)
	env.privateTable("in.c-sales.orders")
	v := env.signedIn(auth.RoleViewer)
	v.do("GET", "/access-requests", nil)
	if rec := v.do("POST", "/access-requests", url.Values{"_csrf": {v.csrf}, "table_id": {"in.c-sales.orders"}, "reason": {"Q3"}}); rec.Code != 303 {
		t.Fatalf("request: %d", rec.Code)
	}
	dlg := v.htmx("GET", "/access-requests/new?table=in.c-sales.orders", nil).Body.String()
	if n := strings.Count(dlg, "Request access"); n != 1 {
		t.Errorf("the dialog says \"Request access\" %d times", n)
	}

	a := env.signedIn(auth.RoleAdmin)
	page := a.do("GET", "/access-requests", nil).Body.String()
	for _, w := range []string{`id="queue-pending"`, "1 pending", `data-testid="decided-empty"`, `data-testid="request-none"`} {
		if !strings.Contains(page, w) {
			t.Errorf("admin page lacks %q", w)
		}
	}
	for _, f := range []string{`data-testid="request-submit"`, `data-testid="request-reason"`} {
		if strings.Contains(page, f) {
			t.Errorf("admin page offers %q although every table is readable", f)
		}
	}
	rs, _ := env.store.ListPendingAccessRequests(context.Background())
	if len(rs) != 1 {
		t.Fatalf("pending: %d", len(rs))
	}
	rec := a.htmx("POST", "/access-requests/"+rs[0].ID+"/approve", nil)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `id="queue-pending"`) || !strings.Contains(body, `hx-swap-oob="true"`) || !strings.Contains(body, "0 pending") {
		t.Errorf("approve does not update the pending count: %d %s", rec.Code, truncate(body))
	}
	page = a.do("GET", "/access-requests", nil).Body.String()
	if !strings.Contains(page, `data-testid="decided-row"`) || !strings.Contains(page, "viewer@example.com") || !strings.Contains(page, "0 pending") {
		t.Errorf("the decided request is not listed: %s", truncate(page))
	}
	// A viewer does not see the admin sections.
	if mine := v.do("GET", "/access-requests", nil).Body.String(); strings.Contains(mine, "decided-requests") || strings.Contains(mine, "queue-pending") {
		t.Error("a viewer sees the admin sections")
	}
}
