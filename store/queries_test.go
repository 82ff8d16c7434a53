package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestQueryHistoryAndSavedQueries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		s := open(t)
		ctx := context.Background()
		ann := &User{Email: "ann@example.com", Name: "Ann", Role: "analyst"}
		bob := &User{Email: "bob@example.com", Role: "analyst"}
		for _, u := range []*User{ann, bob} {
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for i, sql := range []string{"SELECT 1", "SELECT 2", "SELECT 3"} {
			if err := s.AddQueryRun(ctx, &QueryRun{UserID: ann.ID, SQL: sql, StartedAt: base.Add(time.Duration(i) * time.Minute), Status: QueryOK, RowCount: 1}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddQueryRun(ctx, &QueryRun{UserID: bob.ID, SQL: "SELECT secret", Status: QueryError, Error: "boom"}); err != nil {
			t.Fatal(err)
		}
		runs, err := s.ListQueryRuns(ctx, ann.ID, 2)
		if err != nil || len(runs) != 2 || runs[0].SQL != "SELECT 3" || runs[1].SQL != "SELECT 2" {
			t.Fatalf("ann's runs = %+v, %v", runs, err)
		}
		if _, err := s.GetQueryRun(ctx, ann.ID, runs[0].ID); err != nil {
			t.Fatal(err)
		}
		bobs, _ := s.ListQueryRuns(ctx, bob.ID, 10)
		if _, err := s.GetQueryRun(ctx, ann.ID, bobs[0].ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ann read bob's run: %v", err)
		}

		mine := &SavedQuery{UserID: ann.ID, Name: " Revenue by month ", SQL: "SELECT 1"}
		if err := s.SaveQuery(ctx, mine); err != nil || mine.Name != "Revenue by month" {
			t.Fatalf("save: %v %+v", err, mine)
		}
		private := &SavedQuery{UserID: bob.ID, Name: "bob private", SQL: "SELECT 2"}
		shared := &SavedQuery{UserID: bob.ID, Name: "bob shared", SQL: "SELECT 3", Shared: true}
		for _, q := range []*SavedQuery{private, shared} {
			if err := s.SaveQuery(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		list, err := s.ListSavedQueries(ctx, ann.ID)
		if err != nil || len(list) != 2 || list[0].Name != "bob shared" || list[0].OwnerName != "bob@example.com" || list[1].OwnerName != "Ann" {
			t.Fatalf("ann sees %+v, %v", list, err)
		}
		if _, err := s.GetSavedQuery(ctx, ann.ID, private.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ann read bob's private query: %v", err)
		}
		// Others cannot change or delete a shared query.
		steal := &SavedQuery{ID: shared.ID, UserID: ann.ID, Name: "mine now", SQL: "SELECT 4"}
		if err := s.SaveQuery(ctx, steal); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ann updated bob's query: %v", err)
		}
		if err := s.DeleteSavedQuery(ctx, ann.ID, shared.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ann deleted bob's query: %v", err)
		}
		mine.SQL, mine.Shared = "SELECT 42", true
		if err := s.SaveQuery(ctx, mine); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetSavedQuery(ctx, bob.ID, mine.ID)
		if got == nil || got.SQL != "SELECT 42" {
			t.Fatalf("bob sees %+v", got)
		}
		if err := s.DeleteSavedQuery(ctx, ann.ID, mine.ID); err != nil {
			t.Fatal(err)
		}
	})
}
