package leanhttp

import (
	"errors"
	"net"
	"sync"
	"time"
)

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
// progressConn's bound if conn has one, or as an event loop's writer
// does.
func writeBuffers(conn net.Conn, b *net.Buffers) (int64, error) {
	if bw, ok := conn.(interface {
		writeBuffers(*net.Buffers) (int64, error)
	}); ok {
		return bw.writeBuffers(b)
	}
	return b.WriteTo(conn)
}
