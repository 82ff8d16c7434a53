package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// GoogleIssuer is Google's OpenID Connect issuer; its discovery document names the
// authorization, token and key endpoints.
const GoogleIssuer = "https://accounts.google.com"

// OIDCConfig configures an OpenID Connect sign-in provider.
type OIDCConfig struct {
	ClientID     string
	ClientSecret string
	// RedirectURL is the absolute callback URL registered with the provider.
	RedirectURL string
	// IssuerURL is the provider's issuer; "" means GoogleIssuer. Tests point it at an
	// in-process provider.
	IssuerURL string
	// AllowedDomains are lower-case e-mail domains whose users may create an account;
	// empty allows every domain.
	AllowedDomains []string
	// HTTPClient talks to the provider; nil uses a client with a 15 s timeout.
	HTTPClient *http.Client
}

// OIDCProvider runs the authorization-code flow with PKCE, state and nonce, and verifies
// ID tokens (signature against the provider's JWKS, issuer, audience, expiry, nonce).
// The discovery document is fetched on first use, so a provider that is unreachable at
// start-up does not stop the server.
type OIDCProvider struct {
	cfg OIDCConfig

	mu       sync.Mutex
	provider *oidc.Provider
}

// NewOIDCProvider returns a provider for cfg; it makes no network call.
func NewOIDCProvider(cfg OIDCConfig) *OIDCProvider {
	if cfg.IssuerURL == "" {
		cfg.IssuerURL = GoogleIssuer
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	return &OIDCProvider{cfg: cfg}
}

// Errors of the OIDC flow; handlers map them to messages on the login page.
var (
	// ErrOIDCState is a callback whose state does not match the one this browser started.
	ErrOIDCState = errors.New("oidc: state mismatch")
	// ErrOIDCNonce is an ID token whose nonce is not the one this browser started with.
	ErrOIDCNonce = errors.New("oidc: nonce mismatch")
	// ErrOIDCToken is an ID token that failed verification (signature, issuer, audience, expiry).
	ErrOIDCToken = errors.New("oidc: invalid ID token")
	// ErrEmailNotVerified is an identity whose e-mail the provider has not verified.
	ErrEmailNotVerified = errors.New("oidc: e-mail address not verified")
	// ErrNoEmail is an identity without an e-mail address.
	ErrNoEmail = errors.New("oidc: no e-mail address")
)

// AuthRequest is a started sign-in: send the browser to URL, and keep State, Nonce and
// Verifier in the session until the callback.
type AuthRequest struct {
	URL, State, Nonce, Verifier string
}

// Identity is what a verified ID token says about the person.
type Identity struct {
	Subject       string
	Email         string // lower-case
	Name          string
	EmailVerified bool
	HostedDomain  string // Google Workspace "hd" claim, lower-case
}

func (p *OIDCProvider) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, p.cfg.HTTPClient)
}

// discover returns the provider, fetching the discovery document on first success.
func (p *OIDCProvider) discover(ctx context.Context) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, nil
	}
	pr, err := oidc.NewProvider(p.ctx(ctx), p.cfg.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("oidc: discovery at %s: %w", p.cfg.IssuerURL, err)
	}
	p.provider = pr
	return pr, nil
}

func (p *OIDCProvider) oauth(pr *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     p.cfg.ClientID,
		ClientSecret: p.cfg.ClientSecret,
		RedirectURL:  p.cfg.RedirectURL,
		Endpoint:     pr.Endpoint(),
		Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
	}
}

// Start begins a sign-in: fresh random state, nonce and PKCE verifier, and the provider URL.
func (p *OIDCProvider) Start(ctx context.Context) (*AuthRequest, error) {
	pr, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	state, err := randomString(24)
	if err != nil {
		return nil, err
	}
	nonce, err := randomString(24)
	if err != nil {
		return nil, err
	}
	verifier := oauth2.GenerateVerifier()
	url := p.oauth(pr).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("prompt", "select_account"))
	return &AuthRequest{URL: url, State: state, Nonce: nonce, Verifier: verifier}, nil
}

// CheckState compares the callback's state with the stored one in constant time.
func CheckState(got, want string) error {
	if want == "" || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return ErrOIDCState
	}
	return nil
}

// Finish exchanges the authorization code (with the PKCE verifier) and verifies the ID
// token against nonce. It requires a verified e-mail address.
func (p *OIDCProvider) Finish(ctx context.Context, code, verifier, nonce string) (*Identity, error) {
	if code == "" {
		return nil, errors.New("oidc: the callback carries no authorization code")
	}
	pr, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := p.oauth(pr).Exchange(p.ctx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("oidc: code exchange: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, fmt.Errorf("%w: the token response has no id_token", ErrOIDCToken)
	}
	idt, err := pr.Verifier(&oidc.Config{ClientID: p.cfg.ClientID}).Verify(p.ctx(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOIDCToken, err)
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, ErrOIDCNonce
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"`
		Name          string `json:"name"`
		HD            string `json:"hd"`
	}
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrOIDCToken, err)
	}
	id := &Identity{
		Subject:       idt.Subject,
		Email:         strings.ToLower(strings.TrimSpace(claims.Email)),
		Name:          strings.TrimSpace(claims.Name),
		EmailVerified: claims.EmailVerified == true || claims.EmailVerified == "true",
		HostedDomain:  strings.ToLower(strings.TrimSpace(claims.HD)),
	}
	if id.Email == "" {
		return nil, ErrNoEmail
	}
	if !id.EmailVerified {
		return id, ErrEmailNotVerified
	}
	return id, nil
}

// DomainAllowed reports whether the identity's Workspace domain (hd) or e-mail domain is
// on the allow-list; an empty list allows everyone.
func (p *OIDCProvider) DomainAllowed(id *Identity) bool {
	if len(p.cfg.AllowedDomains) == 0 {
		return true
	}
	_, domain, _ := strings.Cut(id.Email, "@")
	return (id.HostedDomain != "" && slices.Contains(p.cfg.AllowedDomains, id.HostedDomain)) ||
		(domain != "" && slices.Contains(p.cfg.AllowedDomains, domain))
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
