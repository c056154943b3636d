package e2e

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevMode runs `s3cache -dev` (embedded backend) and drives it with
// the aws CLI, runs the commands its banner suggests, then stops it with
// SIGTERM: the proxy and its backend process exit.
func TestDevMode(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	p := startProxy(t, proxyOptions{
		Args: []string{"-dev"},
		Bare: true,
		Env:  map[string]string{"DEV_DATA_DIR": dataDir},
	})
	e := endpoint{URL: "http://" + p.Addr, Access: "minioadmin", Secret: "minioadmin"}
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	data := randomBytes(t, 100<<10)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{name: "mb", args: []string{"s3", "mb", "s3://devbucket"}},
		{name: "cp up", args: []string{"s3", "cp", "--no-progress", src, "s3://devbucket/dev/file"}},
		{name: "ls", args: []string{"s3", "ls", "--recursive", "s3://devbucket"}, check: func(t *testing.T, out string) {
			if !strings.Contains(out, "dev/file") {
				t.Errorf("ls: %q, want dev/file listed", out)
			}
		}},
		{name: "cp down", args: []string{"s3", "cp", "--no-progress", "s3://devbucket/dev/file", dst}, check: func(t *testing.T, _ string) {
			if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
				t.Errorf("downloaded %d bytes (err %v), want the %d uploaded", len(got), err, len(data))
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out := mustAWS(t, e, s.args...)
			if s.check != nil {
				s.check(t, out)
			}
		})
	}
	t.Run("banner", func(t *testing.T) {
		out := p.output()
		for _, want := range []string{"minioadmin", p.Addr[strings.LastIndex(p.Addr, ":")+1:], "aws "} {
			if !strings.Contains(out, want) {
				t.Errorf("output does not mention %q:\n%s", want, out)
			}
		}
	})
	t.Run("banner's commands", func(t *testing.T) {
		// The lines under "Try it:", pasted into a shell as they are.
		_, try, ok := strings.Cut(p.output(), "Try it:\n")
		if !ok {
			t.Fatalf("the banner has no \"Try it:\":\n%s", p.output())
		}
		try, _, _ = strings.Cut(try, "\n\n")
		out := runExample(t, e, t.TempDir(), "sh", try)
		wantInOrder(t, "the banner's commands", out, []string{"make_bucket: demo", "HTTP/1.1 200", "X-Cache: MISS", "hello"})
	})
	t.Run("SIGTERM exits 0", func(t *testing.T) {
		// The backend's address, from the proxy's start-up log line.
		_, backend, ok := strings.Cut(p.output(), " backend=")
		backend, _, _ = strings.Cut(backend, "\n")
		if !ok || backend == "" {
			t.Fatalf("the output names no backend:\n%s", p.output())
		}
		if err := p.signal(sigterm, stopTimeout); err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, p.output())
		}
		// The backend process has exited with the proxy: nothing listens
		// on its address any more.
		if conn, err := net.Dial("tcp", backend); err == nil {
			conn.Close()
			t.Errorf("after the proxy exited, its dev backend still listens on %s", backend)
		}
	})
}

// TestBadConfig checks that invalid configuration makes the binary exit
// non-zero at start with a message naming the variable.
func TestBadConfig(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	tests := []struct {
		name, variable, value string
	}{
		{"ttl not a duration", "CACHE_TTL", "banana"},
		{"max bytes not a number", "CACHE_MAX_BYTES", "lots"},
		{"backend timeout not a duration", "BACKEND_TIMEOUT", "soon"},
		{"cleanup interval negative", "CACHE_CLEANUP_INTERVAL", "-1m"},
		{"use ssl not a bool", "S3_USE_SSL", "maybe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, err := freeAddr()
			if err != nil {
				t.Fatal(err)
			}
			closed, err := freeAddr()
			if err != nil {
				t.Fatal(err)
			}
			env := proxyEnv(proxyOptions{Backend: closed, Env: map[string]string{tc.variable: tc.value}}, addr)
			p, err := startProcess("s3cache", cleanEnv(env), bin)
			if err != nil {
				t.Fatal(err)
			}
			code, err := p.waitExit(15 * time.Second)
			if err != nil {
				_ = p.stop(stopTimeout)
				t.Fatalf("%s=%s: %v; output:\n%s", tc.variable, tc.value, err, p.output())
			}
			if code == 0 {
				t.Errorf("%s=%s: exit code 0, want non-zero", tc.variable, tc.value)
			}
			if out := p.output(); !strings.Contains(out, tc.variable) {
				t.Errorf("%s=%s: output does not name the variable:\n%s", tc.variable, tc.value, out)
			}
		})
	}
}

// TestGracefulShutdown checks that SIGTERM makes a serving proxy exit 0,
// with an idle keep-alive connection open.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	putBytes(t, e, bucket, "k", []byte("v"))
	fillCache(t, e, bucket, "k", []byte("v"))
	if err := h.proxy.signal(sigterm, stopTimeout); err != nil {
		t.Errorf("after SIGTERM: %v\n%s", err, h.proxy.output())
	}
}
