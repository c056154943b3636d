package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// backendBody bounds each Read of a backend response body: if one Read
// waits longer than d, the request's context is cancelled and the Read
// fails, so a backend that stalls mid-body cannot hold a client forever.
// Only time spent waiting on the backend counts; a slow client, which
// slows the reads down by not asking, never trips it. The Read that timed
// out fails with os.ErrDeadlineExceeded in its chain (a 504 before the
// answer's first byte), not with the cancellation alone (a 502).
type backendBody struct {
	io.ReadCloser
	timer   *time.Timer
	d       time.Duration
	expired atomic.Bool // the timer fired
}

func newBackendBody(body io.ReadCloser, d time.Duration, cancel context.CancelFunc) *backendBody {
	b := &backendBody{ReadCloser: body, d: d}
	b.timer = time.AfterFunc(d, func() {
		b.expired.Store(true)
		cancel()
	})
	b.timer.Stop()
	return b
}

func (b *backendBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.d)
	n, err := b.ReadCloser.Read(p)
	b.timer.Stop()
	if err != nil && err != io.EOF && b.expired.Load() {
		err = fmt.Errorf("proxy: no byte of the backend's body for %v: %w: %w", b.d, os.ErrDeadlineExceeded, err)
	}
	return n, err
}

func (b *backendBody) Close() error {
	b.timer.Stop()
	return b.ReadCloser.Close()
}

// clientBody bounds each Read of a client's request body: a client that
// stops sending for d gets 400 RequestTimeout instead of holding a
// connection and a backend upload open forever. It counts the bytes read,
// for the audit log.
type clientBody struct {
	io.ReadCloser
	rc  *http.ResponseController
	d   time.Duration
	n   atomic.Int64 // bytes read so far
	eof atomic.Bool  // read to its end
}

// Close closes the body. One not read to its end is not waited for:
// net/http would otherwise read up to 256 KiB more of it, to keep the
// connection, however slowly the client sends (a chunk announced as
// 2^64-1 bytes is never done). Its read deadline is set to now instead,
// and the connection closes after the answer.
func (b *clientBody) Close() error {
	if !b.eof.Load() {
		_ = b.rc.SetReadDeadline(time.Now())
	}
	return b.ReadCloser.Close()
}

// unread reports whether the client's body of r was not read to its end.
// r is the client's request, or the outbound one ReverseProxy hands its
// error handler, whose body wraps the client's.
func unread(r *http.Request) bool {
	b, ok := r.Body.(*clientBody)
	if !ok {
		if ob, out := r.Context().Value(outboundKey{}).(*outbound); out {
			b, ok = ob.rq.body, ob.rq.body != nil
		}
	}
	return ok && !b.eof.Load()
}

func (b *clientBody) Read(p []byte) (int, error) {
	// An error means the connection cannot take deadlines (HTTP/2 test
	// servers, for one); the read is then unbounded, as without this.
	_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	switch {
	case err == io.EOF:
		b.eof.Store(true)
	case err != nil:
		err = &clientReadError{err}
	}
	return n, err
}

// clientReadError is a failure to read the client's body off the wire: a
// timeout, a connection cut, or HTTP framing net/http could not parse (a
// chunk size of "zz", a missing CRLF, an overlong chunk extension), whose
// errors have no exported type. Whatever its cause, it is the client's
// fault, never the proxy's (see clientBodyError).
type clientReadError struct{ err error }

func (e *clientReadError) Error() string { return "proxy: reading the request body: " + e.err.Error() }

func (e *clientReadError) Unwrap() error { return e.err }
