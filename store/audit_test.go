package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestAuditLogQueryCount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		base := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
		entries := []AuditEntry{
			{UserID: "a", Action: "login_success", Resource: "a@x.io", Timestamp: base},
			{UserID: "a", Action: "permission_grant", Resource: "orders", Timestamp: base.Add(time.Minute),
				Params: map[string]any{"user_id": "b", "password": "hunter2", "setup_token": "s", "token_hash": "h", "Client_Secret": "c", "token_id": "keep"}},
			{UserID: "b", Action: "login_failure", Resource: "b@x.io", Result: "Invalid email or password", Timestamp: base.Add(2 * time.Minute)},
			{Action: "login_failure", Resource: "ghost@x.io", Timestamp: base.Add(3 * time.Minute), DurationMS: 12},
			{UserID: "a", Action: "POST /api/query", Resource: "Orders_2026", Timestamp: base.Add(4 * time.Minute)},
		}
		for i := range entries {
			if err := s.LogAudit(ctx, &entries[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.LogAudit(ctx, &AuditEntry{}); err == nil {
			t.Error("empty action accepted")
		}
		cases := []struct {
			name    string
			f       AuditFilter
			wantIDs []int // indexes into entries, newest first
			total   int
		}{
			{"all newest first", AuditFilter{}, []int{4, 3, 2, 1, 0}, 5},
			{"by user", AuditFilter{UserID: "a"}, []int{4, 1, 0}, 3},
			{"events", AuditFilter{Kind: AuditEvents}, []int{3, 2, 1, 0}, 4},
			{"requests", AuditFilter{Kind: AuditRequests}, []int{4}, 1},
			{"search resource", AuditFilter{Search: "ORDERS"}, []int{4, 1}, 2},
			{"action prefix", AuditFilter{ActionPrefix: "login_"}, []int{3, 2, 0}, 3},
			{"by action", AuditFilter{Action: "login_failure"}, []int{3, 2}, 2},
			{"by resource", AuditFilter{Resource: "orders"}, []int{1}, 1},
			{"since", AuditFilter{Since: base.Add(90 * time.Second)}, []int{4, 3, 2}, 3},
			{"limit", AuditFilter{Limit: 1}, []int{4}, 5},
			{"offset", AuditFilter{Limit: 2, Offset: 3}, []int{1, 0}, 5},
			{"offset past end", AuditFilter{Offset: 10}, nil, 5},
			{"combined", AuditFilter{UserID: "b", Action: "login_failure"}, []int{2}, 1},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.QueryAudit(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.wantIDs) {
					t.Fatalf("got %d entries, want %d", len(got), len(tc.wantIDs))
				}
				for i, idx := range tc.wantIDs {
					if got[i].ID != entries[idx].ID {
						t.Errorf("entry %d = %s, want %s", i, got[i].Action, entries[idx].Action)
					}
				}
				n, err := s.CountAudit(ctx, tc.f)
				if err != nil || n != tc.total {
					t.Errorf("count = %d, %v; want %d", n, err, tc.total)
				}
			})
		}
		got, _ := s.QueryAudit(ctx, AuditFilter{Resource: "orders"})
		p := got[0].Params
		if p["user_id"] != "b" || p["token_id"] != "keep" || len(p) != 2 {
			t.Errorf("params = %v: secrets must be dropped, others kept", p)
		}
		var raw string
		if err := s.DB.QueryRow(`SELECT CAST(params AS VARCHAR) FROM audit_log WHERE resource = 'orders'`).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"hunter2", "password", `"s"`, `"h"`, "Client_Secret"} {
			if strings.Contains(raw, secret) {
				t.Errorf("stored params %s contain %q", raw, secret)
			}
		}
		ghost, _ := s.QueryAudit(ctx, AuditFilter{Resource: "ghost@x.io"})
		if ghost[0].UserID != "" || ghost[0].DurationMS != 12 || !ghost[0].Timestamp.Equal(base.Add(3*time.Minute)) {
			t.Errorf("ghost entry %+v", ghost[0])
		}
	})
}

func TestAuditLimitCapped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		if _, err := s.DB.Exec(`INSERT INTO audit_log (id, action, params) SELECT 'id' || i, 'x', '[1,2]' FROM generate_series(1, 600) r(i)`); err != nil {
			t.Fatal(err)
		}
		got, err := s.QueryAudit(ctx, AuditFilter{Limit: 10000})
		if err != nil || len(got) != MaxAuditLimit {
			t.Fatalf("got %d, %v; want %d", len(got), err, MaxAuditLimit)
		}
		if v, ok := got[0].Params["value"].([]any); !ok || len(v) != 2 {
			t.Errorf("non-object params read as %v", got[0].Params)
		}
		def, _ := s.QueryAudit(ctx, AuditFilter{})
		if len(def) != DefaultAuditLimit {
			t.Errorf("default limit gave %d", len(def))
		}
	})
}
