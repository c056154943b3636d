package leanhttp

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// eventLoop serves the requests Server.Inline accepts on plain TCP
// connections from one goroutine, in the order they arrive.
//
// Why: with a goroutine per connection, the Go runtime wakes the
// goroutines of the connections that became readable together in the
// reverse of their order (its network poller collects them as a stack),
// so under load the request that arrived first in a round is answered
// last: a cache hit's p90 latency was 1.8× its median, nginx's 1.2×. An
// epoll instance of the loop's own hands them over in arrival order, as
// nginx's event loop does. The loop waits in the Go runtime's poller on
// its epoll descriptor (which is readable while a connection is), so it
// never blocks a thread, and other goroutines run as usual.
//
// A connection is the loop's while it waits for a request. A request the
// loop cannot answer at once — Inline says no, the head is incomplete or
// refused, it has a body, or its answer did not fit in the socket — goes
// on, with its connection, to a goroutine of its own running the ordinary
// per-connection loop (leanConn.serveLoop), which gives the connection
// back once it waits for the next request. The handler is the same on
// both paths.
type eventLoop struct {
	srv  *Server
	ep   int      // the epoll descriptor
	file *os.File // ep, in the runtime's poller
	rc   syscall.RawConn

	mu    sync.Mutex
	conns map[int32]*leanConn // by descriptor
}

// plainTCP returns the TCP connection under conn's progress bound, if
// conn is plain TCP: what an event loop can serve.
func plainTCP(conn net.Conn) (*net.TCPConn, bool) {
	if pc, ok := conn.(*progressConn); ok {
		conn = pc.Conn
	}
	tc, ok := conn.(*net.TCPConn)
	return tc, ok
}

// newEventLoops starts n event loops for s; nil if the platform has none
// or they cannot be made.
func newEventLoops(s *Server, n int) []*eventLoop {
	var loops []*eventLoop
	for range n {
		l, err := newEventLoop(s)
		if err != nil {
			s.logger().Warn("event loop unavailable; every connection gets a goroutine", "error", err)
			for _, l := range loops {
				l.file.Close()
			}
			return nil
		}
		loops = append(loops, l)
	}
	for _, l := range loops {
		go l.run()
	}
	return loops
}

func newEventLoop(s *Server) (*eventLoop, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(ep, true); err != nil {
		syscall.Close(ep)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(ep), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &eventLoop{srv: s, ep: ep, file: f, rc: rc, conns: map[int32]*leanConn{}}, nil
}

// add gives c to the loop; false if it cannot take it (shutting down, or
// the descriptor cannot be watched), and c stays the caller's.
func (l *eventLoop) add(c *leanConn) bool {
	var fd int32 = -1
	c.raw.Control(func(s uintptr) { fd = int32(s) })
	if fd < 0 {
		return false
	}
	// Deadlines left by the goroutine that served c would fail the loop's
	// reads and writes at once.
	c.conn.SetDeadline(time.Time{})
	c.readDeadline = time.Time{}
	c.lastActive = time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv.closing.Load() {
		return false
	}
	c.loop, c.inLoop = l, true
	l.conns[fd] = c
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: fd}
	if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		delete(l.conns, fd)
		c.loop, c.inLoop = nil, false
		return false
	}
	return true
}

// removeFD takes c, watched as fd, out of the loop, before a goroutine
// serves it or it closes.
func (l *eventLoop) removeFD(fd int32, c *leanConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, int(fd), nil)
	delete(l.conns, fd)
	c.inLoop = false
}

// wake makes the loop look at its connections now (Shutdown).
func (l *eventLoop) wake() { l.file.SetReadDeadline(time.Unix(1, 0)) }

