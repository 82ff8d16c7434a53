package store

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestGrantRevokeList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		steps := []struct {
			name    string
			op      func() error
			wantErr error
			wantAll []Permission
		}{
			{"grant read", func() error { _, err := s.Grant(ctx, "u1", "Orders", "read"); return err }, nil,
				[]Permission{{"u1", "orders", "read"}}},
			{"grant upserts, case-insensitive", func() error { _, err := s.Grant(ctx, "u1", " ORDERS ", "none"); return err }, nil,
				[]Permission{{"u1", "orders", "none"}}},
			{"bucket wildcard", func() error { _, err := s.Grant(ctx, "u2", "in.c-Finance.*", "read"); return err }, nil,
				[]Permission{{"u1", "orders", "none"}, {"u2", "in.c-finance.*", "read"}}},
			{"bad access", func() error { _, err := s.Grant(ctx, "u1", "x", "write"); return err }, errAny,
				[]Permission{{"u1", "orders", "none"}, {"u2", "in.c-finance.*", "read"}}},
			{"empty dataset", func() error { _, err := s.Grant(ctx, "u1", " ", "read"); return err }, errAny, nil},
			{"revoke missing", func() error { return s.Revoke(ctx, "u1", "nope") }, ErrNotFound, nil},
			{"revoke other user's grant", func() error { return s.Revoke(ctx, "u1", "in.c-finance.*") }, ErrNotFound, nil},
			{"revoke any case", func() error { return s.Revoke(ctx, "u2", "IN.C-FINANCE.*") }, nil,
				[]Permission{{"u1", "orders", "none"}}},
			{"revoke twice", func() error { return s.Revoke(ctx, "u2", "in.c-finance.*") }, ErrNotFound,
				[]Permission{{"u1", "orders", "none"}}},
		}
		for _, st := range steps {
			err := st.op()
			switch {
			case st.wantErr == errAny && err == nil:
				t.Errorf("%s: no error", st.name)
			case st.wantErr != nil && st.wantErr != errAny && !errors.Is(err, st.wantErr):
				t.Errorf("%s: err %v, want %v", st.name, err, st.wantErr)
			case st.wantErr == nil && err != nil:
				t.Errorf("%s: %v", st.name, err)
			}
			if st.wantAll == nil {
				continue
			}
			got, err := s.ListPermissions(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, st.wantAll) {
				t.Errorf("%s: permissions %v, want %v", st.name, got, st.wantAll)
			}
		}
		mine, err := s.ListPermissions(ctx, "u2")
		if err != nil || len(mine) != 0 {
			t.Errorf("u2 permissions %v, %v", mine, err)
		}
	})
}

// errAny marks a step that must fail with any error.
var errAny = errors.New("any error")

// TestGrantReplacesLegacyMixedCaseRow checks that a row written by the original system in
// mixed case is replaced rather than duplicated.
func TestGrantReplacesLegacyMixedCaseRow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		if _, err := s.DB.Exec(`INSERT INTO dataset_permissions VALUES ('u', 'Sales', 'read')`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Grant(ctx, "u", "sales", "none"); err != nil {
			t.Fatal(err)
		}
		got, _ := s.ListPermissions(ctx, "u")
		if !slices.Equal(got, []Permission{{"u", "sales", "none"}}) {
			t.Errorf("got %v", got)
		}
	})
}
