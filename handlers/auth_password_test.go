package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"da/auth"
	"da/store"
)

func TestPasswordResetFlow(t *testing.T) {
	env, ms := newProviderEnv(t, true, nil, nil)
	if !strings.Contains(env.do(request{method: "GET", path: "/login"}).Body.String(), `data-testid="login-forgot"`) {
		t.Fatal("login page has no Forgot password? link")
	}
	b := env.browser()
	if rec := b.do("GET", "/password/forgot", nil); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-testid="forgot-form"`) {
		t.Fatalf("forgot page: %d", rec.Code)
	}
	// Same answer for unknown and known addresses; only the known one gets mail.
	var pages []string
	for _, email := range []string{"nobody@example.com", "viewer@example.com"} {
		rec := b.do("POST", "/password/forgot", url.Values{"email": {email}, "_csrf": {b.csrf}})
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-testid="reset-sent"`) {
			t.Fatalf("forgot %s: %d %s", email, rec.Code, rec.Body)
		}
		pages = append(pages, csrfInput.ReplaceAllString(rec.Body.String(), ""))
	}
	if pages[0] != pages[1] {
		t.Error("answers differ between unknown and known address")
	}
	if rec := b.do("POST", "/password/forgot", url.Values{"email": {"bad"}, "_csrf": {b.csrf}}); rec.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(rec.Body.String(), `data-testid="field-error-email"`) {
		t.Errorf("invalid address: %d", rec.Code)
	}
	m := ms.Wait(t, 10*time.Second)
	if m.To[0] != "viewer@example.com" || !strings.Contains(m.Header("Subject"), "Reset your") {
		t.Fatalf("mail to %q subject %q", m.To, m.Header("Subject"))
	}
	path := linkPath(t, m.Link("/password/reset"), "http://da.test/password/reset?token=")
	token := path[strings.Index(path, "token=")+6:]

	r := env.browser()
	if rec := r.do("GET", path, nil); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-testid="password-form"`) ||
		!strings.Contains(rec.Body.String(), "viewer@example.com") {
		t.Fatalf("reset page: %d %s", rec.Code, rec.Body)
	}
	steps := []struct {
		name      string
		password  string
		confirm   string
		noCSRF    bool
		status    int
		wantInBod string
	}{
		{"no CSRF", "new-password-1", "new-password-1", true, http.StatusForbidden, "CSRF"},
		{"empty", "", "", false, http.StatusUnprocessableEntity, `data-testid="field-error-password"`},
		{"too short", "short", "short", false, http.StatusUnprocessableEntity, "at least 8 characters"},
		{"mismatch", "new-password-1", "new-password-2", false, http.StatusUnprocessableEntity, `data-testid="field-error-confirm"`},
		{"ok", "new-password-1", "new-password-1", false, http.StatusSeeOther, ""},
	}
	for _, st := range steps {
		form := url.Values{"token": {token}, "password": {st.password}, "confirm": {st.confirm}, "_csrf": {r.csrf}}
		if st.noCSRF {
			form.Del("_csrf")
		}
		rec := r.do("POST", "/password/reset", form)
		if rec.Code != st.status || !strings.Contains(rec.Body.String(), st.wantInBod) {
			t.Fatalf("%s: %d %s", st.name, rec.Code, rec.Body)
		}
		if st.status == http.StatusUnprocessableEntity && !strings.Contains(rec.Body.String(), `name="token" value="`+token+`"`) {
			t.Errorf("%s: the form lost its token", st.name)
		}
	}
	if !r.signedIn() {
		t.Fatal("not signed in after the reset")
	}
	if env.browser().login("viewer@example.com", testPassword).Code == http.StatusSeeOther {
		t.Error("old password still works")
	}
	if rec := env.browser().login("viewer@example.com", "new-password-1"); rec.Code != http.StatusSeeOther {
		t.Errorf("new password refused: %d", rec.Code)
	}
	// Single use.
	r2 := env.browser()
	if rec := r2.do("GET", path, nil); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "already used") ||
		strings.Contains(rec.Body.String(), `data-testid="password-form"`) {
		t.Errorf("reused link: %d", rec.Code)
	}
}

func TestPasswordLinksExpireAndSetUp(t *testing.T) {
	env, _ := newProviderEnv(t, true, nil, nil)
	ctx := context.Background()
	invited := &store.User{Email: "invited@example.com", Role: "viewer", Active: true}
	if err := env.store.CreateUser(ctx, invited); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		purpose store.LinkPurpose
		path    string
		age     time.Duration
		status  int
		want    string
	}{
		{"reset, fresh", store.LinkReset, "/password/reset", time.Minute, http.StatusOK, `data-testid="password-form"`},
		{"reset, 61 minutes", store.LinkReset, "/password/reset", 61 * time.Minute, http.StatusGone, "expired"},
		{"setup, 6 days", store.LinkSetup, "/password/setup", 6 * 24 * time.Hour, http.StatusOK, "Set your password"},
		{"setup, 8 days", store.LinkSetup, "/password/setup", 8 * 24 * time.Hour, http.StatusGone, "Ask an administrator"},
		{"reset link on the setup page", store.LinkReset, "/password/setup", time.Minute, http.StatusBadRequest, "not valid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, hash, _ := auth.NewLinkToken()
			if err := env.store.SetLinkToken(ctx, invited.ID, tc.purpose, hash); err != nil {
				t.Fatal(err)
			}
			u, _ := env.store.GetUserByID(ctx, invited.ID)
			at := time.Now().UTC().Add(-tc.age)
			if tc.purpose == store.LinkSetup {
				u.SetupTokenCreated = &at
			} else {
				u.ResetTokenCreated = &at
			}
			if err := env.store.UpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			b := env.browser()
			rec := b.do("GET", tc.path+"?token="+tok, nil)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("GET: %d %s", rec.Code, rec.Body)
			}
			if tc.status != http.StatusOK {
				b.do("GET", "/login", nil)
				if rec := b.do("POST", tc.path, url.Values{"token": {tok}, "password": {"abcdefgh1"}, "confirm": {"abcdefgh1"}, "_csrf": {b.csrf}}); rec.Code != tc.status {
					t.Errorf("POST: %d", rec.Code)
				}
				return
			}
			if tc.purpose == store.LinkSetup {
				rec := b.do("POST", tc.path, url.Values{"token": {tok}, "password": {"first-password"}, "confirm": {"first-password"}, "_csrf": {b.csrf}})
				if rec.Code != http.StatusSeeOther || !b.signedIn() {
					t.Fatalf("set-up: %d %s", rec.Code, rec.Body)
				}
				if env.browser().login("invited@example.com", "first-password").Code != http.StatusSeeOther {
					t.Error("the set-up password does not sign in")
				}
			}
		})
	}
	if rec := env.do(request{method: "GET", path: "/password/reset?token=" + strings.Repeat("%27", 20)}); rec.Code != http.StatusBadRequest {
		t.Errorf("junk token: %d", rec.Code)
	}
}
