package views

import (
	"strings"
	"testing"
)

func TestPasswordFormPage(t *testing.T) {
	tests := []struct {
		name       string
		d          PasswordFormData
		wantForm   bool
		wantErrors []string
		wantTitle  string
		wantLink   bool
	}{
		{name: "reset form", d: PasswordFormData{Action: "/password/reset", Email: "a@example.com", Token: "tok", CSRF: "c1"}, wantForm: true, wantTitle: "Choose a new password"},
		{name: "setup with inline errors", d: PasswordFormData{Setup: true, Action: "/password/setup", Email: "a@example.com", Token: "tok", CSRF: "c1",
			FieldErrors: map[string]string{"password": "Too short.", "confirm": "Mismatch."}}, wantForm: true, wantErrors: []string{"password", "confirm"}, wantTitle: "Set your password"},
		{name: "used reset link", d: PasswordFormData{Action: "/password/reset", Error: "This link is not valid or was already used."}, wantTitle: "Choose a new password", wantLink: true},
		{name: "expired setup link", d: PasswordFormData{Setup: true, Action: "/password/setup", Error: "Expired."}, wantTitle: "Set your password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, _ := render(t, PasswordForm(tc.d))
			if got := byID(t, doc, "auth-title").Text(); got != tc.wantTitle {
				t.Errorf("title %q", got)
			}
			if tc.wantForm {
				f := byID(t, doc, "password-form")
				if f.AttrOr("action", "") != tc.d.Action || f.Find(`input[name="token"]`).AttrOr("value", "") != "tok" ||
					f.Find(`input[name="_csrf"]`).AttrOr("value", "") != "c1" || f.Find(`input[type="password"]`).Length() != 2 {
					t.Error("form fields wrong")
				}
				if byID(t, doc, "password-new").AttrOr("autocomplete", "") != "new-password" {
					t.Error("new password is not marked new-password for password managers")
				}
			} else {
				absent(t, doc, "password-form")
				if !strings.Contains(byID(t, doc, "password-error").Text(), tc.d.Error) {
					t.Error("error not shown")
				}
			}
			for _, f := range tc.wantErrors {
				byID(t, doc, "field-error-"+f)
			}
			if tc.wantLink {
				if byID(t, doc, "password-new-link").AttrOr("href", "") != "/password/forgot" {
					t.Error("no way to ask for a new link")
				}
			} else {
				absent(t, doc, "password-new-link")
			}
		})
	}
}

func TestEmailConfirmAndNotices(t *testing.T) {
	doc, html := render(t, EmailConfirm(EmailConfirmData{InstanceName: "Acme", Email: "a@example.com", Token: "t<1>", Next: "/catalog", CSRF: "c"}))
	f := byID(t, doc, "magic-confirm-form")
	if f.AttrOr("method", "") != "post" || f.AttrOr("action", "") != "/auth/email/verify" ||
		f.Find(`input[name="token"]`).AttrOr("value", "") != "t<1>" || f.Find(`input[name="next"]`).AttrOr("value", "") != "/catalog" ||
		f.Find(`input[name="_csrf"]`).AttrOr("value", "") != "c" {
		t.Error("confirm form wrong")
	}
	if strings.Contains(html, "t<1>") {
		t.Error("token not escaped")
	}
	if byID(t, doc, "magic-confirm-email").Text() != "a@example.com" {
		t.Error("e-mail not shown")
	}

	doc, _ = render(t, AuthMessage(AuthNotice{Title: "Check your e-mail", Message: "sent", TestID: "magic-sent", Icon: "mail"}))
	if byID(t, doc, "magic-sent").Text() != "sent" {
		t.Error("plain notice")
	}
	absent(t, doc, "auth-next-link")
	doc, _ = render(t, AuthMessage(AuthNotice{Title: "Bad", Message: "nope", Tone: "error", TestID: "magic-error", LinkHref: "/login", LinkLabel: "Again"}))
	if byID(t, doc, "magic-error").AttrOr("role", "") != "alert" || byID(t, doc, "auth-next-link").AttrOr("href", "") != "/login" {
		t.Error("error notice")
	}

	doc, _ = render(t, ForgotPassword(ForgotPasswordData{Email: "x", CSRF: "c", FieldErrors: map[string]string{"email": "Bad."}}))
	if byID(t, doc, "forgot-form").AttrOr("action", "") != "/password/forgot" || byID(t, doc, "forgot-email").AttrOr("value", "") != "x" {
		t.Error("forgot form")
	}
	byID(t, doc, "field-error-email")
}

func TestLoginProviderLinks(t *testing.T) {
	tests := []struct {
		d                         LoginData
		google, magic, forgotLink bool
	}{
		{LoginData{}, false, false, false},
		{LoginData{GoogleEnabled: true, MagicLinkEnabled: true, PasswordResetEnabled: true}, true, true, true},
		{LoginData{PasswordResetEnabled: true}, false, false, true},
	}
	for i, tc := range tests {
		doc, _ := render(t, Login(tc.d))
		for id, want := range map[string]bool{"login-google": tc.google, "login-magic-form": tc.magic, "login-forgot": tc.forgotLink} {
			if got := doc.Find(`[data-testid="`+id+`"]`).Length() == 1; got != want {
				t.Errorf("case %d: %s shown = %v, want %v", i, id, got, want)
			}
		}
	}
	doc, _ := render(t, Login(LoginData{MagicLinkEnabled: true, Email: "typed@example.com", MagicEmail: "bad", FieldErrors: map[string]string{"magic_email": "Enter a valid e-mail."}}))
	if _, open := byID(t, doc, "login-magic").Attr("open"); !open || byID(t, doc, "login-magic-email").AttrOr("value", "") != "bad" {
		t.Error("magic-link box not open with the failed address")
	}
}

// TestLoginHelpAndDemo: without mail the login page still answers "Forgot password?" (ask an
// admin for a set-up link); a demo instance shows its admin's sign-in.
func TestLoginHelpAndDemo(t *testing.T) {
	doc, _ := render(t, Login(LoginData{}))
	if doc.Find(`[data-testid="login-forgot-ask"]`).Length() != 1 || !strings.Contains(doc.Find(`[data-testid="login-forgot-help"]`).Text(), "set-up link") {
		t.Error("no forgot-password help without mail")
	}
	if doc.Find(`[data-testid="login-demo"]`).Length() != 0 {
		t.Error("demo credentials on a normal instance")
	}
	doc, _ = render(t, Login(LoginData{PasswordResetEnabled: true, DemoEmail: "admin@demo.local", DemoPassword: "pw-1"}))
	if doc.Find(`[data-testid="login-forgot-ask"]`).Length() != 0 {
		t.Error("both the reset link and the ask-an-admin help")
	}
	if doc.Find(`[data-testid="login-demo-email"]`).Text() != "admin@demo.local" || doc.Find(`[data-testid="login-demo-password"]`).Text() != "pw-1" {
		t.Error("demo credentials missing")
	}
}
