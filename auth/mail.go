package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"da/config"
)

// Message is one outgoing e-mail with a plain-text and an HTML body.
type Message struct {
	To      string // a bare address
	Subject string
	Text    string
	HTML    string // optional
}

// Mailer sends e-mail; SMTPMailer is the real one, tests may substitute their own.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// SMTPMailer sends through the configured SMTP relay: implicit TLS on port 465, STARTTLS
// (required, never silently skipped) when UseTLS is set on any other port, plain SMTP when
// UseTLS is false. It authenticates with PLAIN when a user is configured.
type SMTPMailer struct {
	cfg config.SMTPConfig
	// TLSConfig overrides the TLS settings (tests trust their own CA); nil verifies the
	// server against the system roots under the configured host name.
	TLSConfig *tls.Config
	// Timeout bounds a whole delivery when ctx has no earlier deadline.
	Timeout time.Duration
	now     func() time.Time
}

// NewSMTPMailer returns a mailer for cfg; it does not connect until Send.
func NewSMTPMailer(cfg config.SMTPConfig) *SMTPMailer {
	return &SMTPMailer{cfg: cfg, Timeout: 30 * time.Second, now: time.Now}
}

// Send delivers m, returning an error that names the step that failed.
func (s *SMTPMailer) Send(ctx context.Context, m Message) error {
	if s.cfg.Host == "" {
		return errors.New("mail: SMTP_HOST is not configured")
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("mail: invalid recipient %q: %w", m.To, err)
	}
	from, err := mail.ParseAddress(s.cfg.From)
	if err != nil {
		return fmt.Errorf("mail: invalid SMTP_FROM %q: %w", s.cfg.From, err)
	}
	if from.Name == "" {
		from.Name = s.cfg.FromName
	}
	body, err := buildMessage(from, to, m, s.now())
	if err != nil {
		return err
	}

	if _, ok := ctx.Deadline(); !ok && s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mail: connect to %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	tlsCfg := s.tlsConfig()
	implicitTLS := s.cfg.UseTLS && s.cfg.Port == 465
	if implicitTLS {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("mail: TLS handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		return fmt.Errorf("mail: greeting from %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello(helloName(from.Address)); err != nil {
		return fmt.Errorf("mail: EHLO: %w", err)
	}
	if s.cfg.UseTLS && !implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("mail: %s does not offer STARTTLS; set SMTP_USE_TLS=false to send unencrypted", addr)
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return fmt.Errorf("mail: STARTTLS: %w", err)
		}
	}
	if s.cfg.User != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("mail: SMTP_USER is set but %s offers no AUTH", addr)
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.User, s.cfg.Password, s.cfg.Host)); err != nil {
			return fmt.Errorf("mail: AUTH: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("mail: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("mail: send body: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: end of data: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("mail: QUIT: %w", err)
	}
	return nil
}

func (s *SMTPMailer) tlsConfig() *tls.Config {
	if s.TLSConfig != nil {
		c := s.TLSConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = s.cfg.Host
		}
		return c
	}
	return &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
}

// helloName is the EHLO name: the sender's domain, a plausible name for a relay to log.
func helloName(from string) string {
	if _, domain, ok := strings.Cut(from, "@"); ok && domain != "" {
		return domain
	}
	return "localhost"
}

// buildMessage renders headers and a multipart/alternative body with CRLF line ends.
// Header values come from parsed addresses and a subject stripped of line breaks, so no
// caller-supplied text can add headers.
func buildMessage(from, to *mail.Address, m Message, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	subject := strings.Join(strings.Fields(m.Subject), " ")
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	mw := multipart.NewWriter(&buf)
	hdr := []string{
		"From: " + from.String(),
		"To: " + (&mail.Address{Address: to.Address}).String(),
		"Subject: " + mime.QEncoding.Encode("utf-8", subject),
		"Date: " + now.Format(time.RFC1123Z),
		"Message-ID: <" + hex.EncodeToString(id) + "@" + helloName(from.Address) + ">",
		"MIME-Version: 1.0",
		"Auto-Submitted: auto-generated",
		"Content-Type: multipart/alternative; boundary=" + mw.Boundary(),
	}
	buf.WriteString(strings.Join(hdr, "\r\n") + "\r\n\r\n")
	parts := []struct{ ctype, body string }{{"text/plain; charset=utf-8", m.Text}}
	if m.HTML != "" {
		parts = append(parts, struct{ ctype, body string }{"text/html; charset=utf-8", m.HTML})
	}
	for _, p := range parts {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(p.body, "\r\n", "\n"), "\n", "\r\n"))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// LinkMessage is the e-mail carrying a one-time link. kind is "magic", "reset" or "setup".
func LinkMessage(kind, to, instance, link string, ttl time.Duration) Message {
	var subject, lead, button string
	switch kind {
	case "reset":
		subject = "Reset your " + instance + " password"
		lead = "Someone (hopefully you) asked to reset the password of your " + instance + " account."
		button = "Choose a new password"
	case "setup":
		subject = "Set up your " + instance + " account"
		lead = "An administrator invited you to " + instance + ". Choose a password to finish setting up your account."
		button = "Set your password"
	default:
		subject = "Sign in to " + instance
		lead = "Use this link to sign in to " + instance + "."
		button = "Sign in"
	}
	valid := "The link works once and expires in " + humanDuration(ttl) + "."
	ignore := "If you did not ask for this, you can ignore this e-mail; nothing changes."
	text := lead + "\n\n" + button + ":\n" + link + "\n\n" + valid + "\n" + ignore + "\n"
	h := html.EscapeString
	htmlBody := `<!DOCTYPE html><html><body style="font-family:system-ui,sans-serif;color:#0f172a;line-height:1.5">` +
		`<p>` + h(lead) + `</p>` +
		`<p><a href="` + h(link) + `" style="display:inline-block;background:#4f46e5;color:#fff;padding:10px 18px;border-radius:8px;text-decoration:none;font-weight:600">` + h(button) + `</a></p>` +
		`<p style="font-size:13px;color:#475569">Or paste this address into your browser:<br>` + h(link) + `</p>` +
		`<p style="font-size:13px;color:#475569">` + h(valid) + ` ` + h(ignore) + `</p></body></html>`
	return Message{To: to, Subject: subject, Text: text, HTML: htmlBody}
}

// humanDuration writes 1h as "1 hour" and 168h as "7 days".
func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	case d == time.Hour:
		return "1 hour"
	case d > time.Hour && d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " hours"
	}
	return strconv.Itoa(int(d/time.Minute)) + " minutes"
}
