package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func patchPtr[T any](v T) *T { return &v }

func TestPatchUserLastAdmin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		a1 := mustCreateUser(t, s, &User{Email: "a1@x.io", Role: "admin"})
		a2 := mustCreateUser(t, s, &User{Email: "a2@x.io", Role: "admin"})
		v := mustCreateUser(t, s, &User{Email: "v@x.io", Role: "viewer"})
		steps := []struct {
			name string
			id   string
			p    UserPatch
			want error
		}{
			{"rename", a1.ID, UserPatch{Name: patchPtr("Alice")}, nil},
			{"demote one of two admins", a2.ID, UserPatch{Role: patchPtr("analyst")}, nil},
			{"demote the last admin", a1.ID, UserPatch{Role: patchPtr("viewer")}, ErrLastAdmin},
			{"deactivate the last admin", a1.ID, UserPatch{Active: patchPtr(false)}, ErrLastAdmin},
			{"renaming the last admin is fine", a1.ID, UserPatch{Name: patchPtr("A")}, nil},
			{"deactivate a viewer", v.ID, UserPatch{Active: patchPtr(false)}, nil},
			{"promote an inactive viewer: not an active admin", v.ID, UserPatch{Role: patchPtr("admin")}, nil},
			{"still the last active admin", a1.ID, UserPatch{Active: patchPtr(false)}, ErrLastAdmin},
			{"reactivate the promoted viewer", v.ID, UserPatch{Active: patchPtr(true)}, nil},
			{"now a1 may step down", a1.ID, UserPatch{Role: patchPtr("analyst"), Active: patchPtr(false)}, nil},
			{"unknown user", "nope", UserPatch{Name: patchPtr("x")}, ErrNotFound},
		}
		for _, st := range steps {
			_, err := s.PatchUser(ctx, st.id, st.p)
			if st.want == nil && err != nil || st.want != nil && !errors.Is(err, st.want) {
				t.Errorf("%s: err %v, want %v", st.name, err, st.want)
			}
		}
		if !errors.Is(ErrLastAdmin, ErrConflict) {
			t.Error("ErrLastAdmin must match ErrConflict")
		}
		got, _ := s.GetUserByID(ctx, a1.ID)
		if got.Name != "A" || got.Role != "analyst" || got.Active {
			t.Errorf("a1 = %+v", got)
		}
		if err := s.DeleteUserAndGrants(ctx, v.ID); !errors.Is(err, ErrLastAdmin) {
			t.Errorf("delete last admin: %v", err)
		}
	})
}

// TestLastAdminConcurrent: two admins demoting each other at once must leave one admin.
func TestLastAdminConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		a := mustCreateUser(t, s, &User{Email: "a@x.io", Role: "admin"})
		b := mustCreateUser(t, s, &User{Email: "b@x.io", Role: "admin"})
		var wg sync.WaitGroup
		for _, id := range []string{a.ID, b.ID} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = s.DeleteUserAndGrants(ctx, id)
			}()
		}
		wg.Wait()
		n := 0
		users, _ := s.ListUsers(ctx)
		for _, u := range users {
			if u.Role == "admin" && u.Active {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d active admins left, want 1", n)
		}
	})
}

func TestDeleteUserAndGrants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		u := mustCreateUser(t, s, &User{Email: "u@x.io"})
		keep := mustCreateUser(t, s, &User{Email: "k@x.io"})
		for _, id := range []string{u.ID, keep.ID} {
			if _, err := s.Grant(ctx, id, "orders", "read"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.CreatePersonalToken(ctx, id, "t", "", nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateAccessRequest(ctx, &AccessRequest{UserID: u.ID, UserEmail: u.Email, TableID: "x"}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUserAndGrants(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUserAndGrants(ctx, u.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("delete twice: %v", err)
		}
		if p, _ := s.ListPermissions(ctx, u.ID); len(p) != 0 {
			t.Errorf("permissions left: %v", p)
		}
		if tk, _ := s.ListPersonalTokens(ctx, u.ID); len(tk) != 0 {
			t.Errorf("tokens left: %v", tk)
		}
		if r, _ := s.ListAccessRequestsByUser(ctx, u.ID); len(r) != 1 {
			t.Errorf("access request history lost: %v", r)
		}
		if p, _ := s.ListPermissions(ctx, keep.ID); len(p) != 1 {
			t.Errorf("other user's permissions touched: %v", p)
		}
	})
}

func TestCreateInvitedUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB) *Store) {
		t.Parallel()
		ctx := context.Background()
		s := open(t)
		hash := HashToken("some-link-token")
		u := &User{Email: "new@x.io", Role: "viewer"}
		if err := s.CreateInvitedUser(ctx, u, hash); err != nil {
			t.Fatal(err)
		}
		// The sign-in pages find the user through the set-up link, and the link works once.
		got, err := s.LinkTokenUser(ctx, LinkSetup, hash, time.Hour)
		if err != nil || got.ID != u.ID || got.PasswordHash != "" {
			t.Fatalf("LinkTokenUser: %+v %v", got, err)
		}
		if _, err := s.LinkTokenUser(ctx, LinkReset, hash, time.Hour); !errors.Is(err, ErrNotFound) {
			t.Errorf("a set-up link must not work as a reset link: %v", err)
		}
		if _, err := s.ConsumeLinkToken(ctx, LinkSetup, hash, time.Hour, "$argon2id$fake"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ConsumeLinkToken(ctx, LinkSetup, hash, time.Hour, "$argon2id$other"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second use: %v", err)
		}
		after, _ := s.GetUserByID(ctx, u.ID)
		if after.PasswordHash != "$argon2id$fake" || after.SetupToken != "" {
			t.Errorf("after: %+v", after)
		}
		if err := s.CreateInvitedUser(ctx, &User{Email: "x@x.io"}, ""); err == nil {
			t.Error("empty hash accepted")
		}
		if err := s.CreateInvitedUser(ctx, &User{Email: "NEW@x.io"}, hash); !errors.Is(err, ErrConflict) {
			t.Errorf("duplicate e-mail: %v", err)
		}
	})
}
