package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"syscall"
)

// One client's bad exchange must never become every later client's
// outage. A kept-alive backend connection is only as good as the last
// exchange on it: a server that saw that exchange go wrong may keep the
// connection open and answer everything that follows on it with an error.
// MinIO does this: once a request's body stalled past its read deadline,
// it answers every later request on that connection with 499 "client
// closed request" in under a millisecond. Since an idle pool hands out the
// connection used last, one such connection answered every request of a
// proxy for good. So:
//
//   - connGuard closes a connection whose exchange did not end cleanly (an
//     error, a response body not read to its end, a cancelled context) or
//     that carried a 499, rather than trusting the pool's own bookkeeping;
//     a 499 becomes a transport error (errConnAborted) instead of an
//     answer;
//   - retryTransport sends an idempotent request that failed that way once
//     more, on a connection of its own.
//
// The chain under the signing transport is retryTransport →
// meteredTransport → connGuard → http.Transport, so that every attempt is
// counted and timed.

// statusClientClosed is the status MinIO and nginx send when they consider
// the client gone: on a connection that is still open, it means the server
// broke the connection's state, not that the request was wrong.
const statusClientClosed = 499

// errConnAborted is the error a 499 answer becomes: the backend said the
// connection is broken. It answers 502, like a reset.
var errConnAborted = errors.New("proxy: backend answered 499 (client closed request): the connection is broken")

// Reasons a backend connection is broken, the kind label of
// s3cache_backend_errors_total for them.
const (
	brokenAborted   = "aborted"   // a 499 answer
	brokenReset     = "reset"     // a TCP reset or a write on a closed connection
	brokenEOF       = "eof"       // the connection closed before the status line
	brokenMalformed = "malformed" // what came back was not an HTTP response (a status line or header cut short)
)

// brokenConnReason says whether err, from a round trip, means the
// connection it was sent on is broken, and how: "" when it is something
// else: a timeout, a cancelled request, a failed dial, a certificate or
// TLS failure (none of which another attempt on a new connection would
// cure at once).
func brokenConnReason(err error) string {
	var ne net.Error
	var oe *net.OpError
	var unknownCA x509.UnknownAuthorityError
	var badCert x509.CertificateInvalidError
	var badHost x509.HostnameError
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	switch {
	case errors.Is(err, errConnAborted):
		return brokenAborted
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return brokenReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return brokenEOF
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout(),
		errors.As(err, &oe) && oe.Op == "dial",
		errors.As(err, &unknownCA), errors.As(err, &badCert), errors.As(err, &badHost),
		errors.As(err, &verify), errors.As(err, &record):
		return ""
	}
	// net/http reports a response cut inside its status line or header
	// block with errors of no exported type ("malformed HTTP response",
	// "malformed MIME header line"): whatever else a round trip fails
	// with, the exchange did not end in an answer.
	return brokenMalformed
}

// connGuard is the RoundTripper closest to the wire: it learns which
// connection carries each request, and closes that connection unless the
// exchange ends cleanly, with the response body read to its end. A 499
// answer closes it too and is returned as errConnAborted. net/http's
// Transport already drops most such connections itself; the guard makes
// the rule ours, and the one case it does not cover (a 499 on a healthy
// socket) is closed here. The zero value is not usable: set next. It is
// safe for concurrent use.
type connGuard struct {
	next http.RoundTripper
}

func (g *connGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	var conn net.Conn // set by GotConn, before RoundTrip returns
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { conn = info.Conn }}
	ctx := httptrace.WithClientTrace(req.Context(), trace)
	res, err := g.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		closeConn(conn)
		return nil, err
	}
	if res.StatusCode == statusClientClosed {
		closeConn(conn)
		res.Body.Close()
		return nil, errConnAborted
	}
	if conn != nil && res.Body != nil && res.Body != http.NoBody {
		res.Body = &guardedBody{ReadCloser: res.Body, conn: conn}
	}
	return res, nil
}

// closeConn closes c, if there is one; the Transport's read loop then
// drops it from the idle pool.
func closeConn(c net.Conn) {
	if c != nil {
		c.Close()
	}
}

// guardedBody closes its connection when the body is closed before its
// end or fails while being read, so the connection is never reused after
// an exchange that did not end cleanly.
type guardedBody struct {
	io.ReadCloser
	conn net.Conn
	mu   sync.Mutex
	done bool // read to io.EOF
	bad  bool // a read failed
}

func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.mu.Lock()
		if err == io.EOF {
			b.done = true
		} else {
			b.bad = true
		}
		b.mu.Unlock()
	}
	return n, err
}

func (b *guardedBody) Close() error {
	err := b.ReadCloser.Close()
	b.mu.Lock()
	clean := b.done && !b.bad
	b.mu.Unlock()
	if !clean {
		b.conn.Close()
	}
	return err
}