// run is the loop: wait until a connection is readable, then serve each
// readable connection, in the order epoll reports them.
func (l *eventLoop) run() {
	events := make([]syscall.EpollEvent, 256)
	idle := l.srv.idleTimeout()
	sweepEvery := max(idle/8, 10*time.Millisecond)
	nextSweep := time.Now().Add(sweepEvery)
	l.file.SetReadDeadline(nextSweep)
	for {
		var n int
		err := l.rc.Read(func(fd uintptr) bool {
			var werr error
			n, werr = syscall.EpollWait(int(fd), events, 0)
			if werr != nil {
				n = 0
			}
			return n > 0
		})
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
		case err != nil:
			return
		}
		for i := range n {
			fd := events[i].Fd
			l.mu.Lock()
			c := l.conns[fd]
			l.mu.Unlock()
			if c != nil {
				l.serve(fd, c)
			}
		}
		if n > 0 {
			// Let the other goroutines (the garbage collector's workers,
			// the cache's) run between rounds, a little at a time: left
			// to preemption they run 10 ms at a stretch, and every
			// request of the round waits that long (by hand, pinned,
			// 4 KiB hits' p99 went from 4.1 to 2.6 ms with this, nginx's
			// 2.9 ms in the same sitting; see docs/performance.md).
			runtime.Gosched()
		}
		if now := time.Now(); l.srv.closing.Load() || !now.Before(nextSweep) {
			l.sweep(now, idle)
			if l.srv.closing.Load() {
				l.file.Close()
				return
			}
			nextSweep = now.Add(sweepEvery)
			l.file.SetReadDeadline(nextSweep)
		}
	}
}

// sweep closes the connections that waited longer than idle for a
// request, and every one once the server is shutting down.
func (l *eventLoop) sweep(now time.Time, idle time.Duration) {
	closing := l.srv.closing.Load()
	var done []*leanConn
	l.mu.Lock()
	for fd, c := range l.conns {
		if closing || now.Sub(c.lastActive) >= idle {
			syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, int(fd), nil)
			delete(l.conns, fd)
			c.inLoop = false
			done = append(done, c)
		}
	}
	l.mu.Unlock()
	for _, c := range done {
		c.close()
	}
}

// maxInlineInARow bounds the pipelined requests of one connection the
// loop answers before it turns to the next connection.
const maxInlineInARow = 16

// serve reads what connection c sent and answers the requests it can at
// once; anything else goes to a goroutine of its own.
func (l *eventLoop) serve(fd int32, c *leanConn) {
	if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil && !errors.Is(err, errWouldBlock) {
		if c.br.Buffered() == 0 {
			// Closed or broken while waiting: nothing to answer.
			l.removeFD(fd, c)
			c.close()
			return
		}
	}
	for range maxInlineInARow {
		// Empty lines before a request line are skipped, as RFC 9112
		// (2.2) asks: old clients send a CRLF after a POST body, which
		// the goroutine's loop skips there too.
		for {
			if b, _ := c.br.Peek(min(1, c.br.Buffered())); len(b) == 0 || (b[0] != '\r' && b[0] != '\n') {
				break
			}
			c.br.Discard(1)
		}
		if c.br.Buffered() == 0 {
			return
		}
		buf, _ := c.br.Peek(c.br.Buffered())
		n := headEnd(buf)
		if n < 0 {
			break // the rest of the head, or a refusal, is the goroutine's
		}
		h, refusal := parseHead(buf[:n], c.remote)
		if refusal != nil || !h.lean || l.srv.closing.Load() || !l.srv.Inline(h.req) {
			break
		}
		c.br.Discard(n)
		req := h.req
		c.w.conn = &c.lw
		c.lw.reset()
		keep := c.serveRequest(req) && !req.Close
		c.w.conn = c.conn
		c.lastActive = time.Now()
		if c.lw.full {
			l.removeFD(fd, c)
			c.lw.reset()
			c.close()
			return
		}
		if len(c.lw.pending) > 0 || !keep {
			l.removeFD(fd, c)
			l.srv.workers.serveRest(c, keep)
			return
		}
	}
	l.removeFD(fd, c)
	l.srv.workers.serveRest(c, true)
}

