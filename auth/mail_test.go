package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"da/auth/mailtest"
	"da/config"
)

func TestSMTPMailerSends(t *testing.T) {
	tests := []struct {
		name     string
		starttls bool
		useTLS   bool
		user     string
		wantErr  string
		wantTLS  bool
		wantAuth string
	}{
		{name: "plain, no auth", starttls: false, useTLS: false},
		{name: "STARTTLS with auth", starttls: true, useTLS: true, user: "mailer", wantTLS: true, wantAuth: "mailer:pw"},
		{name: "STARTTLS offered but not wanted", starttls: true, useTLS: false},
		{name: "TLS wanted but not offered", starttls: false, useTLS: true, wantErr: "does not offer STARTTLS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.Start(t, mailtest.Options{STARTTLS: tc.starttls})
			m := NewSMTPMailer(config.SMTPConfig{Host: srv.Host, Port: srv.Port, UseTLS: tc.useTLS, User: tc.user, Password: "pw",
				From: "noreply@example.com", FromName: "Acme Data"})
			m.TLSConfig = srv.ClientTLS
			link := "http://localhost:8000/auth/email/verify?token=" + strings.Repeat("A", 43) + "&next=%2Fcatalog"
			msg := LinkMessage("magic", "ann@example.com", "Acme Data", link, MagicLinkTTL)
			err := m.Send(context.Background(), msg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Send = %v, want error containing %q", err, tc.wantErr)
				}
				if srv.Count() != 0 {
					t.Error("a message was delivered anyway")
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.Wait(t, 5*time.Second)
			if got.From != "noreply@example.com" || len(got.To) != 1 || got.To[0] != "ann@example.com" {
				t.Errorf("envelope from=%q to=%q", got.From, got.To)
			}
			if got.TLS != tc.wantTLS || got.Auth != tc.wantAuth {
				t.Errorf("TLS=%v auth=%q, want %v %q", got.TLS, got.Auth, tc.wantTLS, tc.wantAuth)
			}
			if s := got.Header("Subject"); s != "Sign in to Acme Data" {
				t.Errorf("Subject = %q", s)
			}
			if f := got.Header("From"); !strings.Contains(f, "Acme Data") || !strings.Contains(f, "<noreply@example.com>") {
				t.Errorf("From = %q", f)
			}
			if l := got.Link("/auth/email/verify"); l != link {
				t.Errorf("link in text part = %q, want %q", l, link)
			}
			html, err := got.Part("text/html")
			if err != nil || !strings.Contains(html, strings.ReplaceAll(link, "&", "&amp;")) {
				t.Errorf("html part = %q, %v", html, err)
			}
			text, _ := got.Part("text/plain")
			if !strings.Contains(text, "expires in 1 hour") {
				t.Errorf("text does not state the lifetime: %q", text)
			}
		})
	}
}

func TestSMTPMailerRefusesBadInput(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	m := NewSMTPMailer(config.SMTPConfig{Host: srv.Host, Port: srv.Port, From: "noreply@example.com"})
	tests := []struct {
		name string
		msg  Message
		want string
	}{
		{"header injection in recipient", Message{To: "a@example.com\r\nBcc: evil@example.com", Subject: "x", Text: "x"}, "invalid recipient"},
		{"empty recipient", Message{To: "", Subject: "x", Text: "x"}, "invalid recipient"},
	}
	for _, tc := range tests {
		if err := m.Send(context.Background(), tc.msg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Send = %v, want %q", tc.name, err, tc.want)
		}
	}
	// A subject with line breaks cannot add headers.
	if err := m.Send(context.Background(), Message{To: "a@example.com", Subject: "Hi\r\nBcc: evil@example.com", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, 5*time.Second)
	if got.Header("Bcc") != "" || len(got.To) != 1 {
		t.Errorf("subject injected a header: %q", got.Data)
	}
	// Nothing listening: a clear error naming the address.
	dead := NewSMTPMailer(config.SMTPConfig{Host: "127.0.0.1", Port: 1, From: "noreply@example.com"})
	if err := dead.Send(context.Background(), Message{To: "a@example.com", Text: "x"}); err == nil || !strings.Contains(err.Error(), "connect to 127.0.0.1:1") {
		t.Errorf("Send to a closed port = %v", err)
	}
}

func TestLinkMessageKinds(t *testing.T) {
	tests := []struct {
		kind, subject, ttl string
		d                  time.Duration
	}{
		{"magic", "Sign in to Acme", "1 hour", MagicLinkTTL},
		{"reset", "Reset your Acme password", "1 hour", ResetLinkTTL},
		{"setup", "Set up your Acme account", "7 days", SetupLinkTTL},
	}
	for _, tc := range tests {
		m := LinkMessage(tc.kind, "a@example.com", "Acme", "https://x/<y>", tc.d)
		if m.Subject != tc.subject || !strings.Contains(m.Text, tc.ttl) || !strings.Contains(m.Text, "https://x/<y>") ||
			strings.Contains(m.HTML, "<y>") {
			t.Errorf("%s: %+v", tc.kind, m)
		}
	}
}
