package store

import (
	"context"
	"errors"
	"testing"
)

// TestAuditEntryCommitsWithItsChange checks writeTx's audit contract: the entry in the
// context is inserted in the change's transaction, once; a failing insert rolls the change
// back; a scope's generic entry goes with the first write that has no entry of its own; a
// write that matched no row records nothing.
func TestAuditEntryCommitsWithItsChange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		s := open(t)
		ctx := context.Background()
		count := func(action string) int {
			t.Helper()
			n, err := s.CountAudit(ctx, AuditFilter{Action: action})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}

		// The entry is written with the change, gets the created row's id, and only once.
		actx := WithAuditEntry(ctx, &AuditEntry{Action: "user_create", Params: map[string]any{"password": "never"}})
		u := &User{Email: "a@example.com"}
		if err := s.CreateUser(actx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.SetUserPassword(actx, u.ID, "h"); err != nil {
			t.Fatal(err)
		}
		got, err := s.QueryAudit(ctx, AuditFilter{Action: "user_create"})
		if err != nil || len(got) != 1 || got[0].Resource != u.ID || got[0].Params["password"] != nil {
			t.Fatalf("user_create rows = %+v, %v", got, err)
		}

		// A failing insert rolls the change back.
		if _, err := s.DB.ExecContext(ctx, `ALTER TABLE audit_log RENAME TO audit_log_away`); err != nil {
			t.Fatal(err)
		}
		fctx := WithAuditEntry(ctx, &AuditEntry{Action: "user_update"})
		role := "viewer"
		if _, err := s.PatchUser(fctx, u.ID, UserPatch{Role: &role}); err == nil {
			t.Fatal("PatchUser succeeded although its audit row could not be written")
		}
		if _, err := s.DB.ExecContext(ctx, `ALTER TABLE audit_log_away RENAME TO audit_log`); err != nil {
			t.Fatal(err)
		}
		if back, _ := s.GetUserByID(ctx, u.ID); back.Role != DefaultRole {
			t.Fatalf("the change committed without its audit row: role %q", back.Role)
		}
		// The entry was not used up by the failed attempt.
		if _, err := s.PatchUser(fctx, u.ID, UserPatch{Role: &role}); err != nil {
			t.Fatal(err)
		}
		if n := count("user_update"); n != 1 {
			t.Fatalf("user_update rows = %d", n)
		}

		// A scope's generic entry goes with the first write only.
		sctx, scope := WithAuditScope(ctx, func() *AuditEntry { return &AuditEntry{Action: "POST /x"} })
		if _, err := s.Grant(sctx, u.ID, "orders", AccessRead); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Grant(sctx, u.ID, "sales", AccessRead); err != nil {
			t.Fatal(err)
		}
		if n := count("POST /x"); n != 1 || !scope.Recorded() {
			t.Fatalf("generic rows = %d, recorded %v", n, scope.Recorded())
		}

		// A write that matched nothing records nothing.
		k := &KnowledgeItem{Title: "t"}
		if err := s.CreateKnowledge(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := s.SetKnowledgeStatus(WithAuditEntry(ctx, &AuditEntry{Action: "km_approve"}), "nope", KnowledgeApproved, nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown item: %v", err)
		}
		if n := count("km_approve"); n != 0 {
			t.Fatalf("a change that did not happen has %d audit rows", n)
		}
	})
}
