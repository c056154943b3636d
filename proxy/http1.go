package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// Server serves a handler over HTTP/1.1, plain or over TLS, with a lean
// loop for requests without a body (GET and HEAD, the requests a cache
// answers), and hands each request that needs more to a standard net/http
// server, one request at a time.
//
// Why: net/http writes a response's header and its body with separate
// system calls and spends as long again on per-request bookkeeping as a
// cache hit costs; for small objects that is most of the work. Here a
// response's header and its first body bytes leave in one writev, and a
// request costs one small allocation set. The handler is the same, so
// authentication, authorization, logging and the audit trail are the same.
//
// The lean loop reads every request head itself (http1head.go): it
// accepts and refuses what net/http's server does, with a head of at most
// 8 KiB, one header timeout (ReadHeaderTimeout, from the head's first
// byte), and S3's XML errors for what it refuses — 400 BadRequest or
// RequestHeaderSectionTooLarge, 408 RequestTimeout, 417, 501 NotImplemented
// for a Transfer-Encoding other than chunked, 505 for an HTTP version other
// than 1.x — each with a request id, then it closes the connection. It
// serves an HTTP/1.1 GET or HEAD without a body itself; any other request —
// an upload, an HTTP/1.0 client, an Expect — is given to Fallback with its
// body, and the connection comes back to the lean loop once Fallback
// answered it (http1handoff.go). Over TLS, a connection that negotiates
// HTTP/2 is Fallback's from the start.
//
// Unlike net/http, a request's context is not cancelled when the client
// goes away mid-response; the response's writes fail instead, which ends
// the handler's copy. The zero Server is not usable: set Handler and
// Fallback. Serve and Shutdown are safe for concurrent use.
type Server struct {
	// Handler answers requests on both paths.
	Handler http.Handler
	// Fallback serves handed-over requests and HTTP/2 connections. Its
	// Handler should be Handler. Server sets its ConnState and ConnContext
	// hooks (calling any hook set before) and wraps its Handler so that a
	// handed-over request over TLS has its r.TLS, as a lean one does; its
	// ReadHeaderTimeout and MaxHeaderBytes apply to HTTP/2 only, as Server
	// reads every HTTP/1 head itself.
	Fallback *http.Server
	// TLSConfig, if not nil, makes Serve speak TLS on every connection,
	// offering what its NextProtos say ("h2" connections go to Fallback,
	// whose TLSConfig should then offer "h2" too). If nil, plain HTTP.
	TLSConfig *tls.Config
	// ReadHeaderTimeout bounds reading a request's head once its first
	// byte arrived (and a TLS handshake); a client still sending then gets
	// 408 RequestTimeout. If zero, Fallback's, or 30 seconds.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection. If zero, Fallback's, or 2 minutes.
	IdleTimeout time.Duration
	// WriteTimeout bounds a client that stops reading: a write to the
	// connection fails, and the connection closes, once none of its bytes
	// moved for WriteTimeout. A slow client that keeps reading is never
	// cut. It applies to every response on the connection, Fallback's
	// included. If zero, writes wait as long as the client does.
	WriteTimeout time.Duration
	// Logger receives handler panics and refused requests (at debug
	// level). If nil, slog.Default().
	Logger *slog.Logger

	mu      sync.Mutex
	conns   map[*leanConn]struct{}
	closing atomic.Bool
	handoff *handoffListener
	lns     []net.Listener
	active  sync.WaitGroup
	ids     struct {
		prefix string
		seq    atomic.Uint64
	}
}

// leanBufferSize is the read buffer of a connection: a request head must
// fit in it.
const leanBufferSize = maxHeadBytes

func (s *Server) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[*leanConn]struct{}{}
		s.handoff = &handoffListener{conns: make(chan net.Conn), done: make(chan struct{})}
		var b [4]byte
		rand.Read(b[:])
		s.ids.prefix = hex.EncodeToString(b[:])
	}
}

// requestID returns an id for an answer the server makes itself.
func (s *Server) requestID() string {
	return s.ids.prefix + strconv.FormatUint(s.ids.seq.Add(1), 16)
}