// errWouldBlock is a loop's read of a connection with nothing to read.
var errWouldBlock = errors.New("leanhttp: nothing to read yet")

// nbRead reads what c holds now, without waiting.
func (c *leanConn) nbRead(p []byte) (int, error) {
	var n int
	var errno error
	if err := c.raw.Read(func(fd uintptr) bool {
		n, errno = syscall.Read(int(fd), p)
		return true
	}); err != nil {
		return 0, err
	}
	switch {
	case errno == syscall.EAGAIN:
		return 0, errWouldBlock
	case errno != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errno)}
	case n <= 0:
		return 0, io.EOF
	}
	return n, nil
}

// loopWriter is a connection's writer while the loop answers on it: what
// the socket does not take at once is kept, in order, for the goroutine
// the connection then goes to, so the loop never waits on a client.
type loopWriter struct {
	c       *leanConn
	pending []byte // counted in the server's loopPending
	full    bool   // a write failed with errLoopFull
	iov     [8]syscall.Iovec
}

// reset drops what the writer keeps.
func (w *loopWriter) reset() {
	w.c.srv.loopPending.Add(-int64(len(w.pending)))
	w.pending, w.full = w.pending[:0], false
	if cap(w.pending) > 64<<10 {
		w.pending = nil
	}
}

// writeBuffers writes b's bytes without waiting; it reports them all
// written, keeping what the socket did not take.
func (w *loopWriter) writeBuffers(b *net.Buffers) (int64, error) {
	var total int64
	for _, p := range *b {
		total += int64(len(p))
	}
	n := 0 // written now
	if len(w.pending) == 0 {
		iov := w.iov[:0]
		for _, p := range *b {
			if len(p) > 0 && len(iov) < cap(iov) {
				v := syscall.Iovec{Base: &p[0]}
				v.SetLen(len(p))
				iov = append(iov, v)
			}
		}
		if len(iov) > 0 {
			w.c.raw.Write(func(fd uintptr) bool {
				r, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
				if errno == 0 {
					n = int(r)
				}
				return true
			})
		}
		clear(w.iov[:len(iov)]) // hold no body past the write
	}
	rest := total - int64(n)
	if rest > 0 && w.c.srv.loopPending.Add(rest) > maxLoopPending {
		// Clients that read nothing hold this much already: this one is
		// cut rather than held too.
		w.c.srv.loopPending.Add(-rest)
		*b = nil
		w.full = true
		return int64(n), errLoopFull
	}
	for _, p := range *b {
		skip := min(n, len(p))
		n -= skip
		w.pending = append(w.pending, p[skip:]...)
	}
	*b = nil
	return total, nil
}

// maxLoopPending bounds the answer bytes the event loops of a server
// keep, together, for clients whose sockets did not take them at once.
const maxLoopPending = 32 << 20

// errLoopFull fails a write on an event loop that would keep more than
// maxLoopPending; the connection is closed.
var errLoopFull = errors.New("leanhttp: too many answers waiting for their clients")

func (w *loopWriter) Write(p []byte) (int, error) {
	bufs := net.Buffers{p}
	n, err := w.writeBuffers(&bufs)
	return int(n), err
}

// The rest of net.Conn, for the writer's deadline: the loop's writes
// never wait, so a deadline has nothing to bound.
func (w *loopWriter) Read([]byte) (int, error)         { return 0, errors.ErrUnsupported }
func (w *loopWriter) Close() error                     { return w.c.conn.Close() }
func (w *loopWriter) LocalAddr() net.Addr              { return w.c.conn.LocalAddr() }
func (w *loopWriter) RemoteAddr() net.Addr             { return w.c.conn.RemoteAddr() }
func (w *loopWriter) SetDeadline(time.Time) error      { return nil }
func (w *loopWriter) SetReadDeadline(time.Time) error  { return nil }
func (w *loopWriter) SetWriteDeadline(time.Time) error { return nil }
