package handlers

import (
	"net/http/httptest"
	"testing"

	"da/auth"
	"da/store"
)

// BenchmarkAuthenticatedRequest is the fixed cost of authenticating a small request through
// the full echo stack: GET /api/me with a JWT and with a personal access token, against an
// unknown path that authenticates nobody.
func BenchmarkAuthenticatedRequest(b *testing.B) {
	env := newTestEnvTB(b)
	u := env.users[auth.RoleAnalyst]
	_, pat, err := env.store.CreatePersonalToken(b.Context(), u.ID, "bench", store.ScopeFull, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, path, token string }{
		{"unknown path", "/no-such-path", ""},
		{"jwt", "/api/me", env.tokens[auth.RoleAnalyst]},
		{"pat", "/api/me", pat},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", bc.path, nil)
				if bc.token != "" {
					req.Header.Set("Authorization", "Bearer "+bc.token)
				}
				rec := httptest.NewRecorder()
				env.e.ServeHTTP(rec, req)
				if rec.Code != 200 && rec.Code != 404 {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
