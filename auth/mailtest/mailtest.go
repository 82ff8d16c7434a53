// Package mailtest is an in-process SMTP server for tests: it speaks enough SMTP (EHLO,
// STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) to capture what da sends, so
// tests can read e-mailed links without any outside service.
package mailtest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mail is one captured message.
type Mail struct {
	From string   // MAIL FROM address
	To   []string // RCPT TO addresses
	Data []byte   // the message as sent after DATA (dot-unstuffed)
	Auth string   // "user:password" from AUTH PLAIN, or ""
	TLS  bool     // the message arrived over TLS (STARTTLS)
}

// Options choose the server's behaviour.
type Options struct {
	STARTTLS bool // offer STARTTLS with a self-signed certificate for 127.0.0.1
}

// Server is a running capture server.
type Server struct {
	// Host and Port are where it listens (127.0.0.1 and a free port).
	Host string
	Port int
	// ClientTLS trusts the server's self-signed certificate (for STARTTLS tests).
	ClientTLS *tls.Config

	ln     net.Listener
	tlsCfg *tls.Config
	mails  chan Mail
	mu     sync.Mutex
	all    []Mail
	wg     sync.WaitGroup
}

// Start listens on 127.0.0.1 and stops when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s := &Server{ln: ln, mails: make(chan Mail, 100)}
	addr := ln.Addr().(*net.TCPAddr)
	s.Host, s.Port = "127.0.0.1", addr.Port
	if opts.STARTTLS {
		s.tlsCfg, s.ClientTLS, err = selfSigned()
		if err != nil {
			t.Fatalf("mailtest: certificate: %v", err)
		}
	}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

// Wait returns the next captured message, failing the test after timeout.
func (s *Server) Wait(t testing.TB, timeout time.Duration) Mail {
	t.Helper()
	select {
	case m := <-s.mails:
		return m
	case <-time.After(timeout):
		t.Fatalf("mailtest: no e-mail arrived within %s", timeout)
		return Mail{}
	}
}

// Count is the number of messages captured so far.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.all)
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			s.session(conn)
		}()
	}
}

// session runs one SMTP conversation.
func (s *Server) session(conn net.Conn) {
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	reply := func(line string) bool {
		_, err := w.WriteString(line + "\r\n")
		return err == nil && w.Flush() == nil
	}
	reply("220 mailtest ESMTP ready")
	var cur Mail
	isTLS := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ext := []string{"250-mailtest", "250-8BITMIME", "250-AUTH PLAIN"}
			if s.tlsCfg != nil && !isTLS {
				ext = append(ext, "250-STARTTLS")
			}
			ext = append(ext, "250 SIZE 10485760")
			reply(strings.Join(ext, "\r\n"))
		case "STARTTLS":
			if s.tlsCfg == nil || isTLS {
				reply("502 STARTTLS not available")
				continue
			}
			reply("220 go ahead")
			tc := tls.Server(conn, s.tlsCfg)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, isTLS = tc, true
			r, w = bufio.NewReader(conn), bufio.NewWriter(conn)
			cur = Mail{}
		case "AUTH":
			mech, ir, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				reply("504 only PLAIN")
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(ir)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 {
				reply("501 malformed AUTH PLAIN")
				continue
			}
			cur.Auth = parts[1] + ":" + parts[2]
			reply("235 authenticated")
		case "MAIL":
			cur.From = angle(arg)
			cur.To, cur.Data = nil, nil
			reply("250 ok")
		case "RCPT":
			cur.To = append(cur.To, angle(arg))
			reply("250 ok")
		case "DATA":
			if cur.From == "" || len(cur.To) == 0 {
				reply("503 need MAIL and RCPT first")
				continue
			}
			reply("354 end with .")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			cur.Data, cur.TLS = []byte(data.String()), isTLS
			s.mu.Lock()
			s.all = append(s.all, cur)
			s.mu.Unlock()
			s.mails <- cur
			auth := cur.Auth
			cur = Mail{Auth: auth}
			reply("250 queued")
		case "RSET":
			cur = Mail{Auth: cur.Auth}
			reply("250 ok")
		case "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("500 unknown command")
		}
	}
}

// angle extracts the address of "FROM:<a@b>" / "TO:<a@b> SIZE=1".
func angle(arg string) string {
	if i := strings.IndexByte(arg, '<'); i >= 0 {
		if j := strings.IndexByte(arg[i:], '>'); j > 0 {
			return arg[i+1 : i+j]
		}
	}
	return ""
}

// Header returns a decoded header of the message.
func (m Mail) Header(key string) string {
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		return ""
	}
	v := msg.Header.Get(key)
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// Part returns the decoded body part of the given media type ("text/plain", "text/html"),
// for single-part and multipart messages alike.
func (m Mail) Part(mediaType string) (string, error) {
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		return "", err
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(mt, "multipart/") {
		if mt != mediaType {
			return "", errors.New("mailtest: no " + mediaType + " part")
		}
		return decodeBody(msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			return "", errors.New("mailtest: no " + mediaType + " part")
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if pt == mediaType {
			return decodeBody(p, p.Header.Get("Content-Transfer-Encoding"))
		}
	}
}

func decodeBody(r io.Reader, cte string) (string, error) {
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

var urlPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// Link returns the first URL in the plain-text part that contains substr, or "".
func (m Mail) Link(substr string) string {
	text, err := m.Part("text/plain")
	if err != nil {
		return ""
	}
	for _, u := range urlPattern.FindAllString(text, -1) {
		if strings.Contains(u, substr) {
			return u
		}
	}
	return ""
}

// selfSigned makes a server certificate for 127.0.0.1 and a client config trusting it.
func selfSigned() (*tls.Config, *tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	srv := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}, MinVersion: tls.VersionTLS12}
	cli := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return srv, cli, nil
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }
