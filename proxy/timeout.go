package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// backendBody bounds each Read of a backend response body: if one Read
// waits longer than d, the request's context is cancelled and the Read
// fails, so a backend that stalls mid-body cannot hold a client forever.
// Only time spent waiting on the backend counts; a slow client, which
// slows the reads down by not asking, never trips it.
type backendBody struct {
	io.ReadCloser
	timer *time.Timer
	d     time.Duration
}

func newBackendBody(body io.ReadCloser, d time.Duration, cancel context.CancelFunc) *backendBody {
	t := time.AfterFunc(d, cancel)
	t.Stop()
	return &backendBody{ReadCloser: body, timer: t, d: d}
}

func (b *backendBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.d)
	n, err := b.ReadCloser.Read(p)
	b.timer.Stop()
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

// unread reports whether r's body is a clientBody not read to its end.
func unread(r *http.Request) bool {
	b, ok := r.Body.(*clientBody)
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

// progressConn bounds a client connection's writes by progress: a write
// fails once none of its bytes moved for d, however long the whole write
// takes while bytes keep moving. A deadline set with SetWriteDeadline
// still applies. It sits under TLS, so the TLS layer never sees a write
// time out while its bytes move. The zero value is not usable: set Conn
// and d.
type progressConn struct {
	net.Conn
	d time.Duration

	mu       sync.Mutex
	deadline time.Time // set by SetWriteDeadline; zero for none
}

// arm sets the connection's write deadline for the next attempt and
// returns the deadline the caller set.
func (c *progressConn) arm() time.Time {
	c.mu.Lock()
	explicit := c.deadline
	c.mu.Unlock()
	dl := time.Now().Add(c.d)
	if !explicit.IsZero() && explicit.Before(dl) {
		dl = explicit
	}
	c.Conn.SetWriteDeadline(dl)
	return explicit
}

// again reports whether a write that moved n bytes and failed with err
// is tried again: it timed out on the progress bound after moving some.
func again(n int64, err error, explicit time.Time) bool {
	var ne net.Error
	return n > 0 && errors.As(err, &ne) && ne.Timeout() && (explicit.IsZero() || time.Now().Before(explicit))
}

func (c *progressConn) Write(p []byte) (int, error) {
	written := 0
	for {
		explicit := c.arm()
		n, err := c.Conn.Write(p[written:])
		written += n
		if err == nil || !again(int64(n), err, explicit) {
			return written, err
		}
	}
}

// writeBuffers writes b as Write does, in one writev where the
// connection can.
func (c *progressConn) writeBuffers(b *net.Buffers) (int64, error) {
	var written int64
	for {
		explicit := c.arm()
		n, err := b.WriteTo(c.Conn)
		written += n
		if err == nil || !again(n, err, explicit) {
			return written, err
		}
	}
}

func (c *progressConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *progressConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// CloseWrite shuts the sending side of a TCP connection.
func (c *progressConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// writeBuffers writes b to conn in one writev where it can, within
// progressConn's bound if conn has one.
func writeBuffers(conn net.Conn, b *net.Buffers) (int64, error) {
	if pc, ok := conn.(*progressConn); ok {
		return pc.writeBuffers(b)
	}
	return b.WriteTo(conn)
}

// clientReadError is a failure to read the client's body off the wire: a
// timeout, a connection cut, or HTTP framing net/http could not parse (a
// chunk size of "zz", a missing CRLF, an overlong chunk extension), whose
// errors have no exported type. Whatever its cause, it is the client's
// fault, never the proxy's (see clientBodyError).
type clientReadError struct{ err error }

func (e *clientReadError) Error() string { return "proxy: reading the request body: " + e.err.Error() }

func (e *clientReadError) Unwrap() error { return e.err }
