package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/store"
)

// The replicas API and page list every replica on record, live ones first, and only admins
// may see them; health names this replica.
func TestReplicasListAndPage(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for _, r := range []store.Replica{
		{ID: "old-one", Version: "0.9", StartedAt: now.Add(-48 * time.Hour), HeartbeatAt: now.Add(-time.Hour), Generation: 2, IsLeader: true},
		{ID: "live-leader", Version: "1.0", StartedAt: now.Add(-time.Minute), HeartbeatAt: now, Generation: 7, IsLeader: true, Addr: "10.0.0.1:8000"},
	} {
		if err := env.store.HeartbeatReplica(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, role := range []auth.Role{auth.RoleViewer, auth.RoleAnalyst, auth.RoleKMAdmin} {
		if rec := env.do(request{method: "GET", path: "/api/admin/replicas", token: env.tokens[role]}); rec.Code != http.StatusForbidden {
			t.Fatalf("%s: %d %s", role, rec.Code, rec.Body)
		}
	}
	rec := env.do(request{method: "GET", path: "/api/admin/replicas", token: env.tokens[auth.RoleAdmin]})
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var out struct {
		Replicas []replicaView `json:"replicas"`
		Backend  string        `json:"backend"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Replicas) != 2 || out.Replicas[0].ID != "live-leader" || !out.Replicas[0].Live || !out.Replicas[0].IsLeader ||
		out.Replicas[0].Generation != 7 || out.Replicas[1].Live || out.Replicas[1].IsLeader || out.Backend != "duckdb" {
		t.Fatalf("replicas = %+v", out)
	}

	b := env.browser()
	b.login(env.users[auth.RoleAdmin].Email, testPassword)
	page := b.do("GET", "/admin/replicas", nil)
	body := page.Body.String()
	if page.Code != http.StatusOK {
		t.Fatalf("page: %d %s", page.Code, body)
	}
	for _, want := range []string{`data-testid="replicas-table"`, `data-testid="replica-row-live-leader"`, "Leader · runs jobs",
		`data-testid="replica-row-old-one"`, "Gone", "10.0.0.1:8000", `href="/admin/replicas"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Index(body, "replica-row-live-leader") > strings.Index(body, "replica-row-old-one") {
		t.Error("a live replica must come before a gone one")
	}
	viewer := env.browser()
	viewer.login(env.users[auth.RoleViewer].Email, testPassword)
	if rec := viewer.do("GET", "/admin/replicas", nil); rec.Code != http.StatusForbidden {
		t.Fatalf("viewer page: %d", rec.Code)
	}

	rec = env.do(request{method: "GET", path: "/api/health", token: env.tokens[auth.RoleAdmin]})
	var h struct {
		Replica map[string]any `json:"replica"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
		t.Fatal(err)
	}
	if h.Replica["backend"] != "duckdb" || h.Replica["is_leader"] != true || h.Replica["id"] == "" || h.Replica["id"] != h.Replica["leader"] {
		t.Fatalf("health replica = %v", h.Replica)
	}
}
