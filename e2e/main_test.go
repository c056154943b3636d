package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The proxy and versitygw share one root account: the proxy verifies
// clients with these keys and re-signs for the backend with them.
const (
	testAccess = "e2eaccesskey"
	testSecret = "e2e-secret-key-0123456789"
	testRegion = "us-east-1"
)

// Bounds used throughout the suite.
const (
	startTimeout = 60 * time.Second // a process answering its readiness probe
	stopTimeout  = 15 * time.Second // a process exiting after SIGTERM
	cmdTimeout   = 3 * time.Minute  // one external client command
)

// suite holds the state shared by all tests: the work directory, the
// versitygw server and the built binary. Each is started lazily, once,
// by the first test that needs it, so a failure is reported by a test.
var suite struct {
	dir string

	backendOnce sync.Once
	backend     *process
	backendAddr string
	backendErr  error

	// A second versitygw serving HTTPS with a certificate from tlsCA.
	tlsOnce    sync.Once
	tlsCA      *testCA
	tlsBackend *process
	tlsAddr    string
	tlsErr     error

	// MinIO, the second real backend (minio_test.go).
	minioOnce sync.Once
	minio     *process
	minioAddr string
	minioErr  error

	binOnce sync.Once
	bin     string
	binErr  error

	// The binary built with the build tag dev, for -dev.
	devBinOnce sync.Once
	devBin     string
	devBinErr  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s3cache-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	suite.dir = dir
	code := m.Run()
	for _, p := range []*process{suite.backend, suite.tlsBackend, suite.minio} {
		if p != nil {
			if err := p.stop(stopTimeout); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: stopping %s: %v\n", p.name, err)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
	}
	os.Exit(code)
}

// backendAddr returns host:port of the shared versitygw server, starting it
// on first use. The test fails if it cannot start.
func backendAddr(t testing.TB) string {
	t.Helper()
	suite.backendOnce.Do(func() {
		suite.backend, suite.backendAddr, suite.backendErr = startVersity("versitygw", nil)
	})
	if suite.backendErr != nil {
		t.Fatalf("versitygw (the real S3 backend) did not start: %v", suite.backendErr)
	}
	if suite.backend.exited() {
		t.Fatalf("versitygw exited early: %v\n%s", suite.backend.waitErr, suite.backend.output())
	}
	return suite.backendAddr
}

func versityPath() (string, error) {
	return installedBinary("versitygw", "S3CACHE_E2E_VERSITYGW",
		"go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
}

// installedBinary finds a server the suite runs: the path in the
// environment variable env, then name on PATH, then in $GOPATH/bin, where
// the README's test command installs it (with install).
func installedBinary(name, env, install string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOPATH: %w", err)
	}
	for _, gp := range filepath.SplitList(strings.TrimSpace(string(out))) {
		p := filepath.Join(gp, "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH nor in $GOPATH/bin (install: %s)", name, install)
}

// startVersity starts versitygw's posix backend on a free loopback port and
// waits until it answers HTTP. It retries a few times in case another
// process takes the port between probe and bind.
func startVersity(name string, ca *testCA) (*process, string, error) {
	bin, err := versityPath()
	if err != nil {
		return nil, "", err
	}
	root := filepath.Join(suite.dir, name)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, "", err
	}
	posixArgs := []string{"posix"}
	if !xattrSupported(root) {
		// The posix backend keeps metadata in xattrs; where the filesystem
		// has none, a sidecar directory holds it instead.
		side := filepath.Join(suite.dir, name+"-meta")
		if err := os.MkdirAll(side, 0o755); err != nil {
			return nil, "", err
		}
		posixArgs = append(posixArgs, "--sidecar", side)
	}
	posixArgs = append(posixArgs, root)

	var lastErr error
	for range 3 {
		addr, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		args := []string{"--access", testAccess, "--secret", testSecret,
			"--region", testRegion, "--port", addr, "--quiet"}
		url, client := "http://"+addr+"/", probeClient
		if ca != nil {
			cert, key, err := ca.issueFiles(name)
			if err != nil {
				return nil, "", err
			}
			args = append(args, "--cert", cert, "--key", key)
			url, client = "https://"+addr+"/", ca.client
		}
		args = append(args, posixArgs...)
		p, err := startProcess(name, cleanEnv(nil), bin, args...)
		if err != nil {
			return nil, "", err
		}
		err = poll(context.Background(), startTimeout, func(ctx context.Context) error {
			if p.exited() {
				return errExited
			}
			_, err := statusWith(ctx, client, url)
			return err
		})
		if err == nil {
			return p, addr, nil
		}
		_ = p.stop(stopTimeout)
		lastErr = fmt.Errorf("%s on %s: %w\n%s", name, addr, err, p.output())
	}
	return nil, "", lastErr
}

func xattrSupported(dir string) bool {
	probe := filepath.Join(dir, ".xattr-probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		return false
	}
	defer os.Remove(probe)
	return syscall.Setxattr(probe, "user.s3cache-e2e", []byte("1"), 0) == nil
}

// binary returns the path of the s3cache binary, building ./cmd/s3cache on
// first use (with -race when S3CACHE_E2E_RACE=1).
func binary(t testing.TB) string {
	t.Helper()
	suite.binOnce.Do(func() {
		suite.bin, suite.binErr = buildProxy("S3CACHE_E2E_BIN", "s3cache")
	})
	if suite.binErr != nil {
		t.Fatalf("building the proxy: %v", suite.binErr)
	}
	return suite.bin
}

// devBinary returns the path of the s3cache binary built with the build
// tag dev, which has the embedded backend of -dev, building it on first
// use (with -race when S3CACHE_E2E_RACE=1).
func devBinary(t testing.TB) string {
	t.Helper()
	suite.devBinOnce.Do(func() {
		suite.devBin, suite.devBinErr = buildProxy("S3CACHE_E2E_DEV_BIN", "s3cache-dev", "-tags", "dev")
	})
	if suite.devBinErr != nil {
		t.Fatalf("building the proxy with -tags dev: %v", suite.devBinErr)
	}
	return suite.devBin
}

// buildProxy builds ./cmd/s3cache into the suite's directory as name,
// with the extra build flags, unless the environment variable env names
// a prebuilt binary.
func buildProxy(env, name string, flags ...string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	bin := filepath.Join(suite.dir, name)
	args := append([]string{"build", "-o", bin}, flags...)
	if os.Getenv("S3CACHE_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/s3cache")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = ".." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

var errExited = errors.New("process exited")

// poll calls check every 50ms until it returns nil, check returns
// errExited, or timeout passes; it returns the last error.
func poll(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check(ctx)
		if err == nil || errors.Is(err, errExited) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %v: %w", timeout, err)
		case <-tick.C:
		}
	}
}

