package leanhttp

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// handoffListener gives handed-over connections to Fallback.
type handoffListener struct {
	conns chan net.Conn
	done  chan struct{} // closed by Close
	once  sync.Once
	addr  net.Addr
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// handoffConn gives Fallback one request of a lean connection: its head,
// already read and judged by the lean loop, then its body, framed as the
// head says. Once Fallback has answered it (http.StateIdle), the next read
// is the end of the stream, Fallback closes the connection, and Close hands
// it back to the lean loop, which reads the next request itself. So every
// request head is read by the lean loop, with its limits, its one header
// timeout and its S3 errors, whichever server answers the request.
//
// A chunked body whose framing the scanner cannot follow is passed on as it
// comes, and the connection stays with Fallback to its end.
type handoffConn struct {
	net.Conn                      // the client connection: writes and deadlines
	r        *bufio.Reader        // the lean loop's reader, the head at its front
	head     int                  // head bytes left to give
	left     int64                // Content-Length bytes left to give
	chunks   *chunkScanner        // non-nil for a chunked body
	back     chan bool            // receives once, at Close: true if the lean loop goes on
	tls      *tls.ConnectionState // the client connection's, over TLS; nil for plain HTTP

	mu       sync.Mutex
	raw      bool       // framing lost: everything is given
	reading  sync.Mutex // held by a read of Fallback's, which may use r
	answered bool       // Fallback answered the request and waits for another
	closed   bool       // Close was called
	deadline time.Time  // the read deadline Fallback set
	wake     chan struct{}
}

func newHandoffConn(c net.Conn, r *bufio.Reader, head int, req *http.Request) *handoffConn {
	hc := &handoffConn{Conn: c, r: r, head: head, back: make(chan bool, 1), wake: make(chan struct{}, 1)}
	if len(req.TransferEncoding) > 0 {
		hc.chunks = &chunkScanner{}
	} else if req.ContentLength > 0 {
		hc.left = req.ContentLength
	}
	return hc
}

func (c *handoffConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.reading.Lock()
	defer c.reading.Unlock()
	c.mu.Lock()
	raw, closed := c.raw, c.closed
	c.mu.Unlock()
	switch {
	case closed:
		return 0, net.ErrClosed
	case raw:
		return c.r.Read(p)
	case c.head > 0:
		n, err := c.r.Read(p[:min(len(p), c.head)])
		c.head -= n
		return n, err
	case c.left > 0:
		n, err := c.r.Read(p[:min(int64(len(p)), c.left)])
		c.left -= int64(n)
		return n, err
	case c.chunks != nil && !c.chunks.done():
		if _, err := c.r.Peek(1); err != nil {
			return 0, err
		}
		buf, _ := c.r.Peek(min(len(p), c.r.Buffered()))
		k, ok := c.chunks.scan(buf)
		if !ok {
			c.mu.Lock()
			c.raw = true
			c.mu.Unlock()
			return c.r.Read(p)
		}
		n := copy(p, buf[:k])
		c.r.Discard(n)
		return n, nil
	}
	return 0, c.waitAnswered()
}

// waitAnswered blocks a read past the end of the request until Fallback
// has answered it (then io.EOF) or the read deadline passes.
func (c *handoffConn) waitAnswered() error {
	for {
		c.mu.Lock()
		answered, closed, deadline := c.answered, c.closed, c.deadline
		c.mu.Unlock()
		if answered || closed {
			return io.EOF
		}
		var expired <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			expired = t.C
		}
		select {
		case <-c.wake:
		case <-expired:
			return os.ErrDeadlineExceeded
		}
	}
}

func (c *handoffConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// setAnswered records that Fallback finished the request's answer.
func (c *handoffConn) setAnswered() {
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
	c.signal()
}

func (c *handoffConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	c.signal()
	return c.Conn.SetReadDeadline(t)
}

func (c *handoffConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// Close gives the connection back to the lean loop if Fallback answered
// the whole request and the framing held; else it closes it.
func (c *handoffConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	resume := c.answered && !c.raw
	c.mu.Unlock()
	c.signal()
	if !resume {
		// Unblock a read of Fallback's still waiting for the client.
		c.Conn.SetReadDeadline(time.Now())
	}
	// Wait for a read in progress: none of Fallback's touches the lean
	// loop's reader from here on.
	c.reading.Lock()
	c.reading.Unlock()
	// Either way the lean loop takes the connection back: to read the next
	// request, or to close it once it has drained what the client still
	// sends (a refused upload's body), lest the close reset the answer.
	c.back <- resume
	return nil
}

// chunkScanner follows the framing of a chunked request body as bytes pass
// by, to find where it ends: as net/http's reader, chunk-size lines end at
// "\n", lose trailing white space and extensions (after ";"), data is
// followed by "\r\n", and the last chunk by trailer lines up to an empty
// one. The zero value is ready at the start of a body.
type chunkScanner struct {
	state int
	line  []byte // the size or trailer line so far
	size  int64  // data bytes left in the chunk
}

const (
	chunkSize    = iota // reading a chunk-size line
	chunkData           // in a chunk's data
	chunkCR             // expecting the CR after data
	chunkLF             // expecting the LF after data
	chunkTrailer        // reading trailer lines
	chunkDone           // the body ended
)

// maxChunkLine bounds a chunk-size or trailer line, as net/http does.
const maxChunkLine = 4096

func (s *chunkScanner) done() bool { return s.state == chunkDone }

// scan consumes the bytes of b that belong to the body and returns how
// many; ok is false if the framing is not one net/http reads.
func (s *chunkScanner) scan(b []byte) (n int, ok bool) {
	for n < len(b) && s.state != chunkDone {
		switch s.state {
		case chunkData:
			k := int(min(int64(len(b)-n), s.size))
			n += k
			if s.size -= int64(k); s.size == 0 {
				s.state = chunkCR
			}
		case chunkCR, chunkLF:
			want := byte('\r')
			if s.state == chunkLF {
				want = '\n'
			}
			if b[n] != want {
				return n, false
			}
			n++
			if s.state++; s.state > chunkLF {
				s.state = chunkSize
			}
		default: // a line
			i := bytes.IndexByte(b[n:], '\n')
			if i < 0 {
				s.line = append(s.line, b[n:]...)
				n = len(b)
				if len(s.line) > maxChunkLine {
					return n, false
				}
				continue
			}
			s.line = append(s.line, b[n:n+i]...)
			n += i + 1
			if len(s.line) > maxChunkLine || !s.endLine() {
				return n, false
			}
			s.line = s.line[:0]
		}
	}
	return n, true
}

// endLine acts on a whole size or trailer line.
func (s *chunkScanner) endLine() bool {
	line := s.line
	if s.state == chunkTrailer {
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			s.state = chunkDone
		}
		return true
	}
	line = bytes.TrimRight(line, " \t\r\n")
	line, _, _ = bytes.Cut(line, []byte(";"))
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 16 {
		return false
	}
	var size int64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return false
		}
		size = size<<4 | int64(c)
	}
	if size < 0 {
		return false
	}
	if size == 0 {
		s.state = chunkTrailer
		return true
	}
	s.size, s.state = size, chunkData
	return true
}

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