func (s *Server) readHeaderTimeout() time.Duration {
	switch {
	case s.ReadHeaderTimeout > 0:
		return s.ReadHeaderTimeout
	case s.Fallback != nil && s.Fallback.ReadHeaderTimeout > 0:
		return s.Fallback.ReadHeaderTimeout
	}
	return 30 * time.Second
}

func (s *Server) idleTimeout() time.Duration {
	switch {
	case s.IdleTimeout > 0:
		return s.IdleTimeout
	case s.Fallback != nil && s.Fallback.IdleTimeout > 0:
		return s.Fallback.IdleTimeout
	}
	return 2 * time.Minute
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Serve accepts connections on ln until Shutdown, serving each with the
// lean loop first. It returns http.ErrServerClosed after Shutdown, or the
// listener's error.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.lns = append(s.lns, ln)
	first := len(s.lns) == 1
	s.mu.Unlock()
	if first {
		s.handoff.addr = ln.Addr()
		prev := s.Fallback.ConnState
		s.Fallback.ConnState = func(c net.Conn, st http.ConnState) {
			if hc, ok := c.(*handoffConn); ok && st == http.StateIdle {
				hc.setAnswered()
			}
			if prev != nil {
				prev(c, st)
			}
		}
		prevCtx := s.Fallback.ConnContext
		s.Fallback.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			if hc, ok := c.(*handoffConn); ok && hc.tls != nil {
				ctx = context.WithValue(ctx, tlsStateKey{}, hc.tls)
			}
			if prevCtx != nil {
				ctx = prevCtx(ctx, c)
			}
			return ctx
		}
		s.Fallback.Handler = withTLSState{s.Fallback.Handler}
		go func() {
			if err := s.Fallback.Serve(s.handoff); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.logger().Error("fallback HTTP server stopped", "error", err)
			}
		}()
	}
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: back off as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		lc := &leanConn{srv: s, conn: c, remote: c.RemoteAddr().String()}
		if s.WriteTimeout > 0 {
			lc.conn = &progressConn{Conn: lc.conn, d: s.WriteTimeout}
		}
		if s.TLSConfig != nil {
			lc.conn = tls.Server(lc.conn, s.TLSConfig)
		}
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			c.Close()
			return http.ErrServerClosed
		}
		s.conns[lc] = struct{}{}
		s.active.Add(1)
		s.mu.Unlock()
		go lc.serve()
	}
}

// Shutdown stops accepting, closes idle connections, lets requests in
// flight finish and shuts Fallback down, all within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing.Store(true)
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.wakeIfIdle()
	}
	s.mu.Unlock()

	// Fallback.Shutdown closes the handoff listener: requests that would
	// be handed over from now on are refused by closing their connection.
	errc := make(chan error, 1)
	go func() { errc <- s.Fallback.Shutdown(ctx) }()
	waited := make(chan struct{})
	go func() { s.active.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.conn.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
	return <-errc
}

func (s *Server) forget(c *leanConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.active.Done()
}

// leanConn is one client connection on the lean loop.
type leanConn struct {
	srv    *Server
	conn   net.Conn // the client connection: TLS over the progress bound over TCP
	br     *bufio.Reader
	remote string
	tls    *tls.ConnectionState // after the handshake; nil for plain HTTP

	mu   sync.Mutex
	idle bool // waiting for the first byte of a request

	w leanWriter
}

