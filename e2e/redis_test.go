package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// redisPath returns the redis-server binary: S3CACHE_E2E_REDIS, or
// redis-server on PATH, or the distribution's /usr/bin/redis-server.
func redisPath() (string, error) {
	if p := os.Getenv("S3CACHE_E2E_REDIS"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server", nil
	}
	return "", errors.New("redis-server not found on PATH (install: apt-get install redis-server)")
}

// redisServer is a redis-server a test started on a loopback port, with no
// persistence. It can be stopped and started again on the same port, the
// way an outage looks to its clients. Its methods are for the test's
// goroutine.
type redisServer struct {
	tb   testing.TB
	bin  string
	dir  string // working directory: nothing is written there
	Addr string // 127.0.0.1:port, the same across restarts
	proc *process
}

// startRedis starts a redis-server for the test and waits until it answers
// PING; it is killed when the test ends. The test fails if none is
// installed or it cannot start.
func startRedis(tb testing.TB) *redisServer {
	tb.Helper()
	bin, err := redisPath()
	if err != nil {
		tb.Fatalf("redis-server (the replicas' coherence store): %v", err)
	}
	r := &redisServer{tb: tb, bin: bin, dir: tb.TempDir()}
	tb.Cleanup(func() {
		if r.proc != nil {
			_ = r.proc.stop(stopTimeout)
		}
	})
	var lastErr error
	for range 3 { // another process may take the port between probe and bind
		if r.Addr, err = freeAddr(); err != nil {
			tb.Fatal(err)
		}
		if lastErr = r.launch(); lastErr == nil {
			return r
		}
	}
	tb.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

// URL returns the proxies' REDIS_URL.
func (r *redisServer) URL() string { return "redis://" + r.Addr }

// launch runs redis-server on r.Addr and waits for PONG.
func (r *redisServer) launch() error {
	_, port, err := net.SplitHostPort(r.Addr)
	if err != nil {
		return err
	}
	p, err := startProcess("redis-server", cleanEnv(nil), r.bin,
		"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--logfile", "")
	if err != nil {
		return err
	}
	err = poll(context.Background(), startTimeout, func(ctx context.Context) error {
		if p.exited() {
			return errExited
		}
		return redisPing(ctx, r.Addr)
	})
	if err != nil {
		_ = p.stop(stopTimeout)
		return fmt.Errorf("redis-server on %s: %w\n%s", r.Addr, err, p.output())
	}
	r.proc = p
	return nil
}

// stop ends redis-server with sig (SIGTERM: a clean shutdown; SIGKILL: a
// crash) and waits until it has exited and the port refuses connections.
func (r *redisServer) stop(sig syscall.Signal) {
	r.tb.Helper()
	if r.proc == nil {
		r.tb.Fatal("redis-server is not running")
	}
	err := r.proc.signal(sig, stopTimeout)
	if !r.proc.exited() {
		r.tb.Fatalf("redis-server on %s did not exit on %v: %v", r.Addr, sig, err)
	}
	r.proc = nil
	if err := redisPing(r.tb.Context(), r.Addr); err == nil {
		r.tb.Fatalf("redis on %s still answers PING after %v", r.Addr, sig)
	}
}

// restart starts redis-server again on the same port, empty. A socket of
// the old process in TIME_WAIT does not hold the port (Redis binds with
// SO_REUSEADDR), but a start is retried while the port is taken.
func (r *redisServer) restart() {
	r.tb.Helper()
	var lastErr error
	err := poll(r.tb.Context(), startTimeout, func(context.Context) error {
		lastErr = r.launch()
		return lastErr
	})
	if err != nil {
		r.tb.Fatalf("restarting redis-server on %s: %v", r.Addr, lastErr)
	}
}

// redisPing sends PING in RESP over a new connection and wants +PONG.
func redisPing(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// replicaSet is several s3cache processes kept coherent by one Redis, all
// in front of one counting relay in front of the suite's versitygw.
type replicaSet struct {
	redis    *redisServer
	relay    *relay
	replicas []*proxyProc
}

// startReplicas starts a Redis, a relay and n proxies with REDIS_URL set;
// env adds to, or overrides, each proxy's configuration.
func startReplicas(tb testing.TB, n int, env map[string]string) *replicaSet {
	tb.Helper()
	rs := &replicaSet{redis: startRedis(tb), relay: newRelay(tb, backendAddr(tb))}
	for range n {
		rs.replicas = append(rs.replicas, rs.start(tb, env))
	}
	return rs
}

// start starts one more replica of the set.
func (rs *replicaSet) start(tb testing.TB, env map[string]string) *proxyProc {
	tb.Helper()
	e := map[string]string{"REDIS_URL": rs.redis.URL()}
	maps.Copy(e, env)
	return startProxy(tb, proxyOptions{Backend: rs.relay.Addr(), Env: e})
}

// endpoints returns the replicas' endpoints, in order.
func (rs *replicaSet) endpoints() []endpoint {
	es := make([]endpoint, len(rs.replicas))
	for i, p := range rs.replicas {
		es[i] = p.endpoint()
	}
	return es
}

// directBackend returns the versitygw endpoint, bypassing the replicas
// and the relay: a write there is out of band, no replica hears of it.
func directBackend(tb testing.TB) endpoint {
	return endpoint{URL: "http://" + backendAddr(tb), Access: testAccess, Secret: testSecret}
}

// backendGetObjects sums s3cache_backend_requests_total{operation="GetObject"}
// over the endpoints' /-/metrics, whatever the status code.
func backendGetObjects(tb testing.TB, es []endpoint) float64 {
	tb.Helper()
	var sum float64
	for _, e := range es {
		for series, v := range scrapeMetrics(tb, e) {
			if strings.HasPrefix(series, "s3cache_backend_requests_total{") &&
				strings.Contains(series, `operation="GetObject"`) {
				sum += v
			}
		}
	}
	return sum
}

// redisState is a poll check: e's /-/readyz answers 200 with the line
// "redis: <line>" and its gauge s3cache_redis_up is up.
func redisState(tb testing.TB, e endpoint, line string, up float64) func(context.Context) error {
	return func(ctx context.Context) error {
		status, body, err := readyz(ctx, e)
		if err != nil {
			return err
		}
		if status != 200 {
			return fmt.Errorf("%s/-/readyz: status %d, want 200; body %q", e.URL, status, body)
		}
		if !hasLine(body, "redis: "+line) {
			return fmt.Errorf("%s/-/readyz: body %q has no line %q", e.URL, body, "redis: "+line)
		}
		got, ok := scrapeMetrics(tb, e)["s3cache_redis_up"]
		if !ok || got != up {
			return fmt.Errorf("%s: s3cache_redis_up = %v (present: %v), want %v", e.URL, got, ok, up)
		}
		return nil
	}
}

// pollAnswer is poll, but when it gives up it also reports the last
// failure check saw before the deadline, not only the request the
// deadline cut short.
func pollAnswer(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	var last error
	err := poll(ctx, timeout, func(ctx context.Context) error {
		err := check(ctx)
		if err != nil && ctx.Err() == nil {
			last = err
		}
		return err
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w; last answer: %v", err, last)
	}
	return err
}

// readyz GETs e's /-/readyz and returns its status and body.
func readyz(ctx context.Context, e endpoint) (int, string, error) {
	r, err := getUnsigned(ctx, e, "/-/readyz")
	return r.Status, string(r.Body), err
}

// getUnsigned GETs path from e without credentials and reads the body.
func getUnsigned(ctx context.Context, e endpoint, path string) (httpResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+path, nil)
	if err != nil {
		return httpResult{}, err
	}
	resp, err := e.client().Do(req)
	if err != nil {
		return httpResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return httpResult{Status: resp.StatusCode, Header: resp.Header, Body: body}, err
}

// hasLine reports whether text has the line want, surrounding spaces aside.
func hasLine(text, want string) bool {
	for line := range strings.Lines(text) {
		if strings.TrimSpace(line) == want {
			return true
		}
	}
	return false
}
