package leanhttp

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
	"sync"
	"sync/atomic"
	"syscall"
	"time"
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
// The lean loop reads every request head itself (head.go): it accepts and
// refuses what net/http's server does, with a head of at most
// MaxHeadBytes, one header timeout (ReadHeaderTimeout, from the head's
// first byte), and a Refusal in S3's terms for what it refuses — 400
// BadRequest or RequestHeaderSectionTooLarge, 408 RequestTimeout, 417,
// 501 NotImplemented for a Transfer-Encoding other than chunked, 505 for
// an HTTP version other than 1.x — each with a request id, answered by
// Refuse, then it closes the connection. It serves an HTTP/1.1 GET or
// HEAD without a body itself; any other request — an upload, an HTTP/1.0
// client, an Expect — is given to Fallback with its body, and the
// connection comes back to the lean loop once Fallback answered it
// (handoff.go). Over TLS, a connection that negotiates HTTP/2 is
// Fallback's from the start.
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
	// connection, to within an eighth of it. If zero, Fallback's, or 2
	// minutes.
	IdleTimeout time.Duration
	// WriteTimeout bounds a client that stops reading: a write to the
	// connection fails, and the connection closes, once none of its bytes
	// moved for WriteTimeout. A slow client that keeps reading is never
	// cut. It applies to every response on the connection, Fallback's
	// included. If zero, writes wait as long as the client does.
	WriteTimeout time.Duration
	// Refuse writes the answer to a request head the server refuses:
	// status, header and body, to w, after which the connection closes.
	// method is "HEAD" for a HEAD request, whose answer w sends without a
	// body, else "": nothing more of a refused head is known. Refuse is
	// called from many connections at once. If nil, the answer is plain
	// text: r.Status, and "Code: Message" as the body.
	Refuse func(w http.ResponseWriter, method string, r Refusal)
	// Logger receives handler panics and refused requests (at debug
	// level). If nil, slog.Default().
	Logger *slog.Logger
	// Inline reports whether Handler answers r at once, waiting on
	// nothing (a cache hit whose answer is small). If set, on Linux, plain
	// TCP connections are served by event loops, one per GOMAXPROCS (see
	// eventLoop): a request Inline accepts is answered there, in the order
	// requests arrive, and any other on a goroutine of its own. Inline is
	// called from many goroutines at once, before the request is
	// authenticated, so it must only look; a wrong yes costs the loop's
	// other connections a wait, never a wrong answer. If nil, every
	// connection has a goroutine.
	Inline func(r *http.Request) bool

	mu       sync.Mutex
	conns    map[*leanConn]struct{}
	loops    []*eventLoop
	loopsSet bool
	nextLoop atomic.Uint32
	// loopPending counts the answer bytes the event loops keep for
	// goroutines to send (loopWriter), bounded by maxLoopPending.
	loopPending atomic.Int64

	closing atomic.Bool
	workers *workers // the goroutines that take connections off the loops
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
const leanBufferSize = MaxHeadBytes

func (s *Server) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[*leanConn]struct{}{}
		s.handoff = &handoffListener{conns: make(chan net.Conn), done: make(chan struct{})}
		s.workers = newWorkers()
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
	if !s.loopsSet {
		s.loopsSet = true
		if s.Inline != nil && s.TLSConfig == nil {
			s.loops = newEventLoops(s, runtime.GOMAXPROCS(0))
		}
	}
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
		loops := s.loops
		s.mu.Unlock()
		if len(loops) > 0 && lc.loopable() {
			if l := loops[s.nextLoop.Add(1)%uint32(len(loops))]; l.add(lc) {
				continue
			}
		}
		go lc.serve()
	}
}

// Shutdown stops accepting, closes idle connections, lets requests in
// flight finish and shuts Fallback down, all within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing.Store(true)
	s.workers.stop()
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.wakeIfIdle()
	}
	for _, l := range s.loops {
		l.wake()
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

	// readDeadline is the read deadline serveLoop last set; zero when it
	// set none or something else may have moved it since.
	readDeadline time.Time

	w leanWriter

	// For a connection an event loop can serve (plain TCP, Server.Inline
	// set): its descriptor's raw access, the loop, and whether the loop
	// has it now (set by the loop, read by whoever serves c).
	raw        syscall.RawConn
	loop       *eventLoop
	inLoop     bool
	lastActive time.Time  // when the loop last saw a request on c
	lw         loopWriter // c's writer while the loop answers on it
}

