// Package oidctest is an in-process OpenID Connect provider for tests: discovery, JWKS and
// a token endpoint that checks the client secret and the PKCE verifier, signing ID tokens
// with a generated RSA key. Tests "authorize" by handing it the URL the app redirected to
// and may edit the claims to produce wrong nonces, unverified e-mails, expired or wrongly
// signed tokens.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Provider is a running test provider.
type Provider struct {
	// Issuer is the provider's issuer URL (the httptest server's URL).
	Issuer       string
	ClientID     string
	ClientSecret string

	key, otherKey *rsa.PrivateKey
	srv           *httptest.Server
	mu            sync.Mutex
	grants        map[string]grant
	// TokenRequests counts calls of the token endpoint.
	TokenRequests int
}

type grant struct {
	claims      map[string]any
	challenge   string
	redirectURI string
	badKey      bool
}

// Start runs a provider until the test ends.
func Start(t testing.TB, clientID, clientSecret string) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{ClientID: clientID, ClientSecret: clientSecret, key: key, otherKey: other, grants: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	p.Issuer = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.Issuer,
		"authorization_endpoint":                p.Issuer + "/authorize",
		"token_endpoint":                        p.Issuer + "/token",
		"jwks_uri":                              p.Issuer + "/jwks",
		"userinfo_endpoint":                     p.Issuer + "/userinfo",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	pub := p.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "test-key",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// Authorize plays the person approving the sign-in at the provider: it checks the
// authorization URL the app produced and returns a code and the state to send back to the
// app's callback. edit may change the ID token's claims; badKey signs it with a key that is
// not in the JWKS.
func (p *Provider) Authorize(authURL string, edit func(claims map[string]any), badKey bool) (code, state string, err error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return "", "", err
	}
	q := u.Query()
	switch {
	case u.Scheme+"://"+u.Host+u.Path != p.Issuer+"/authorize":
		return "", "", fmt.Errorf("oidctest: authorize URL %s is not this provider's", authURL)
	case q.Get("client_id") != p.ClientID:
		return "", "", fmt.Errorf("oidctest: client_id %q", q.Get("client_id"))
	case q.Get("response_type") != "code":
		return "", "", fmt.Errorf("oidctest: response_type %q", q.Get("response_type"))
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		return "", "", fmt.Errorf("oidctest: PKCE S256 challenge missing")
	case q.Get("state") == "" || q.Get("nonce") == "":
		return "", "", fmt.Errorf("oidctest: state or nonce missing")
	}
	now := time.Now()
	claims := map[string]any{
		"iss":            p.Issuer,
		"aud":            p.ClientID,
		"sub":            "google-sub-123",
		"email":          "new.person@example.com",
		"email_verified": true,
		"name":           "New Person",
		"nonce":          q.Get("nonce"),
		"iat":            now.Unix(),
		"exp":            now.Add(time.Hour).Unix(),
	}
	if edit != nil {
		edit(claims)
	}
	code = base64.RawURLEncoding.EncodeToString(sha256Sum(q.Get("state") + now.String()))
	p.mu.Lock()
	p.grants[code] = grant{claims: claims, challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri"), badKey: badKey}
	p.mu.Unlock()
	return code, q.Get("state"), nil
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.TokenRequests++
	p.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.ClientID || secret != p.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	code := r.PostForm.Get("code")
	p.mu.Lock()
	g, found := p.grants[code]
	delete(p.grants, code)
	p.mu.Unlock()
	if r.PostForm.Get("grant_type") != "authorization_code" || !found || r.PostForm.Get("redirect_uri") != g.redirectURI {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	if base64.RawURLEncoding.EncodeToString(sha256Sum(r.PostForm.Get("code_verifier"))) != g.challenge {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
		return
	}
	key := p.key
	if g.badKey {
		key = p.otherKey
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(g.claims))
	tok.Header["kid"] = "test-key"
	signed, err := tok.SignedString(key)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": "at-" + code, "token_type": "Bearer", "expires_in": 3600, "id_token": signed})
}

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
