package store

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/postgresstore"
)

// populateState fills s through the store API with at least one row of every kind of state.
func populateState(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	admin := &User{Email: "admin@example.com", Name: "Admin", Role: "admin", PasswordHash: "hash-a", Active: true}
	ana := &User{Email: "ana@example.com", Name: "Ana", Role: "analyst", PasswordHash: "hash-b", Active: true}
	for _, u := range []*User{admin, ana} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetUserPassword(ctx, ana.ID, "hash-c"); err != nil { // moves valid_after
		t.Fatal(err)
	}
	exp := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Microsecond)
	if _, _, err := s.CreatePersonalToken(ctx, ana.ID, "laptop", "full", &exp); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []*Table{
		{ID: "in.c-sales.orders", Name: "orders", SourceType: "keboola", Bucket: "in.c-sales", Description: "Orders", IsPublic: false},
		{ID: "weather", Name: "weather", SourceType: "upload", RegisteredBy: ana.Email, IsPublic: true},
	} {
		if err := s.RegisterTable(ctx, tb); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Grant(ctx, ana.ID, "in.c-sales.*", "read"); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveProfile(ctx, "weather", []byte(`{"columns": [{"name": "t", "type": "DOUBLE"}]}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveQuery(ctx, &SavedQuery{UserID: ana.ID, Name: "daily", SQL: "SELECT 1", Shared: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.AddQueryRun(ctx, &QueryRun{UserID: ana.ID, SQL: "SELECT " + string(rune('a'+i)), StartedAt: time.Now().UTC().Add(time.Duration(i) * time.Second), Status: QueryOK, RowCount: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.LogAudit(ctx, &AuditEntry{UserID: admin.ID, Action: "grant", Resource: "in.c-sales.*", Params: map[string]any{"user": ana.Email, "n": 2.0}, Result: "ok", ClientIP: "10.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	k := &KnowledgeItem{Title: "Fiscal year", Content: "starts in April", Category: "finance", Tags: []string{"fy", "dates"}, Status: "approved", SourceUser: ana.Email, Contributors: []string{ana.Email}}
	if err := s.CreateKnowledge(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.VoteKnowledge(ctx, k.ID, admin.ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSyncSettings(ctx, ana.ID, map[string]bool{"in.c-sales": true}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := s.UpsertSyncState(ctx, SyncState{TableID: "in.c-sales.orders", LastSync: now, Rows: 42, Columns: 3, Hash: "h1", Status: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSyncHistory(ctx, SyncHistory{TableID: "in.c-sales.orders", SyncedAt: now, Rows: 42, DurationMS: 7, Status: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSyncJob(ctx, SyncJob{ID: "job-1", Trigger: "schedule", Status: "done", CreatedAt: now, StartedAt: now, FinishedAt: now.Add(time.Second), Tables: `[{"id":"in.c-sales.orders"}]`}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccessRequest(ctx, &AccessRequest{UserID: ana.ID, UserEmail: ana.Email, TableID: "in.c-sales.orders", Reason: "report"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ProbeWrite(ctx); err != nil {
		t.Fatal(err)
	}
	sessions := postgresstore.NewWithCleanupInterval(s.DB, 0)
	if err := sessions.Commit("sess-token", []byte{0, 1, 2, 250}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.QueryLog().Sync()
}

// stateAnswers is what the store API answers about a populated state, for comparing two
// stores. Generated ids and times are part of it: a copy keeps them.
func stateAnswers(t *testing.T, s *Store) map[string]any {
	t.Helper()
	ctx := context.Background()
	out := map[string]any{}
	must := func(name string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = v
	}
	users, err := s.ListUsers(ctx)
	must("users", users, err)
	ana, err := s.GetUserByEmail(ctx, "ana@example.com")
	must("ana", ana, err)
	toks, err := s.ListPersonalTokens(ctx, ana.ID)
	must("tokens", toks, err)
	tables, err := s.ListTables(ctx)
	must("tables", tables, err)
	perms, err := s.ListPermissions(ctx, "")
	must("permissions", perms, err)
	readable, err := s.ReadableTableIDs(ctx, ana.ID, ana.Email)
	must("readable", readable, err)
	prof, at, err := s.GetProfile(ctx, "weather")
	must("profile", []any{string(prof), at}, err)
	saved, err := s.ListSavedQueries(ctx, ana.ID)
	must("saved", saved, err)
	runs, err := s.ListQueryRuns(ctx, ana.ID, 100)
	must("runs", runs, err)
	audit, err := s.QueryAudit(ctx, AuditFilter{Limit: 100})
	must("audit", audit, err)
	items, n, err := s.ListKnowledge(ctx, KnowledgeFilter{SeeAll: true, Limit: 100})
	must("knowledge", []any{items, n}, err)
	subs, err := s.ListSyncSettings(ctx, ana.ID)
	must("subscriptions", subs, err)
	states, err := s.ListSyncStates(ctx)
	must("sync states", states, err)
	hist, err := s.ListSyncHistory(ctx, "in.c-sales.orders", 10)
	must("sync history", hist, err)
	jobs, err := s.ListSyncJobs(ctx)
	must("sync jobs", jobs, err)
	reqs, err := s.ListPendingAccessRequests(ctx)
	must("access requests", reqs, err)
	data, found, err := postgresstore.NewWithCleanupInterval(s.DB, 0).Find("sess-token")
	must("session", []any{data, found}, err)
	return out
}

func TestCopyStateToPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newTestStore(t)
	populateState(t, src)
	want := stateAnswers(t, src)

	dst := newPgTestStore(t)
	plan, err := CopyState(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	tables, _ := stateTables(ctx, src)
	if len(plan) != len(tables) {
		t.Fatalf("plan covers %d tables, the state has %d", len(plan), len(tables))
	}
	for _, tc := range plan {
		if (tc.Action != "copied" && tc.Action != "empty") || tc.Source != tc.Target || (tc.Action == "empty") != (tc.Source == 0) {
			t.Errorf("%+v", tc)
		}
		if tc.Table == "users" && tc.Source != 2 {
			t.Errorf("users: %+v", tc)
		}
	}
	got := stateAnswers(t, dst)
	for name, w := range want {
		if !reflect.DeepEqual(got[name], w) {
			t.Errorf("%s differs after the copy:\nduckdb   %#v\npostgres %#v", name, w, got[name])
		}
	}
	// The copy is a working store: writes go on from the copied rows.
	if err := dst.CreateUser(ctx, &User{Email: "ana@example.com", Role: "analyst", Active: true}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate e-mail on the copy: %v", err)
	}

	// Running it again verifies and changes nothing.
	again, err := CopyState(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range again {
		if (tc.Action != "verified" && tc.Action != "empty") || tc.Source != tc.Target {
			t.Errorf("re-run: %+v", tc)
		}
	}
	if n, _ := countRows(ctx, dst.DB, "users"); n != 2 {
		t.Errorf("users after re-run = %d", n)
	}

	// As many rows but other ones (here: another composite key) is not a copy either.
	if _, err := dst.DB.ExecContext(ctx, "UPDATE dataset_permissions SET dataset = 'other.*'"); err != nil {
		t.Fatal(err)
	}
	if _, err := CopyState(ctx, src, dst); !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), "dataset_permissions") {
		t.Fatalf("copy into a target with other keys: %v", err)
	}
	if _, err := dst.DB.ExecContext(ctx, "UPDATE dataset_permissions SET dataset = 'in.c-sales.*'"); err != nil {
		t.Fatal(err)
	}

	// A target holding other data is refused before anything is written.
	if err := src.CreateUser(ctx, &User{Email: "late@example.com", Role: "viewer", Active: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Grant(ctx, "someone", "weather", "read"); err != nil {
		t.Fatal(err)
	}
	before, _ := countRows(ctx, dst.DB, "dataset_permissions")
	_, err = CopyState(ctx, src, dst)
	if !errors.Is(err, ErrTargetNotEmpty) {
		t.Fatalf("copy into a differing target: %v", err)
	}
	if after, _ := countRows(ctx, dst.DB, "dataset_permissions"); after != before {
		t.Errorf("a refused copy wrote rows: %d -> %d", before, after)
	}
}