// wakeIfIdle makes a connection waiting for a request give up at once.
func (c *leanConn) wakeIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle {
		c.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

func (c *leanConn) setIdle(idle bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idle = idle
	return !c.srv.closing.Load()
}

func (c *leanConn) serve() {
	handedOff := false // the connection is Fallback's for good
	defer func() {
		if !handedOff {
			c.conn.Close()
		}
		c.srv.forget(c)
	}()
	if tc, ok := c.conn.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(c.srv.readHeaderTimeout()))
		if err := tc.Handshake(); err != nil {
			return
		}
		tc.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		c.tls = &st
		if st.NegotiatedProtocol == "h2" {
			handedOff = c.handOver(tc)
			return
		}
	}
	c.br = bufio.NewReaderSize(c.conn, leanBufferSize)
	c.w.conn = c.conn
	afterPost := false
	for {
		if !c.setIdle(true) {
			return
		}
		c.conn.SetReadDeadline(time.Now().Add(c.srv.idleTimeout()))
		_, err := c.br.Peek(1)
		if !c.setIdle(false) || err != nil {
			return
		}
		if afterPost {
			// As net/http: old clients send a CRLF after a POST body.
			afterPost = false
			peek, _ := c.br.Peek(min(4, c.br.Buffered()))
			skip := len(peek) - len(bytes.TrimLeft(peek, "\r\n"))
			if c.br.Discard(skip); c.br.Buffered() == 0 {
				continue
			}
		}
		c.conn.SetReadDeadline(time.Now().Add(c.srv.readHeaderTimeout()))
		n, refusal, err := c.readHead()
		if refusal != nil {
			c.refuse(refusal)
			return
		}
		if err != nil {
			return
		}
		head, _ := c.br.Peek(n)
		h, refusal := parseHead(head, c.remote)
		if refusal != nil {
			c.refuse(refusal)
			return
		}
		c.conn.SetReadDeadline(time.Time{})
		req := h.req
		if !h.lean {
			hc := newHandoffConn(c.conn, c.br, n, req)
			hc.tls = c.tls
			if !c.handOver(hc) {
				return
			}
			if !<-hc.back {
				// Fallback ended the connection after its answer, maybe
				// with the request's body unread (an upload refused).
				c.linger()
				return
			}
			afterPost = req.Method == http.MethodPost
			continue
		}
		c.br.Discard(n)
		req.TLS = c.tls
		req.Close = req.Close || c.srv.closing.Load()
		if !c.serveRequest(req) || req.Close {
			return
		}
	}
}

// handOver gives conn to Fallback and reports whether it took it.
func (c *leanConn) handOver(conn net.Conn) bool {
	select {
	case c.srv.handoff.conns <- conn:
		return true
	case <-c.srv.handoff.done:
		return false
	}
}

// readHead waits until the buffer holds a whole request head and returns
// its length; or the S3 error to refuse it with (a head over
// maxHeadBytes, the header timeout, the client ending its side mid-head);
// or the error of a connection that broke, which gets no answer.
func (c *leanConn) readHead() (n int, refusal *s3api.Error, err error) {
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		if n := headEnd(buf); n >= 0 {
			return n, nil, nil
		}
		if len(buf) >= maxHeadBytes {
			return 0, s3api.ErrHeadTooLarge, nil
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				return 0, s3api.ErrHeadTimeout.WithCause(err), nil
			case errors.Is(err, io.EOF):
				return 0, s3api.ErrMalformedRequest.WithCause(err), nil
			}
			return 0, nil, err
		}
	}
}

// refuse answers a request head the server will not serve with e, and
// ends the connection: what the client sent after the head is drained
// for a moment so that it reads the answer rather than a reset.
func (c *leanConn) refuse(e *s3api.Error) {
	method := ""
	if buf, _ := c.br.Peek(c.br.Buffered()); bytes.HasPrefix(buf, []byte("HEAD ")) {
		method = http.MethodHead
	}
	id := c.srv.requestID()
	c.srv.logger().LogAttrs(context.Background(), slog.LevelDebug, "request refused",
		slog.String("request_id", id), slog.String("remote", c.remote),
		slog.Int("status", e.Status), slog.String("code", e.Code), slog.Any("cause", e.Err))
	w := &c.w
	w.reset(method == http.MethodHead, true)
	s3api.Write(w, method, "", e, id)
	if !w.finish() && w.err != nil {
		return
	}
	c.linger()
}

// linger shuts the sending side of a connection about to close and
// drains what the client still sends, for a moment: closing a socket with
// unread bytes resets it, and a reset can destroy the answer before the
// client read it.
func (c *leanConn) linger() {
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		c.conn.SetReadDeadline(time.Now().Add(lingerTimeout))
		io.Copy(io.Discard, io.LimitReader(c.br, lingerBytes))
	}
}

// A closing connection's unread bytes are drained for at most
// lingerTimeout or lingerBytes after the answer, as net/http does after
// 431, so that closing it does not reset the answer away. The bytes
// bound is larger than net/http's 256 KiB: an upload refused before its
// body was read (a POST form over its content-length-range, a PUT whose
// signature fails) is still arriving at loopback or LAN speed, and a
// client whose socket is reset while it writes may never read the
// answer. Time bounds what a client can make the server read.
const (
	lingerTimeout = 500 * time.Millisecond
	lingerBytes   = 8 << 20
)

