package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/auth/oidctest"
)

func TestGoogleSignIn(t *testing.T) {
	idp := oidctest.Start(t, "gid", "gsecret")
	provider := auth.NewOIDCProvider(auth.OIDCConfig{ClientID: "gid", ClientSecret: "gsecret", IssuerURL: idp.Issuer,
		RedirectURL: "http://da.test/auth/google/callback", AllowedDomains: []string{"example.com"}})
	env, _ := newProviderEnv(t, false, map[string]string{"GOOGLE_CLIENT_ID": "gid", "GOOGLE_CLIENT_SECRET": "gsecret", "AUTH_ALLOWED_DOMAINS": "example.com"}, provider)
	if !strings.Contains(env.do(request{method: "GET", path: "/login"}).Body.String(), `data-testid="login-google"`) {
		t.Fatal("login page has no Google button")
	}
	tests := []struct {
		name     string
		edit     func(map[string]any)
		badKey   bool
		state    string // "" = the right one
		next     string
		wantLoc  string
		signedIn bool
		wantRole string // role of the e-mail's user afterwards; "" = must not exist
		email    string
	}{
		{name: "existing user", edit: func(c map[string]any) { c["email"] = "analyst@example.com" }, wantLoc: "/dashboard", signedIn: true, email: "analyst@example.com", wantRole: "analyst"},
		{name: "next kept", edit: func(c map[string]any) { c["email"] = "admin@example.com" }, next: "/catalog", wantLoc: "/catalog", signedIn: true, email: "admin@example.com", wantRole: "admin"},
		{name: "new user, allowed domain", wantLoc: "/dashboard", signedIn: true, email: "new.person@example.com", wantRole: "viewer"},
		{name: "new user, allowed hd", edit: func(c map[string]any) { c["email"] = "x@alias.org"; c["hd"] = "example.com" }, wantLoc: "/dashboard", signedIn: true, email: "x@alias.org", wantRole: "viewer"},
		{name: "new user, disallowed domain", edit: func(c map[string]any) { c["email"] = "eve@evil.org" }, wantLoc: "/login?error=domain_not_allowed", email: "eve@evil.org"},
		{name: "unverified e-mail", edit: func(c map[string]any) { c["email"] = "viewer@example.com"; c["email_verified"] = false }, wantLoc: "/login?error=email_not_verified"},
		{name: "wrong nonce", edit: func(c map[string]any) { c["email"] = "viewer@example.com"; c["nonce"] = "other" }, wantLoc: "/login?error=oauth_failed"},
		{name: "wrong state", edit: func(c map[string]any) { c["email"] = "viewer@example.com" }, state: "forged", wantLoc: "/login?error=invalid_state"},
		{name: "expired ID token", edit: func(c map[string]any) {
			c["email"] = "viewer@example.com"
			c["exp"] = time.Now().Add(-time.Hour).Unix()
		}, wantLoc: "/login?error=oauth_failed"},
		{name: "bad signature", edit: func(c map[string]any) { c["email"] = "viewer@example.com" }, badKey: true, wantLoc: "/login?error=oauth_failed"},
		{name: "wrong audience", edit: func(c map[string]any) { c["email"] = "viewer@example.com"; c["aud"] = "other-client" }, wantLoc: "/login?error=oauth_failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := env.browser()
			start := b.do("GET", "/auth/google/login?next="+url.QueryEscape(tc.next), nil)
			if start.Code != http.StatusFound || !strings.HasPrefix(start.Header().Get("Location"), idp.Issuer+"/authorize?") {
				t.Fatalf("start: %d %q", start.Code, start.Header().Get("Location"))
			}
			code, state, err := idp.Authorize(start.Header().Get("Location"), tc.edit, tc.badKey)
			if err != nil {
				t.Fatal(err)
			}
			if tc.state != "" {
				state = tc.state
			}
			cb := b.do("GET", "/auth/google/callback?code="+url.QueryEscape(code)+"&state="+url.QueryEscape(state), nil)
			if loc := cb.Header().Get("Location"); loc != tc.wantLoc {
				t.Fatalf("callback: %d %q, want %q", cb.Code, loc, tc.wantLoc)
			}
			if got := b.signedIn(); got != tc.signedIn {
				t.Fatalf("signed in = %v", got)
			}
			if tc.email != "" {
				u, err := env.store.GetUserByEmail(context.Background(), tc.email)
				switch {
				case tc.wantRole == "" && err == nil:
					t.Errorf("user %s was created", tc.email)
				case tc.wantRole != "" && (err != nil || u.Role != tc.wantRole || u.PasswordHash != "" && tc.wantRole == "viewer"):
					t.Errorf("user %s: %+v %v", tc.email, u, err)
				}
			}
			if strings.HasPrefix(tc.wantLoc, "/login?error=") {
				page := b.do("GET", tc.wantLoc, nil)
				if !strings.Contains(page.Body.String(), `data-testid="login-error"`) {
					t.Error("the login page does not explain the error")
				}
			}
			// The state is single use: replaying the callback fails.
			if replay := b.do("GET", "/auth/google/callback?code=x&state="+url.QueryEscape(state), nil); replay.Header().Get("Location") != "/login?error=invalid_state" {
				t.Errorf("replay: %q", replay.Header().Get("Location"))
			}
		})
	}
	// Cancelled at Google.
	b := env.browser()
	b.do("GET", "/auth/google/login", nil)
	if loc := b.do("GET", "/auth/google/callback?error=access_denied", nil).Header().Get("Location"); loc != "/login?error=oauth_cancelled" {
		t.Errorf("cancel: %q", loc)
	}
}

func TestGoogleNotConfigured(t *testing.T) {
	env, _ := newProviderEnv(t, false, nil, nil)
	for _, p := range []string{"/auth/google/login", "/auth/google/callback?code=x&state=y"} {
		rec := env.do(request{method: "GET", path: p})
		if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/login?error=google_not_configured" {
			t.Errorf("%s: %d %q", p, rec.Code, rec.Header().Get("Location"))
		}
	}
}