// probeClient is for readiness and status probes; each probe is bounded
// by its context as well.
var probeClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}

func statusOf(ctx context.Context, url string) (int, error) {
	return statusWith(ctx, probeClient, url)
}

func statusWith(ctx context.Context, c *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// wantStatus is a poll check: url answers with status want.
func wantStatus(url string, want int) func(context.Context) error {
	return wantStatusWith(probeClient, url, want)
}

// wantStatusWith is wantStatus asking with client c.
func wantStatusWith(c *http.Client, url string, want int) func(context.Context) error {
	return func(ctx context.Context) error {
		got, err := statusWith(ctx, c, url)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("GET %s: status %d, want %d", url, got, want)
		}
		return nil
	}
}

// process is a child process whose combined output is kept for reports.
type process struct {
	name    string
	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan struct{} // closed once the process has exited
	waitErr error         // the result of Wait; read only after done
}

func startProcess(name string, env []string, bin string, args ...string) (*process, error) {
	p := &process{name: name, out: new(syncBuffer), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) output() string { return p.out.String() }

// signal sends sig and waits up to timeout for the process to exit. It
// returns the process's exit error (nil for exit code 0) or a timeout error.
func (p *process) signal(sig os.Signal, timeout time.Duration) error {
	if !p.exited() {
		if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
	}
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("%s still running %v after %v", p.name, sig, timeout)
	}
}

// stop sends SIGTERM, then SIGKILL if the process is still running after
// timeout. It returns the SIGTERM outcome.
func (p *process) stop(timeout time.Duration) error {
	err := p.signal(syscall.SIGTERM, timeout)
	if !p.exited() {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return err
}

// waitExit waits up to timeout for the process to exit by itself.
func (p *process) waitExit(timeout time.Duration) (exitCode int, err error) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), nil
	case <-time.After(timeout):
		return -1, fmt.Errorf("%s still running after %v", p.name, timeout)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cleanEnv returns the environment without variables the proxy, the AWS
// clients or versitygw would read, plus the given KEY=value pairs.
func cleanEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "S3_"), strings.HasPrefix(k, "CACHE_"),
			strings.HasPrefix(k, "AWS_"), strings.HasPrefix(k, "VGW_"),
			strings.HasPrefix(k, "ROOT_"), strings.HasPrefix(k, "MINIO_"), strings.HasPrefix(k, "DEV_"), strings.HasPrefix(k, "REDIS_"),
			k == "LISTEN_ADDR", k == "BACKEND_TIMEOUT", k == "LOG_LEVEL", k == "LOG_FORMAT", k == "S3CACHE_CONFIG",
			k == "TLS_CERT_FILE", k == "TLS_KEY_FILE", k == "AUTH_CONFIG", k == "AUDIT_LOG", k == "PPROF_ADDR",
			k == "RATE_LIMIT", k == "RATE_BURST", k == "CLIENT_IDLE_TIMEOUT", k == "WRITE_TIMEOUT", k == "GOMEMLIMIT",
			k == "HTTP_PROXY", k == "HTTPS_PROXY", k == "http_proxy", k == "https_proxy":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "NO_PROXY=*", "no_proxy=*")
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}