// serveRequest runs the handler for req and reports whether the
// connection can carry another request.
func (c *leanConn) serveRequest(req *http.Request) (keep bool) {
	w := &c.w
	w.reset(req.Method == http.MethodHead, req.Close)
	defer func() {
		if v := recover(); v != nil {
			keep = false
			if v != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.logger().Error("panic serving request", "remote", c.remote, "panic", fmt.Sprint(v), "stack", string(buf))
			}
		}
	}()
	c.srv.Handler.ServeHTTP(w, req)
	return w.finish()
}

// canonicalHeader returns the canonical form of a header name, without
// allocating for the common names clients send.
func canonicalHeader(name []byte) string {
	switch string(name) {
	case "Host", "host":
		return "Host"
	case "Authorization", "authorization":
		return "Authorization"
	case "X-Amz-Date", "x-amz-date":
		return "X-Amz-Date"
	case "X-Amz-Content-Sha256", "x-amz-content-sha256":
		return "X-Amz-Content-Sha256"
	case "User-Agent", "user-agent":
		return "User-Agent"
	case "Accept", "accept":
		return "Accept"
	case "Accept-Encoding", "accept-encoding":
		return "Accept-Encoding"
	case "Connection", "connection":
		return "Connection"
	case "Range", "range":
		return "Range"
	}
	return http.CanonicalHeaderKey(string(name))
}