// loopable prepares c for the event loops and reports whether they can
// serve it.
func (c *leanConn) loopable() bool {
	tc, ok := plainTCP(c.conn)
	if !ok {
		return false
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	c.raw = raw
	c.lw.c = c
	c.br = bufio.NewReaderSize(connReader{c}, leanBufferSize)
	c.w.conn = c.conn
	return true
}

// connReader reads c as its current owner does: without waiting on the
// event loop, waiting on a goroutine of its own.
type connReader struct{ c *leanConn }

func (r connReader) Read(p []byte) (int, error) {
	if r.c.inLoop {
		return r.c.nbRead(p)
	}
	return r.c.conn.Read(p)
}

// close ends c.
func (c *leanConn) close() {
	c.conn.Close()
	c.srv.forget(c)
}

// setReadDeadline sets the connection's read deadline to d from now.
func (c *leanConn) setReadDeadline(d time.Duration) {
	c.readDeadline = time.Now().Add(d)
	c.conn.SetReadDeadline(c.readDeadline)
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
	if tc, ok := c.conn.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(c.srv.readHeaderTimeout()))
		if err := tc.Handshake(); err != nil {
			c.close()
			return
		}
		tc.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		c.tls = &st
		if st.NegotiatedProtocol == "h2" {
			// The connection is Fallback's for good.
			if !c.handOver(tc) {
				c.conn.Close()
			}
			c.srv.forget(c)
			return
		}
	}
	if c.br == nil {
		c.br = bufio.NewReaderSize(c.conn, leanBufferSize)
		c.w.conn = c.conn
	}
	c.serveRest(true)
}

// serveRest serves c on the calling goroutine from where it stands: it
// sends what an event loop's answer left unsent, then, if keep, serves
// requests until the connection ends or goes back to its event loop.
func (c *leanConn) serveRest(keep bool) {
	if len(c.lw.pending) > 0 {
		_, err := c.conn.Write(c.lw.pending)
		c.lw.reset()
		keep = keep && err == nil
	}
	if !keep || !c.serveLoop() {
		c.close()
	}
}

// serveLoop serves requests on c until it ends (false) or goes back to
// its event loop to wait for the next one (true).
func (c *leanConn) serveLoop() (toLoop bool) {
	afterPost := false
	for {
		if c.loop != nil && c.br.Buffered() == 0 && c.loop.add(c) {
			return true
		}
		// The wait for a request is bounded by IdleTimeout, to within an
		// eighth of it: a deadline still that far away is kept, as moving
		// it costs a timer update and requests come in quick succession.
		// It is set before the connection counts as idle, so that
		// Shutdown's wakeIfIdle is not overwritten.
		if idle := c.srv.idleTimeout(); time.Until(c.readDeadline) < idle {
			c.setReadDeadline(idle + idle/8)
		}
		if !c.setIdle(true) {
			return false
		}
		_, err := c.br.Peek(1)
		if !c.setIdle(false) || err != nil {
			return false
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
		n, refusal, err := c.readHead()
		if refusal != nil {
			c.refuse(refusal)
			return false
		}
		if err != nil {
			return false
		}
		head, _ := c.br.Peek(n)
		h, refusal := parseHead(head, c.remote)
		if refusal != nil {
			c.refuse(refusal)
			return false
		}
		req := h.req
		if !h.lean {
			// Fallback reads the body and sets its own deadlines.
			c.conn.SetReadDeadline(time.Time{})
			c.readDeadline = time.Time{}
			hc := newHandoffConn(c.conn, c.br, n, req)
			hc.tls = c.tls
			if !c.handOver(hc) {
				return false
			}
			if !<-hc.back {
				// Fallback ended the connection after its answer, maybe
				// with the request's body unread (an upload refused).
				c.linger()
				return false
			}
			afterPost = req.Method == http.MethodPost
			continue
		}
		c.br.Discard(n)
		req.TLS = c.tls
		req.Close = req.Close || c.srv.closing.Load()
		if !c.serveRequest(req) || req.Close {
			return false
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
// its length; or the refusal to answer it with (a head over
// MaxHeadBytes, the header timeout, the client ending its side mid-head);
// or the error of a connection that broke, which gets no answer.
func (c *leanConn) readHead() (n int, refusal *Refusal, err error) {
	for waited := false; ; waited = true {
		buf, _ := c.br.Peek(c.br.Buffered())
		if n := headEnd(buf); n >= 0 {
			return n, nil, nil
		}
		if len(buf) >= MaxHeadBytes {
			return 0, &refuseHeadTooLarge, nil
		}
		if !waited {
			// The head's first bytes are here, not all of it: the rest
			// must come within ReadHeaderTimeout.
			c.setReadDeadline(c.srv.readHeaderTimeout())
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				return 0, withCause(&refuseHeadTimeout, err), nil
			case errors.Is(err, io.EOF):
				return 0, withCause(&refuseMalformed, err), nil
			}
			return 0, nil, err
		}
	}
}

// refuse answers a request head the server will not serve with ref, and
// ends the connection: what the client sent after the head is drained
// for a moment so that it reads the answer rather than a reset.
func (c *leanConn) refuse(ref *Refusal) {
	method := ""
	if buf, _ := c.br.Peek(c.br.Buffered()); bytes.HasPrefix(buf, []byte("HEAD ")) {
		method = http.MethodHead
	}
	r := *ref
	r.RequestID = c.srv.requestID()
	c.srv.logger().LogAttrs(context.Background(), slog.LevelDebug, "request refused",
		slog.String("request_id", r.RequestID), slog.String("remote", c.remote),
		slog.Int("status", r.Status), slog.String("code", r.Code), slog.Any("cause", r.Err))
	w := &c.w
	w.reset(method == http.MethodHead, true)
	refuse := c.srv.Refuse
	if refuse == nil {
		refuse = refusePlain
	}
	refuse(w, method, r)
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
