package coherence

import (
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Invalidations Redis pushes to this replica travel on the same
// connections as its replies, read by rueidis's reading goroutines. A read
// whose request reached this replica after a write through another one was
// acknowledged must not be served before the push of that write, sent by
// Redis before it acknowledged the write's generation bump, is applied. The
// push is then in this replica's socket, or read already; Settle waits
// until no connection to Redis has bytes unread or a read in progress, so
// every push that arrived before the request is applied before the cache
// is looked at. It costs one ioctl per connection and no round trip.

// Settle returns true once every invalidation Redis pushed before the call
// has been applied (see redisConn), or false if that could not be made
// sure of within the Redis timeout: then the read must not be answered
// from the cache. Call it before a read looks at the cache.
func (co *Redis) Settle() bool {
	return co.conns.settle(time.Now().Add(co.timeout))
}

// redisConn is a connection to Redis that Settle can look into. Its Read
// records whether rueidis's reader is waiting for bytes: only then has it
// applied everything it read.
type redisConn struct {
	net.Conn
	fd      int         // the socket, for FIONREAD; -1 if unknown
	waiting atomic.Bool // a Read is in progress
	closed  func(*redisConn)
}

func (c *redisConn) Read(b []byte) (int, error) {
	c.waiting.Store(true)
	n, err := c.Conn.Read(b)
	c.waiting.Store(false)
	return n, err
}

func (c *redisConn) Close() error {
	c.closed(c)
	return c.Conn.Close()
}

// quiet reports whether everything that arrived on c has been read and
// handled: its reader is waiting in Read and the socket holds no bytes.
func (c *redisConn) quiet() bool {
	if !c.waiting.Load() {
		return false
	}
	if c.fd < 0 {
		return true
	}
	n, err := unix.IoctlGetInt(c.fd, unix.SIOCINQ)
	return err != nil || n == 0
}

// redisConns is the set of open connections to Redis. The zero value is
// empty and ready.
type redisConns struct {
	mu  sync.Mutex
	all atomic.Pointer[[]*redisConn] // replaced whole on change
}

func (s *redisConns) add(c *redisConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next []*redisConn
	if cur := s.all.Load(); cur != nil {
		next = slices.Clone(*cur)
	}
	next = append(next, c)
	s.all.Store(&next)
}

func (s *redisConns) remove(c *redisConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.all.Load()
	if cur == nil {
		return
	}
	next := slices.DeleteFunc(slices.Clone(*cur), func(x *redisConn) bool { return x == c })
	s.all.Store(&next)
}

// settleSpins is how many times settle yields to a busy reader before it
// starts to sleep between looks.
const settleSpins = 100

// settleNap is settle's sleep between looks once it stopped yielding.
const settleNap = 50 * time.Microsecond

// settle returns true once every push that arrived before the call was
// applied, or false if a reader is still busy at the deadline (a reader
// blocked that long is stuck: the caller must not trust the cache for
// this read, and the health check will soon distrust it altogether).
func (s *redisConns) settle(deadline time.Time) bool {
	all := s.all.Load()
	if all == nil {
		return true
	}
	for _, c := range *all {
		for i := 0; !c.quiet(); i++ {
			if i < settleSpins {
				runtime.Gosched()
				continue
			}
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(settleNap)
		}
	}
	return true
}

// dial is rueidis's DialCtxFn: it dials as rueidis would and keeps the
// connection in s.
func (s *redisConns) dial(ctx context.Context, addr string, d *net.Dialer, cfg *tls.Config) (net.Conn, error) {
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	fd := -1
	if tc, ok := conn.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			rc.Control(func(f uintptr) { fd = int(f) })
		}
	}
	if cfg != nil {
		conn = tls.Client(conn, cfg)
	}
	c := &redisConn{Conn: conn, fd: fd, closed: s.remove}
	s.add(c)
	return c, nil
}
