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
//     a file (Route.StreamBody) instead needs MinRate bytes/s, measured over RateWindow;
//   - responses: every response must be read at MinRate over RateWindow too, from its first
//     byte, so a download or export that nobody reads is cut off.
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
		rw := &rateWriter{ResponseWriter: res.Writer, rc: rc, rate: s.transferRate()}
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
			rc := http.NewResponseController(c.Response().Writer)
			r := &rateReader{ReadCloser: req.Body, rc: rc, rate: s.transferRate()}
			r.extend()
			req.Body = r
		}
		return next(c)
	}
}

// rateReader extends the connection's read deadline by one window for every chunk read.
type rateReader struct {
	io.ReadCloser
	rc   *http.ResponseController
	rate rate
	got  int64
}

func (r *rateReader) extend() { _ = r.rc.SetReadDeadline(time.Now().Add(r.rate.window)) }

func (r *rateReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	// After the body's end net/http owns the deadline (its background read needs none).
	if err == nil {
		r.got += int64(n)
		if r.got >= r.rate.chunk {
			r.got = 0
			r.extend()
		}
	}
	return n, err
}

// rateWriter sets the connection's write deadline one window ahead at the first byte and
// again after every chunk written, so a response read slower than the rate is cut off.
type rateWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	rate    rate
	started bool
	since   int64 // bytes since the deadline was last extended
}

func (w *rateWriter) extend() {
	w.since = 0
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.rate.window))
}

func (w *rateWriter) start() {
	if !w.started {
		w.started = true
		w.extend()
	}
}

// room is how many bytes may be written before the deadline must move.
func (w *rateWriter) room() int64 {
	if w.since >= w.rate.chunk {
		w.extend()
	}
	return w.rate.chunk - w.since
}

// WriteHeader starts the clock: headers are the first bytes the client must take.
func (w *rateWriter) WriteHeader(code int) {
	w.start()
	w.ResponseWriter.WriteHeader(code)
}

// Write writes p in pieces of at most one chunk, so one large write cannot outlive a window.
func (w *rateWriter) Write(p []byte) (int, error) {
	w.start()
	written := 0
	for len(p) > 0 {
		n := int64(len(p))
		if room := w.room(); n > room {
			n = room
		}
		m, err := w.ResponseWriter.Write(p[:n])
		written += m
		w.since += int64(m)
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
	w.start()
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
		want := w.room()
		if outer != nil && outer.N < want {
			want = outer.N
		}
		if want <= 0 {
			return total, nil
		}
		n, err := rf.ReadFrom(&io.LimitedReader{R: src, N: want})
		total += n
		w.since += n
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