// validHeaderName reports whether b is an HTTP token.
func validHeaderName(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue rejects control characters other than tab.
func validHeaderValue[S ~string | ~[]byte](b S) bool {
	for i := 0; i < len(b); i++ {
		if c := b[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// leanWriter is the ResponseWriter of the lean loop. It holds small
// writes back (up to maxPending bytes) and sends the status line, header
// and body bytes together: a response whose body is written at once, or
// fits, leaves in one writev, and the write that completes a declared
// length is never held back. Larger bodies go out as they come, in
// batches. A response without a Content-Length is sent with one if it
// ended within the buffer, else chunked. Flush sends what is held.
//
// The header is read when the body starts (the first Write, Flush or the
// handler's return); as with net/http, later changes are not reliable.
type leanWriter struct {
	conn     net.Conn
	header   http.Header
	hbuf     []byte      // rendered status line and header
	pend     []byte      // body bytes held back
	bufs     net.Buffers // scratch for writev
	status   int
	head     bool  // HEAD: no body goes out
	close    bool  // the connection ends after this response
	started  bool  // the body started: framing decided
	sent     bool  // status line and header are out
	chunked  bool  // framing: chunked
	noBody   bool  // the status or method has no body
	declared int64 // Content-Length, or -1
	written  int64 // body bytes accepted from the handler
	err      error
}

// maxPending bounds the body bytes a leanWriter holds back.
const maxPending = 32 << 10

func (w *leanWriter) reset(head, close bool) {
	if w.header == nil {
		w.header = make(http.Header, 16)
	} else {
		clear(w.header)
	}
	w.hbuf, w.pend = w.hbuf[:0], w.pend[:0]
	w.status, w.head, w.close = 0, head, close
	w.started, w.sent, w.chunked, w.noBody = false, false, false, false
	w.declared, w.written, w.err = -1, 0, nil
}

func (w *leanWriter) Header() http.Header { return w.header }

func (w *leanWriter) WriteHeader(code int) {
	if w.status != 0 || w.started {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 {
		return // informational answers are not sent
	}
	w.status = code
}

// bodyAllowed reports whether the status may carry a body.
func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}

// start fixes the status and the declared length when the body starts.
func (w *leanWriter) start() {
	w.started = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.noBody = w.head || !bodyAllowed(w.status)
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.declared = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

// render writes the status line and header into hbuf, choosing the
// framing of a body without a declared length: its length when done (the
// handler returned with all of it held), else chunked.
func (w *leanWriter) render(done bool) {
	h := w.header
	if w.declared < 0 && bodyAllowed(w.status) && !w.head {
		if done {
			w.declared = w.written
			h["Content-Length"] = []string{strconv.FormatInt(w.written, 10)}
		} else {
			w.chunked = true
			h["Transfer-Encoding"] = []string{"chunked"}
		}
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = []string{httpDate()}
	}
	if w.close {
		h["Connection"] = []string{"close"}
	}
	b := w.hbuf[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(w.status)...)
	b = append(b, "\r\n"...)
	for k, vs := range h {
		for _, v := range vs {
			if !validHeaderValue(v) {
				continue // never let a value split the header
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	w.hbuf = b
}

func (w *leanWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if !w.started {
		w.start()
	}
	if w.noBody {
		w.written += int64(len(p))
		return len(p), nil
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		w.err = http.ErrContentLength
		return 0, w.err
	}
	complete := w.declared >= 0 && w.written+int64(len(p)) == w.declared
	if !complete && len(w.pend)+len(p) <= maxPending {
		w.pend = append(w.pend, p...)
		w.written += int64(len(p))
		return len(p), nil
	}
	if err := w.send(false, p, false); err != nil {
		return 0, err
	}
	w.written += int64(len(p))
	return len(p), nil
}

// send writes, in one system call, the header if it is not out yet, the
// held bytes and p (a chunk when chunked), and the final chunk if last.
func (w *leanWriter) send(done bool, p []byte, last bool) error {
	if !w.sent {
		w.render(done)
	}
	var frame [20]byte
	w.bufs = w.bufs[:0]
	if !w.sent {
		w.bufs = append(w.bufs, w.hbuf)
	}
	n := len(w.pend) + len(p)
	if w.chunked && n > 0 {
		f := strconv.AppendInt(frame[:0], int64(n), 16)
		w.bufs = append(w.bufs, append(f, '\r', '\n'))
	}
	if len(w.pend) > 0 {
		w.bufs = append(w.bufs, w.pend)
	}
	if len(p) > 0 {
		w.bufs = append(w.bufs, p)
	}
	if w.chunked && n > 0 {
		w.bufs = append(w.bufs, crlf)
	}
	if w.chunked && last {
		w.bufs = append(w.bufs, lastChunk)
	}
	w.sent = true
	bufs := w.bufs
	if _, err := writeBuffers(w.conn, &bufs); err != nil {
		w.err = err
		return err
	}
	w.pend = w.pend[:0]
	return nil
}

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

// FlushError sends the header and the held body bytes.
func (w *leanWriter) FlushError() error {
	if w.err != nil {
		return w.err
	}
	if !w.started {
		w.start()
	}
	if w.sent && len(w.pend) == 0 {
		return nil
	}
	return w.send(false, nil, false)
}

// Flush is FlushError for http.Flusher.
func (w *leanWriter) Flush() { w.FlushError() }

// SetWriteDeadline bounds the response's writes.
func (w *leanWriter) SetWriteDeadline(t time.Time) error { return w.conn.SetWriteDeadline(t) }

// finish completes the response after the handler returned and reports
// whether the connection may carry another request.
func (w *leanWriter) finish() bool {
	if w.err != nil {
		return false
	}
	if !w.started {
		w.start()
	}
	if !w.sent || len(w.pend) > 0 || w.chunked {
		if err := w.send(true, nil, true); err != nil {
			return false
		}
	}
	if !w.noBody && w.declared >= 0 && w.written != w.declared {
		return false // the client would wait for bytes that never come
	}
	return !w.close
}

// httpDate returns the current time in HTTP date format, formatted at
// most once a second.
func httpDate() string {
	now := time.Now().Unix()
	if d := cachedDate.Load(); d != nil && d.unix == now {
		return d.text
	}
	d := &dateText{unix: now, text: time.Unix(now, 0).UTC().Format(http.TimeFormat)}
	cachedDate.Store(d)
	return d.text
}

type dateText struct {
	unix int64
	text string
}

var cachedDate atomic.Pointer[dateText]

// tlsStateKey is the context key of a handed-over connection's TLS state.
type tlsStateKey struct{}

// withTLSState gives a request Fallback reads from a handed-over TLS
// connection its r.TLS, which net/http sets only for a *tls.Conn of its
// own.
type withTLSState struct{ next http.Handler }

func (h withTLSState) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok && r.TLS == nil {
		r.TLS = st
	}
	h.next.ServeHTTP(w, r)
}
