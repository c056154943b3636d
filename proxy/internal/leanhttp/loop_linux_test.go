package leanhttp

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func isLoopWriter(c net.Conn) bool {
	_, ok := c.(*loopWriter)
	return ok
}

// get sends one GET for path on c and reads its answer whole.
func get(t *testing.T, c net.Conn, br *bufio.Reader, path, extra string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n"+extra+"\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", path, err)
	}
	return res, string(body)
}

// TestEventLoop: on one connection, a request Inline accepts is answered
// on the event loop, one it refuses on a goroutine, and the connection
// goes back to the loop after it; so does it after an answer larger than
// the socket takes at once, which a slow reader gets whole.
func TestEventLoop(t *testing.T) {
	s, addr := startServer(t, &Server{Handler: testHandler(), Fallback: &http.Server{Handler: testHandler()}, WriteTimeout: 5 * time.Second, Logger: discardLogger()})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(c)
	get(t, c, br, "/len/first", "") // Serve has started by its answer
	s.mu.Lock()
	loops := len(s.loops)
	s.mu.Unlock()
	if loops == 0 {
		t.Fatal("no event loop started")
	}
	for i, step := range []struct{ path, extra, body, loop string }{
		{"/len/one", "", "one", "yes"},
		{"/len/two", "X-Not-Inline: 1\r\n", "two", "no"},
		{"/len/three", "", "three", "yes"},
	} {
		res, body := get(t, c, br, step.path, step.extra)
		if body != step.body || res.Header.Get("X-Loop") != step.loop {
			t.Errorf("request %d: body %q on the loop %q, want %q on the loop %q", i+1, body, res.Header.Get("X-Loop"), step.body, step.loop)
		}
	}
	// 8 MiB answered on the loop: the socket takes part, a goroutine
	// sends the rest to a client reading slowly.
	const big = 8 << 20
	io.WriteString(c, "GET /size/8388608 HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Header.Get("X-Loop") != "yes" {
		t.Fatalf("8 MiB answer on the loop %q, want yes", res.Header.Get("X-Loop"))
	}
	n, buf := 0, make([]byte, 256<<10)
	for {
		m, err := res.Body.Read(buf)
		n += m
		if err != nil {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if n != big {
		t.Fatalf("slow reader got %d of %d bytes", n, big)
	}
	res, body := get(t, c, br, "/len/after", "")
	if body != "after" || res.Header.Get("X-Loop") != "yes" {
		t.Errorf("after the large answer: %q on the loop %q, want \"after\" on the loop", body, res.Header.Get("X-Loop"))
	}
	// Pipelined requests, more than the loop answers in a row.
	var raw strings.Builder
	for range maxInlineInARow + 4 {
		raw.WriteString("GET /len/p HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	io.WriteString(c, raw.String())
	for i := range maxInlineInARow + 4 {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("pipelined answer %d: %v", i+1, err)
		}
		if b, _ := io.ReadAll(res.Body); string(b) != "p" {
			t.Fatalf("pipelined answer %d: %q", i+1, b)
		}
	}
}

// TestEventLoopCutsIdleAndStuckClients: a connection waiting on the loop
// longer than IdleTimeout is closed; so is one whose client reads nothing
// of an answer the loop could not send whole, after WriteTimeout (16 MiB,
// which the loop keeps for a goroutine), or at once when keeping it would
// pass maxLoopPending (64 MiB).
func TestEventLoopCutsIdleAndStuckClients(t *testing.T) {
	_, addr := startServer(t, &Server{Handler: testHandler(), Fallback: &http.Server{Handler: testHandler()},
		IdleTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, Logger: discardLogger()})
	// A small receive buffer, so that the kernel cannot hold the answers
	// for the client (Linux may grow it to tcp_rmem's maximum, 32 MiB
	// here).
	dialer := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10) })
		return err
	}}
	for _, size := range []int{0, 16 << 20, 64 << 20} {
		path := "/len/idle"
		if size > 0 {
			path = "/size/" + strconv.Itoa(size)
		}
		c, err := dialer.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if size > 0 {
			time.Sleep(time.Second) // read nothing for longer than WriteTimeout
		}
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: connection still open after 20s (%d bytes read)", path, n)
		}
		if size > 0 && n >= int64(size) {
			t.Errorf("%s: a client reading nothing for a second got all %d bytes", path, n)
		}
	}
}

// TestEventLoopClientResetsMidAnswer: a client that resets its connection
// part-way through an answer the loop could not send whole (so the rest
// went, kept, to a goroutine) costs nothing lasting: the next client is
// answered on the loop, and once Shutdown has waited for every
// connection, no kept byte is still counted against maxLoopPending.
func TestEventLoopClientResetsMidAnswer(t *testing.T) {
	s := &Server{Handler: testHandler(), Fallback: &http.Server{Handler: testHandler()}, WriteTimeout: 10 * time.Second, Logger: discardLogger()}
	s, addr := startServer(t, s)
	dialer := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10) })
		return err
	}}
	const size = 8 << 20
	for i := range 3 {
		c, err := dialer.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(time.Minute))
		io.WriteString(c, "GET /size/"+strconv.Itoa(size)+" HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Header.Get("X-Loop") != "yes" {
			t.Fatalf("answer %d: on the loop %q, want yes", i+1, res.Header.Get("X-Loop"))
		}
		if _, err := io.ReadFull(res.Body, make([]byte, 100<<10)); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).SetLinger(0) // Close sends a reset
		c.Close()

		c2, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c2.SetDeadline(time.Now().Add(time.Minute))
		res, body := get(t, c2, bufio.NewReader(c2), "/len/next", "")
		c2.Close()
		if body != "next" || res.Header.Get("X-Loop") != "yes" {
			t.Fatalf("after reset %d: %q on the loop %q, want \"next\" on the loop", i+1, body, res.Header.Get("X-Loop"))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (a reset connection was not let go)", err)
	}
	if n := s.loopPending.Load(); n != 0 {
		t.Errorf("%d kept answer bytes still counted after every connection ended", n)
	}
}
