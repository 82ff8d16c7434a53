package auth

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"da/auth/oidctest"
)

func TestOIDCFlow(t *testing.T) {
	idp := oidctest.Start(t, "client-1", "secret-1")
	p := NewOIDCProvider(OIDCConfig{ClientID: "client-1", ClientSecret: "secret-1", IssuerURL: idp.Issuer,
		RedirectURL: "http://da.example/auth/google/callback", AllowedDomains: []string{"example.com"}})
	ctx := context.Background()

	tests := []struct {
		name      string
		edit      func(map[string]any)
		badKey    bool
		nonce     string // "" = the started one
		verifier  string // "" = the started one
		wantErr   error
		wantEmail string
	}{
		{name: "success", wantEmail: "new.person@example.com"},
		{name: "mixed-case e-mail is normalised", edit: func(c map[string]any) { c["email"] = "Ann@Example.COM" }, wantEmail: "ann@example.com"},
		{name: "email_verified as string", edit: func(c map[string]any) { c["email_verified"] = "true" }, wantEmail: "new.person@example.com"},
		{name: "wrong nonce", nonce: "some-other-nonce", wantErr: ErrOIDCNonce},
		{name: "nonce missing from token", edit: func(c map[string]any) { delete(c, "nonce") }, wantErr: ErrOIDCNonce},
		{name: "unverified e-mail", edit: func(c map[string]any) { c["email_verified"] = false }, wantErr: ErrEmailNotVerified},
		{name: "no e-mail", edit: func(c map[string]any) { delete(c, "email") }, wantErr: ErrNoEmail},
		{name: "expired ID token", edit: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, wantErr: ErrOIDCToken},
		{name: "bad signature", badKey: true, wantErr: ErrOIDCToken},
		{name: "wrong audience", edit: func(c map[string]any) { c["aud"] = "someone-else" }, wantErr: ErrOIDCToken},
		{name: "wrong issuer", edit: func(c map[string]any) { c["iss"] = "https://evil.example" }, wantErr: ErrOIDCToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := p.Start(ctx)
			if err != nil {
				t.Fatal(err)
			}
			q := mustQuery(t, req.URL)
			if q.Get("redirect_uri") != "http://da.example/auth/google/callback" || q.Get("scope") != "openid email profile" {
				t.Errorf("auth URL %s", req.URL)
			}
			code, state, err := idp.Authorize(req.URL, tc.edit, tc.badKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckState(state, req.State); err != nil {
				t.Fatalf("state: %v", err)
			}
			nonce, verifier := req.Nonce, req.Verifier
			if tc.nonce != "" {
				nonce = tc.nonce
			}
			if tc.verifier != "" {
				verifier = tc.verifier
			}
			id, err := p.Finish(ctx, code, verifier, nonce)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Finish = %+v, %v; want %v", id, err, tc.wantErr)
				}
				return
			}
			if err != nil || id.Email != tc.wantEmail || !id.EmailVerified || id.Subject != "google-sub-123" {
				t.Fatalf("Finish = %+v, %v", id, err)
			}
		})
	}

	// PKCE: a stolen code is useless without the verifier; a code works once.
	req, _ := p.Start(ctx)
	code, _, _ := idp.Authorize(req.URL, nil, false)
	if _, err := p.Finish(ctx, code, "wrong-verifier-wrong-verifier-wrong-verifier-1234", req.Nonce); err == nil {
		t.Error("exchange with the wrong PKCE verifier succeeded")
	}
	req, _ = p.Start(ctx)
	code, _, _ = idp.Authorize(req.URL, nil, false)
	if _, err := p.Finish(ctx, code, req.Verifier, req.Nonce); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Finish(ctx, code, req.Verifier, req.Nonce); err == nil {
		t.Error("a code worked twice")
	}
	if _, err := p.Finish(ctx, "", req.Verifier, req.Nonce); err == nil {
		t.Error("an empty code was accepted")
	}
}

func TestCheckState(t *testing.T) {
	tests := []struct {
		got, want string
		ok        bool
	}{{"abc", "abc", true}, {"abc", "abd", false}, {"", "", false}, {"abc", "", false}, {"", "abc", false}}
	for _, tc := range tests {
		if err := CheckState(tc.got, tc.want); (err == nil) != tc.ok {
			t.Errorf("CheckState(%q, %q) = %v", tc.got, tc.want, err)
		}
	}
}

func TestDomainAllowed(t *testing.T) {
	p := NewOIDCProvider(OIDCConfig{AllowedDomains: []string{"acme.com"}})
	open := NewOIDCProvider(OIDCConfig{})
	tests := []struct {
		id   Identity
		want bool
	}{
		{Identity{Email: "a@acme.com"}, true},
		{Identity{Email: "a@sub.acme.com"}, false},
		{Identity{Email: "a@acme.com.evil.org"}, false},
		{Identity{Email: "a@gmail.com"}, false},
		{Identity{Email: "a@gmail.com", HostedDomain: "acme.com"}, true},
		{Identity{Email: "a@other.org", HostedDomain: "other.org"}, false},
	}
	for _, tc := range tests {
		if got := p.DomainAllowed(&tc.id); got != tc.want {
			t.Errorf("DomainAllowed(%+v) = %v, want %v", tc.id, got, tc.want)
		}
		if !open.DomainAllowed(&tc.id) {
			t.Errorf("empty allow-list refused %+v", tc.id)
		}
	}
}

func TestOIDCDiscoveryFailureIsAnError(t *testing.T) {
	p := NewOIDCProvider(OIDCConfig{ClientID: "c", IssuerURL: "http://127.0.0.1:1"})
	if _, err := p.Start(context.Background()); err == nil {
		t.Fatal("Start with an unreachable issuer succeeded")
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
