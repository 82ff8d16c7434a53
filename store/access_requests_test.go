package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestAccessRequestLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		r1 := &AccessRequest{UserID: "u1", UserEmail: "u1@x.io", TableID: "orders", Reason: "month end"}
		if err := s.CreateAccessRequest(ctx, r1); err != nil {
			t.Fatal(err)
		}
		if r1.ID == "" || r1.Status != RequestPending || r1.CreatedAt.IsZero() {
			t.Fatalf("created %+v", r1)
		}
		dup := &AccessRequest{UserID: "u1", UserEmail: "u1@x.io", TableID: "ORDERS"}
		if err := s.CreateAccessRequest(ctx, dup); !errors.Is(err, ErrConflict) {
			t.Errorf("duplicate pending: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
		r2 := &AccessRequest{UserID: "u1", UserEmail: "u1@x.io", TableID: "customers"}
		r3 := &AccessRequest{UserID: "u2", UserEmail: "u2@x.io", TableID: "orders"}
		for _, r := range []*AccessRequest{r2, r3} {
			time.Sleep(2 * time.Millisecond)
			if err := s.CreateAccessRequest(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := s.HasPendingAccessRequest(ctx, "u1", "Orders"); !ok || err != nil {
			t.Errorf("HasPending = %v, %v", ok, err)
		}
		mine, err := s.ListAccessRequestsByUser(ctx, "u1")
		if err != nil || len(mine) != 2 || mine[0].ID != r2.ID || mine[1].ID != r1.ID {
			t.Fatalf("by user (newest first): %+v, %v", mine, err)
		}
		got, err := s.GetAccessRequest(ctx, r1.ID)
		if err != nil || got.Reason != "month end" || got.ReviewedAt != nil {
			t.Errorf("get: %+v %v", got, err)
		}
		if _, err := s.GetAccessRequest(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("get unknown: %v", err)
		}

		a, err := s.ApproveAccessRequest(ctx, r1.ID, "admin@x.io")
		if err != nil || a.Status != RequestApproved || a.ReviewedBy != "admin@x.io" || a.ReviewedAt == nil {
			t.Fatalf("approve: %+v %v", a, err)
		}
		perms, _ := s.ListPermissions(ctx, "u1")
		if len(perms) != 1 || perms[0] != (Permission{"u1", "orders", "read"}) {
			t.Errorf("approval did not grant read: %v", perms)
		}
		if _, err := s.ApproveAccessRequest(ctx, r1.ID, "admin@x.io"); !errors.Is(err, ErrConflict) {
			t.Errorf("approve twice: %v", err)
		}
		if _, err := s.DenyAccessRequest(ctx, r1.ID, "admin@x.io"); !errors.Is(err, ErrConflict) {
			t.Errorf("deny approved: %v", err)
		}
		d, err := s.DenyAccessRequest(ctx, r3.ID, "admin@x.io")
		if err != nil || d.Status != RequestDenied {
			t.Fatalf("deny: %+v %v", d, err)
		}
		if perms, _ := s.ListPermissions(ctx, "u2"); len(perms) != 0 {
			t.Errorf("deny granted something: %v", perms)
		}
		if _, err := s.DenyAccessRequest(ctx, "nope", "a"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deny unknown: %v", err)
		}
		pending, err := s.ListPendingAccessRequests(ctx)
		if err != nil || len(pending) != 1 || pending[0].ID != r2.ID {
			t.Errorf("pending: %+v %v", pending, err)
		}
		// After approval a new request for the same table is allowed again (e.g. after a revoke).
		if err := s.CreateAccessRequest(ctx, &AccessRequest{UserID: "u1", UserEmail: "u1@x.io", TableID: "orders"}); err != nil {
			t.Errorf("request after approval: %v", err)
		}
		if err := s.CreateAccessRequest(ctx, &AccessRequest{UserID: "u1", TableID: "orders"}); err == nil {
			t.Error("missing e-mail accepted")
		}
	})
}

// TestConcurrentReviewOnlyOneWins: two admins acting at once; exactly one succeeds.
func TestConcurrentReviewOnlyOneWins(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		r := &AccessRequest{UserID: "u", UserEmail: "u@x.io", TableID: "t"}
		if err := s.CreateAccessRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					_, errs[i] = s.ApproveAccessRequest(ctx, r.ID, "a")
				} else {
					_, errs[i] = s.DenyAccessRequest(ctx, r.ID, "b")
				}
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, ErrConflict) {
				t.Errorf("unexpected error %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d reviews succeeded, want 1", ok)
		}
	})
}
