package auth

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"da/store"
)

func TestPATAllows(t *testing.T) {
	t.Parallel()
	cases := []struct {
		scope, method, path string
		want                bool
	}{
		{"full", "POST", "/api/users", true},
		{"full", "DELETE", "/api/tokens/x", true},
		{"read", "GET", "/api/catalog/tables", true},
		{"read", "HEAD", "/api/data/t/download", true},
		{"read", "POST", "/api/query", true},
		{"read", "POST", "/api/query/export", true},
		{"read", "POST", "/api/query/abc/cancel", true},
		{"read", "POST", "/api/query/abc/def/cancel", false},
		{"read", "POST", "/api/query2", false},
		{"read", "POST", "/api/tokens", false},
		{"read", "DELETE", "/api/tokens/x", false},
		{"read", "PATCH", "/api/users/x", false},
		{"read", "PUT", "/api/settings/dataset", false},
		{"", "GET", "/api/me", false},
		{"admin", "GET", "/api/me", false},
	}
	for _, tc := range cases {
		if got := PATAllows(tc.scope, tc.method, tc.path); got != tc.want {
			t.Errorf("PATAllows(%q, %s, %s) = %v, want %v", tc.scope, tc.method, tc.path, got, tc.want)
		}
	}
}

func TestAuthenticatePAT(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "state", "system.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	u := &store.User{Email: "pat@example.com", Role: "analyst"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	exp := now.Add(time.Hour)
	_, good, err := st.CreatePersonalToken(ctx, u.ID, "good", "full", &exp)
	if err != nil {
		t.Fatal(err)
	}
	if !IsPAT(good) || IsPAT("eyJhbGciOi") {
		t.Errorf("IsPAT(%q) wrong", good)
	}
	revokedTok, revoked, _ := st.CreatePersonalToken(ctx, u.ID, "revoked", "full", nil)
	if err := st.RevokePersonalToken(ctx, u.ID, revokedTok.ID); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		token string
		at    time.Time
		want  error
	}{
		{"valid", good, now, nil},
		{"expired", good, exp.Add(time.Second), ErrPATExpired},
		{"revoked", revoked, now, ErrPATRevoked},
		{"unknown", "da_pat_" + strings.Repeat("x", 40), now, ErrPATUnknown},
		{"one char off", good[:len(good)-1] + "!", now, ErrPATUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, tok, err := AuthenticatePAT(ctx, st, tc.token, tc.at)
			if tc.want == nil {
				if err != nil || got.ID != u.ID || tok.Scope != "full" {
					t.Fatalf("got %v %v %v", got, tok, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v, want %v (and ErrInvalidToken)", err, tc.want)
			}
		})
	}
	u.Active = false
	if err := st.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, _, err := AuthenticatePAT(ctx, st, good, now); !errors.Is(err, ErrPATInactive) {
		t.Errorf("deactivated owner: %v", err)
	}
	if err := st.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := AuthenticatePAT(ctx, st, good, now); !errors.Is(err, ErrPATNoUser) {
		t.Errorf("deleted owner: %v", err)
	}
}
