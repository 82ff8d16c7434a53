package handlers

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"

	"da/config"
)

// Slow clients are bounded three ways, so that none can hold a connection, a file or a
// goroutine for long:
//   - headers: http.Server.ReadHeaderTimeout (NewHTTPServer);
//   - bodies: a form or JSON body must arrive whole within BodyTimeout; a route that takes
//     a file (Route.StreamBody) instead must keep up MinRate bytes/s over RateWindow;
//   - responses: every response must be taken at MinRate over RateWindow too, from its first
//     byte, so a download or export that nobody reads is cut off (see clock).
//
// The deadlines are the connection's, set through http.ResponseController and extended as
// bytes flow. A read deadline is set only while a body remains: net/http clears it when the
// body ends, and a deadline that fired during its background read would cancel the request.

// NewHTTPServer is the http.Server for h with the configured header and idle timeouts.
func NewHTTPServer(cfg *config.Config, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              cfg.Addr,
		Handler:           h,
		ReadHeaderTimeout: cfg.HTTP.HeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// rate is the minimum transfer rate: chunk bytes per window.
type rate struct {
	window time.Duration
	chunk  int64
}

func (s *Server) transferRate() rate {
	h := s.cfg.HTTP
	w := h.RateWindow
	if w <= 0 {
		w = 30 * time.Second
	}
	r := h.MinRate
	if r <= 0 {
		r = 4096
	}
	chunk := int64(float64(r) * w.Seconds())
	if chunk < 1 {
		chunk = 1
	}
	return rate{window: w, chunk: chunk}
}

// hasBody reports whether req still has a body to read.
func hasBody(req *http.Request) bool {
	return req.Body != nil && req.Body != http.NoBody && req.ContentLength != 0
}

// deadlines runs first for every request (see the comment above).
func (s *Server) deadlines(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response()
		rc := http.NewResponseController(res.Writer)
		// A kept-alive connection may carry the previous response's deadline.
		_ = rc.SetWriteDeadline(time.Time{})
		if req := c.Request(); hasBody(req) && s.cfg.HTTP.BodyTimeout > 0 {
			_ = rc.SetReadDeadline(time.Now().Add(s.cfg.HTTP.BodyTimeout))
		}
		rw := newRateWriter(res.Writer, rc, s.transferRate())
		res.Writer = rw
		defer rw.finish()
		return next(c)
	}
}

// streamBody holds a file body to the minimum transfer rate instead of the body deadline.
func (s *Server) streamBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if hasBody(req) {
			req.Body = newRateReader(req.Body, http.NewResponseController(c.Response().Writer), s.transferRate())
		}
		return next(c)
	}
}

// clock measures how long a transfer waits on the client: the connection's deadline is one
// window ahead after every chunk moved, and moves later by the time spent between calls
// (the server reading a file, a query producing rows), which is not the client's doing. So a
// transfer is cut off when it waits on the client for a whole window without a chunk moving.
type clock struct {
	rate     rate
	set      func(time.Time) // the connection's read or write deadline
	started  bool
	deadline time.Time
	lastEnd  time.Time     // when the last call returned
	idle     time.Duration // time between calls not yet added to the deadline
	since    int64         // bytes moved since the deadline was last reset
}

// before runs ahead of every read or write of at most room() bytes.
func (k *clock) before() {
	now := time.Now()
	switch {
	case !k.started || k.since >= k.rate.chunk:
		k.started, k.since, k.idle, k.lastEnd = true, 0, 0, now
		k.reset(now.Add(k.rate.window))
	default:
		k.idle += now.Sub(k.lastEnd)
		// Small gaps are collected, to move the deadline once rather than on every call.
		if k.idle >= k.rate.window/100 {
			k.reset(k.deadline.Add(k.idle))
			k.idle = 0
		}
	}
}

func (k *clock) reset(d time.Time) {
	k.deadline = d
	k.set(d)
}

// after records n bytes moved by the call that just returned.
func (k *clock) after(n int64) {
	k.since += n
	k.lastEnd = time.Now()
}

// room is how many bytes the next call may move; before must have run.
func (k *clock) room() int64 { return k.rate.chunk - k.since }

// rateReader holds a request body to the minimum rate.
type rateReader struct {
	io.ReadCloser
	clock
	eof bool
}

func newRateReader(body io.ReadCloser, rc *http.ResponseController, r rate) *rateReader {
	rr := &rateReader{ReadCloser: body}
	rr.clock = clock{rate: r, set: func(t time.Time) { _ = rc.SetReadDeadline(t) }}
	rr.before()
	return rr
}

func (r *rateReader) Read(p []byte) (int, error) {
	// After the body's end net/http owns the deadline (its background read needs none).
	if r.eof {
		return r.ReadCloser.Read(p)
	}
	r.before()
	if room := r.room(); int64(len(p)) > room {
		p = p[:room]
	}
	n, err := r.ReadCloser.Read(p)
	r.after(int64(n))
	if err != nil {
		r.eof = true
	}
	return n, err
}

// rateWriter holds a response to the minimum rate from its first byte.
type rateWriter struct {
	http.ResponseWriter
	clock
	rc *http.ResponseController
}

func newRateWriter(w http.ResponseWriter, rc *http.ResponseController, r rate) *rateWriter {
	rw := &rateWriter{ResponseWriter: w, rc: rc}
	rw.clock = clock{rate: r, set: func(t time.Time) { _ = rc.SetWriteDeadline(t) }}
	return rw
}

// WriteHeader starts the clock: headers are the first bytes the client must take.
func (w *rateWriter) WriteHeader(code int) {
	if !w.started {
		w.before()
		w.after(0)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write writes p in pieces of at most one chunk, so one large write cannot outlive a window.
func (w *rateWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		w.before()
		n := int64(len(p))
		if room := w.room(); n > room {
			n = room
		}
		m, err := w.ResponseWriter.Write(p[:n])
		w.after(int64(m))
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// ReadFrom keeps net/http's sendfile path for file downloads, a chunk at a time. A limited
// source (a byte range) is unwrapped, since sendfile sees through one io.LimitedReader only.
func (w *rateWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{w}, src)
	}
	outer, _ := src.(*io.LimitedReader)
	if outer != nil {
		src = outer.R
	}
	var total int64
	for {
		w.before()
		want := w.room()
		if outer != nil && outer.N < want {
			want = outer.N
		}
		if want <= 0 {
			return total, nil
		}
		n, err := rf.ReadFrom(&io.LimitedReader{R: src, N: want})
		w.after(n)
		total += n
		if outer != nil {
			outer.N -= n
		}
		if err != nil || n < want {
			return total, err
		}
	}
}

// Flush sends buffered bytes to the client.
func (w *rateWriter) Flush() { _ = w.rc.Flush() }

// Unwrap lets http.ResponseController reach the connection.
func (w *rateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish leaves one window for what net/http still flushes after the handler returns.
func (w *rateWriter) finish() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.rate.window))
}

// isTimeout reports a read that failed because its deadline passed.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// bodyReadError maps a failed body read to its status: 413 past the size cap, 408 when the
// client did not send the body in time, 400 otherwise.
func bodyReadError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return apiError(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body too large (limit %d bytes)", mbe.Limit))
	case isTimeout(err):
		return apiError(http.StatusRequestTimeout, "Request body was not received in time")
	}
	return apiError(http.StatusBadRequest, "Could not read request body")
}
