package handlers

import (
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// tooManyConns is the whole answer to a connection over the per-address cap.
var tooManyConns = func() string {
	body := `{"detail":"Too many open connections from your address; close some and retry"}`
	return "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n" +
		"Connection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}()

// LimitConnsPerAddr caps the connections open at once from one client IP address. A
// connection over the cap gets a 429 and is closed at once, without reaching the server;
// max <= 0 returns ln unchanged.
func LimitConnsPerAddr(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &connLimiter{Listener: ln, max: max, open: map[string]int{}, refusing: make(chan struct{}, maxRefusing)}
}

// maxRefusing bounds the 429 answers being written at once; past it, connections over the
// cap are closed without one.
const maxRefusing = 64

type connLimiter struct {
	net.Listener
	max      int
	mu       sync.Mutex
	open     map[string]int
	refusing chan struct{}
}

// Accept returns the next connection within the cap, answering the others itself.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := remoteIP(c)
		l.mu.Lock()
		if l.open[addr] >= l.max {
			l.mu.Unlock()
			select {
			case l.refusing <- struct{}{}:
				go func() {
					refuse(c)
					<-l.refusing
				}()
			default:
				_ = c.Close()
			}
			continue
		}
		l.open[addr]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, release: func() { l.release(addr) }}, nil
	}
}

func (l *connLimiter) release(addr string) {
	l.mu.Lock()
	if l.open[addr]--; l.open[addr] <= 0 {
		delete(l.open, addr)
	}
	l.mu.Unlock()
}

// remoteIP is the address a connection comes from, without its port.
func remoteIP(c net.Conn) string {
	a := c.RemoteAddr()
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// refuse answers 429 and closes; it reads what the client sent first (briefly), so that
// closing does not reset the connection before the client has read the answer.
func refuse(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, tooManyConns); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

// limitedConn gives its slot back once, when closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// ReadFrom keeps the kernel's file copy (sendfile) that net/http uses for downloads.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite lets net/http half-close the connection as it does for a plain TCP one.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