// retryTransport sends a request through first and, when it failed
// because its connection was broken (brokenConnReason) and its
// backendCall does not say once (readiness checks), once more through
// retry, which should use a new connection: a GET or HEAD without a body,
// or any request whose pooled connection turned out closed before a byte
// of its body was read (net.ErrClosed: the proxy had just closed it, after
// another exchange on it broke, as the Transport handed it out again), so
// the body is whole and the backend got at most a head without its body,
// which it cannot take for a request. Every broken connection is logged
// with the request id and whether it was retried. The zero value is not
// usable: set first and retry (which may be the same). It is safe for
// concurrent use.
type retryTransport struct {
	first, retry http.RoundTripper
	metrics      *metrics
	log          *slog.Logger
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var held *heldBody
	if req.Body != nil && req.Body != http.NoBody {
		held = &heldBody{ReadCloser: req.Body}
		r := *req
		r.Body = held
		req = &r
	}
	res, err := t.first.RoundTrip(req)
	if err == nil {
		held.decide()
		return res, nil
	}
	reason := brokenConnReason(err)
	if reason == "" || clientBodyFailed(req.Context()) {
		held.decide()
		return nil, err
	}
	ctx := req.Context()
	bc, _ := ctx.Value(backendCallKey{}).(*backendCall)
	unsent := held != nil && errors.Is(err, net.ErrClosed) && held.untouched()
	again := (idempotent(req) || unsent) && ctx.Err() == nil && (bc == nil || !bc.once)
	if unsent && again {
		r := *req
		r.Body = held.ReadCloser // whole: not a byte was read
		req = &r
	} else {
		held.decide()
	}
	op, reqID := backendCallID(ctx)
	t.log.LogAttrs(ctx, slog.LevelWarn, "backend connection broken",
		slog.String("request_id", reqID), slog.String("operation", op),
		slog.String("reason", reason), slog.Bool("retried", again), slog.Any("cause", err))
	if !again {
		return nil, err
	}
	t.metrics.backendRetry(op)
	return t.retry.RoundTrip(req)
}

// heldBody is a request body sent through retryTransport: it counts what
// was read of it, and until decide it does not pass a Close on to its
// body if nothing was read, so that the body can still be sent again. A
// nil *heldBody decides nothing.
type heldBody struct {
	io.ReadCloser
	read atomic.Int64
	mu   sync.Mutex
	done bool // decided: Close passes on
	shut bool // Close was called before the decision
}

func (b *heldBody) Read(p []byte) (int, error) {
	b.read.Add(1) // a Read, even of nothing, may have taken bytes from the body's source
	return b.ReadCloser.Read(p)
}

// untouched reports whether nothing was read of the body.
func (b *heldBody) untouched() bool { return b.read.Load() == 0 }

func (b *heldBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done && b.untouched() {
		b.shut = true
		return nil
	}
	return b.ReadCloser.Close()
}

// decide says the body will not be sent again: a Close held back is
// passed on, and any later one is.
func (b *heldBody) decide() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	if b.shut {
		b.ReadCloser.Close()
	}
}

// clientBodyFailed reports whether the request made with ctx failed
// because the client's body did (cut short, malformed): the connection
// is closed as for any failure, but nothing is wrong with it.
func clientBodyFailed(ctx context.Context) bool {
	ob, ok := ctx.Value(outboundKey{}).(*outbound)
	return ok && ob.body != nil && ob.body.Err() != nil
}

// idempotent reports whether req may be sent twice: a GET or HEAD with no
// body.
func idempotent(req *http.Request) bool {
	return (req.Method == http.MethodGet || req.Method == http.MethodHead) &&
		(req.Body == nil || req.Body == http.NoBody)
}

// newBackendChain builds the RoundTripper every backend request goes
// through below the signer (and under minio-go): pooled connections,
// guarded and metered, with broken idempotent requests retried once on a
// connection of their own. When pooled is an *http.Transport, the retry
// uses a copy that keeps no connection; otherwise it goes through pooled
// again.
func newBackendChain(pooled http.RoundTripper, m *metrics, log *slog.Logger) http.RoundTripper {
	fresh := pooled
	if t, ok := pooled.(*http.Transport); ok {
		c := t.Clone()
		c.DisableKeepAlives = true
		fresh = c
	}
	return &retryTransport{
		first:   &meteredTransport{next: &connGuard{next: pooled}, metrics: m},
		retry:   &meteredTransport{next: &connGuard{next: fresh}, metrics: m},
		metrics: m,
		log:     log,
	}
}

// backendCallID returns the operation and the client's request id of a
// backend request made with ctx, for logs.
func backendCallID(ctx context.Context) (op, reqID string) {
	if ob, ok := ctx.Value(outboundKey{}).(*outbound); ok {
		return ob.rq.op.Name, ob.reqID
	}
	if bc, ok := ctx.Value(backendCallKey{}).(*backendCall); ok {
		return bc.op, bc.reqID
	}
	return opUnknown, ""
}
