package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/auth/mailtest"
	"da/config"
	"da/store"
)

// newProviderEnv is newTestEnv with extra environment (SMTP, Google) and an optional
// Google provider; it returns the capture mail server when mail is wanted.
func newProviderEnv(t *testing.T, withMail bool, extra map[string]string, google *auth.OIDCProvider) (*testEnv, *mailtest.Server) {
	t.Helper()
	dir := t.TempDir()
	envs := map[string]string{"DATA_DIR": dir, "JWT_SECRET_KEY": "test-secret-test-secret-test-secret-42", "SERVER_URL": "http://da.test"}
	var ms *mailtest.Server
	if withMail {
		ms = mailtest.Start(t, mailtest.Options{})
		envs["SMTP_HOST"], envs["SMTP_PORT"], envs["SMTP_USE_TLS"] = ms.Host, strconv.Itoa(ms.Port), "false"
		envs["SMTP_FROM"] = "noreply@example.com"
	}
	for k, v := range extra {
		envs[k] = v
	}
	cfg, err := config.Load(func(k string) string { return envs[k] }, config.Overrides{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st := openTestState(t, dir)
	d := testDeps(t, cfg, st)
	d.Google = google
	s, e := newServer(d)
	t.Cleanup(s.signin.sends.Wait)
	env := &testEnv{t: t, srv: s, e: e, store: st, users: map[auth.Role]*store.User{}, tokens: map[auth.Role]string{}}
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range auth.Roles {
		u := &store.User{Email: string(r) + "@example.com", Name: string(r), Role: string(r), PasswordHash: hash, Active: true}
		if err := st.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		env.users[r] = u
	}
	return env, ms
}

// linkPath turns an e-mailed absolute link into the path+query to request in tests.
func linkPath(t *testing.T, link, wantPrefix string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, wantPrefix) {
		t.Fatalf("link %q does not start with %q (%v)", link, wantPrefix, err)
	}
	return u.RequestURI()
}

// signedIn reports whether the browser's session reaches the dashboard.
func (b *browser) signedIn() bool {
	return b.do("GET", "/dashboard", nil).Code == http.StatusOK
}

// requestMagicLink asks for a link through the login page's form and returns the e-mailed link.
func requestMagicLink(t *testing.T, env *testEnv, ms *mailtest.Server, email, next string) string {
	t.Helper()
	b := env.browser()
	b.do("GET", "/login", nil)
	rec := b.do("POST", "/auth/email/request", url.Values{"email": {email}, "next": {next}, "_csrf": {b.csrf}})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-testid="magic-sent"`) {
		t.Fatalf("request link: %d %s", rec.Code, rec.Body)
	}
	m := ms.Wait(t, 10*time.Second)
	if len(m.To) != 1 || m.To[0] != strings.ToLower(strings.TrimSpace(email)) {
		t.Fatalf("mail went to %q", m.To)
	}
	return m.Link("/auth/email/verify")
}

func TestMagicLinkSameAnswerForEveryAddress(t *testing.T) {
	env, ms := newProviderEnv(t, true, nil, nil)
	ctx := context.Background()
	gone := &store.User{Email: "gone@example.com", Role: "viewer", Active: true}
	if err := env.store.CreateUser(ctx, gone); err != nil {
		t.Fatal(err)
	}
	gone.Active = false
	if err := env.store.UpdateUser(ctx, gone); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		email    string
		wantMail bool
	}{
		{"known", "viewer@example.com", true},
		{"known, other case and spaces", "  Analyst@Example.COM ", true},
		{"unknown", "nobody@example.com", false},
		{"deactivated", "gone@example.com", false},
	}
	var firstJSON, firstForm string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := ms.Count()
			rec := env.do(request{method: "POST", path: "/auth/email/request", body: `{"email":"` + tc.email + `"}`})
			if rec.Code != http.StatusOK {
				t.Fatalf("JSON: %d %s", rec.Code, rec.Body)
			}
			if firstJSON == "" {
				firstJSON = rec.Body.String()
			} else if rec.Body.String() != firstJSON {
				t.Errorf("JSON answer differs: %s vs %s", rec.Body, firstJSON)
			}
			b := env.browser()
			b.do("GET", "/login", nil)
			form := b.do("POST", "/auth/email/request", url.Values{"email": {tc.email}, "_csrf": {b.csrf}})
			body := form.Body.String()
			// The page differs only in its CSRF token.
			body = csrfInput.ReplaceAllString(body, "")
			if form.Code != http.StatusOK || !strings.Contains(body, "If that address has an account") {
				t.Fatalf("form: %d %s", form.Code, body)
			}
			if firstForm == "" {
				firstForm = body
			} else if body != firstForm {
				t.Error("form answer differs between addresses")
			}
			env.srv.signin.sends.Wait()
			wantMails := 0
			if tc.wantMail {
				wantMails = 2
			}
			if got := ms.Count() - before; got != wantMails {
				t.Errorf("mails sent = %d, want %d", got, wantMails)
			}
			for range ms.Count() - before {
				ms.Wait(t, time.Second)
			}
		})
	}
}

func TestMagicLinkFlow(t *testing.T) {
	env, ms := newProviderEnv(t, true, nil, nil)
	link := requestMagicLink(t, env, ms, "analyst@example.com", "/catalog")
	path := linkPath(t, link, "http://da.test/auth/email/verify?")
	token, _ := url.ParseQuery(strings.SplitN(path, "?", 2)[1])

	// The stored value is a hash, never the token.
	u, _ := env.store.GetUserByEmail(context.Background(), "analyst@example.com")
	if u.ResetToken == "" || strings.Contains(u.ResetToken, token.Get("token")) {
		t.Fatalf("stored token %q", u.ResetToken)
	}

	b := env.browser()
	// Opening the link (as a mail scanner would) shows a button and signs nobody in.
	page := b.do("GET", path, nil)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `data-testid="magic-confirm-form"`) ||
		!strings.Contains(page.Body.String(), "analyst@example.com") || page.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("confirm page: %d %s", page.Code, page.Body)
	}
	if b.signedIn() {
		t.Fatal("GET of the link signed in")
	}
	if b.do("GET", path, nil).Code != http.StatusOK {
		t.Fatal("a second GET used the link up")
	}

	steps := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantLoc    string
		wantBody   string
		signedIn   bool
	}{
		{"no CSRF token", url.Values{"token": token["token"], "next": {"/catalog"}}, http.StatusForbidden, "", "CSRF", false},
		{"wrong CSRF token", url.Values{"token": token["token"], "_csrf": {"forged"}}, http.StatusForbidden, "", "CSRF", false},
		{"junk token", url.Values{"token": {"abc"}, "_csrf": {b.csrf}}, http.StatusBadRequest, "", "not valid", false},
		{"confirm", url.Values{"token": token["token"], "next": {"/catalog"}, "_csrf": {b.csrf}}, http.StatusSeeOther, "/catalog", "", true},
	}
	for _, st := range steps {
		rec := b.do("POST", "/auth/email/verify", st.form)
		if rec.Code != st.wantStatus || rec.Header().Get("Location") != st.wantLoc || !strings.Contains(rec.Body.String(), st.wantBody) {
			t.Fatalf("%s: %d %q %s", st.name, rec.Code, rec.Header().Get("Location"), rec.Body)
		}
		if got := b.signedIn(); got != st.signedIn {
			t.Fatalf("%s: signed in = %v", st.name, got)
		}
	}

	// Single use: another browser with a valid CSRF token gets nothing.
	b2 := env.browser()
	b2.do("GET", "/login", nil)
	rec := b2.do("POST", "/auth/email/verify", url.Values{"token": token["token"], "_csrf": {b2.csrf}})
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "already used") || b2.signedIn() {
		t.Fatalf("second use: %d %s", rec.Code, rec.Body)
	}
	if rec := b2.do("GET", path, nil); rec.Code != http.StatusBadRequest {
		t.Errorf("GET after use: %d", rec.Code)
	}
}

func TestMagicLinkExpired(t *testing.T) {
	env, ms := newProviderEnv(t, true, nil, nil)
	path := linkPath(t, requestMagicLink(t, env, ms, "viewer@example.com", ""), "http://da.test/")
	ctx := context.Background()
	u, _ := env.store.GetUserByEmail(ctx, "viewer@example.com")
	old := time.Now().UTC().Add(-61 * time.Minute)
	u.ResetTokenCreated = &old
	if err := env.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	b := env.browser()
	if rec := b.do("GET", path, nil); rec.Code != http.StatusGone || !strings.Contains(rec.Body.String(), "expired") {
		t.Fatalf("GET expired: %d %s", rec.Code, rec.Body)
	}
	q, _ := url.ParseQuery(strings.SplitN(path, "?", 2)[1])
	b.do("GET", "/login", nil) // a CSRF token, so only the expiry can refuse
	if rec := b.do("POST", "/auth/email/verify", url.Values{"token": q["token"], "_csrf": {b.csrf}}); rec.Code != http.StatusGone || b.signedIn() {
		t.Fatalf("POST expired: %d %s", rec.Code, rec.Body)
	}
}

func TestMagicLinkJSONAPI(t *testing.T) {
	env, ms := newProviderEnv(t, true, nil, nil)
	if rec := env.do(request{method: "POST", path: "/auth/email/send-link", body: `{"email":"admin@example.com"}`}); rec.Code != http.StatusOK {
		t.Fatalf("send-link: %d %s", rec.Code, rec.Body)
	}
	link := ms.Wait(t, 10*time.Second).Link("/auth/email/verify")
	tok := link[strings.Index(link, "token=")+6:]
	tests := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"missing token", `{}`, http.StatusUnprocessableEntity, "token"},
		{"not JSON", `[1]`, http.StatusUnprocessableEntity, "JSON object"},
		{"e-mail of someone else", `{"email":"viewer@example.com","token":"` + tok + `"}`, http.StatusUnauthorized, "Invalid or expired link"},
		{"valid", `{"email":"admin@example.com","token":"` + tok + `"}`, http.StatusOK, `"token_type":"bearer"`},
		{"used", `{"token":"` + tok + `"}`, http.StatusUnauthorized, "Invalid or expired link"},
	}
	for _, tc := range tests {
		rec := env.do(request{method: "POST", path: "/auth/email/verify", body: tc.body})
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
		}
	}
}

func TestMagicLinkBadRequests(t *testing.T) {
	env, ms := newProviderEnv(t, true, nil, nil)
	tests := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"empty body", ``, http.StatusUnprocessableEntity, "empty"},
		{"no email", `{}`, http.StatusUnprocessableEntity, "Enter your e-mail"},
		{"not an address", `{"email":"not-an-address"}`, http.StatusUnprocessableEntity, "valid e-mail"},
		{"wrong type", `{"email":42}`, http.StatusUnprocessableEntity, "email"},
	}
	for _, tc := range tests {
		rec := env.do(request{method: "POST", path: "/auth/email/request", body: tc.body, headers: map[string]string{"Content-Type": "application/json"}})
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
		}
	}
	// The form shows the problem inline on the login page, with the magic-link box open.
	b := env.browser()
	b.do("GET", "/login", nil)
	rec := b.do("POST", "/auth/email/request", url.Values{"email": {"nope"}, "_csrf": {b.csrf}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `data-testid="field-error-email"`) ||
		!strings.Contains(rec.Body.String(), `value="nope"`) {
		t.Errorf("form error: %d %s", rec.Code, rec.Body)
	}
	// A form post without the CSRF token is refused.
	if rec := b.do("POST", "/auth/email/request", url.Values{"email": {"viewer@example.com"}}); rec.Code != http.StatusForbidden {
		t.Errorf("no CSRF: %d", rec.Code)
	}
	// Per-address limit: the sixth request for one e-mail within 15 minutes is refused.
	for i := 1; i <= 6; i++ {
		rec := env.do(request{method: "POST", path: "/auth/email/request", body: `{"email":"nobody@example.com"}`})
		want := http.StatusOK
		if i == 6 {
			want = http.StatusTooManyRequests
		}
		if rec.Code != want {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
		if i == 6 && rec.Header().Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	env.srv.signin.sends.Wait()
	if ms.Count() != 0 {
		t.Errorf("%d mails sent for unknown addresses", ms.Count())
	}
}

func TestMagicLinkWithoutSMTP(t *testing.T) {
	env, _ := newProviderEnv(t, false, nil, nil)
	login := env.do(request{method: "GET", path: "/login"}).Body.String()
	for _, hidden := range []string{`data-testid="login-magic"`, `data-testid="login-forgot"`, `data-testid="login-google"`} {
		if strings.Contains(login, hidden) {
			t.Errorf("login page shows %s without its provider", hidden)
		}
	}
	tests := []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/auth/email/request", `{"email":"viewer@example.com"}`, http.StatusServiceUnavailable, "SMTP is not configured"},
		{"POST", "/auth/email/send-link", `{"email":"viewer@example.com"}`, http.StatusServiceUnavailable, "SMTP is not configured"},
		{"POST", "/auth/email/verify", `{"token":"x"}`, http.StatusServiceUnavailable, "SMTP is not configured"},
		{"GET", "/auth/email/verify?token=x", ``, http.StatusServiceUnavailable, "SMTP is not configured"},
		{"GET", "/password/forgot", ``, http.StatusServiceUnavailable, "cannot send e-mail"},
	}
	for _, tc := range tests {
		rec := env.do(request{method: tc.method, path: tc.path, body: tc.body})
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
		}
	}
	// Disabled on purpose: 404.
	env2, _ := newProviderEnv(t, true, map[string]string{"AUTH_DISABLED_PROVIDERS": "email"}, nil)
	rec := env2.do(request{method: "POST", path: "/auth/email/request", body: `{"email":"viewer@example.com"}`})
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "disabled") {
		t.Errorf("disabled: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(env2.do(request{method: "GET", path: "/login"}).Body.String(), `data-testid="login-magic"`) {
		t.Error("disabled magic link still on the login page")
	}
}
