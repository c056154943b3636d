package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// endpoint is where a client sends requests and with which keys.
type endpoint struct {
	URL    string // http://host:port or https://host:port
	Access string
	Secret string
	TLS    *testCA // the CA behind an https URL's certificate; nil for http
}

// Host returns host:port of the endpoint.
func (e endpoint) Host() string {
	return strings.TrimPrefix(strings.TrimPrefix(e.URL, "http://"), "https://")
}

// client returns the suite's HTTP client for e: the plain one, or one
// that trusts e's CA.
func (e endpoint) client() *http.Client {
	if e.TLS == nil {
		return httpClient
	}
	return e.TLS.client
}

// withKeys returns e with other credentials.
func (e endpoint) withKeys(access, secret string) endpoint {
	e.Access, e.Secret = access, secret
	return e
}

// proxyOptions configures one s3cache process.
type proxyOptions struct {
	Backend string            // S3_ENDPOINT; required unless Args has -dev (then the binary is devBinary's)
	Env     map[string]string // added to, or overriding, defaultProxyEnv
	Args    []string          // command-line arguments
	Ready   string            // path polled until it answers 200; "" means /-/readyz
	Bare    bool              // start from an empty configuration, not defaultProxyEnv
	TLS     *testCA           // serve HTTPS with a certificate from this CA
}

// defaultProxyEnv is the configuration of a test proxy: small enough to
// exercise limits, large enough to cache the 20 MiB multipart objects.
var defaultProxyEnv = map[string]string{
	"S3_ACCESS_KEY":          testAccess,
	"S3_SECRET_KEY":          testSecret,
	"S3_USE_SSL":             "false",
	"S3_REGION":              testRegion,
	"CACHE_MAX_BYTES":        "268435456",
	"CACHE_MAX_OBJECT_BYTES": "33554432",
	"CACHE_TTL":              "5m",
	"CACHE_CLEANUP_INTERVAL": "1m",
	"BACKEND_TIMEOUT":        "20s",
}

// proxyProc is a running s3cache binary.
type proxyProc struct {
	*process
	Addr string  // host:port it listens on
	TLS  *testCA // non-nil when it serves HTTPS
	// stoppedByTest is set by a test that stops the proxy itself and
	// judges how it exited.
	stoppedByTest atomic.Bool
}

// endpoint returns the proxy's endpoint with the test credentials.
func (p *proxyProc) endpoint() endpoint {
	if p.TLS != nil {
		return endpoint{URL: "https://" + p.Addr, Access: testAccess, Secret: testSecret, TLS: p.TLS}
	}
	return endpoint{URL: "http://" + p.Addr, Access: testAccess, Secret: testSecret}
}

// proxyEnv returns the environment of a proxy listening on addr.
func proxyEnv(o proxyOptions, addr string) map[string]string {
	env := maps.Clone(defaultProxyEnv)
	if o.Bare {
		env = map[string]string{}
	}
	if o.Backend != "" {
		env["S3_ENDPOINT"] = o.Backend
	}
	env["LISTEN_ADDR"] = addr
	maps.Copy(env, o.Env)
	return env
}

// startProxy starts the proxy on a free loopback port and waits until its
// readiness path answers 200. It is stopped (SIGTERM) when the test ends;
// its output is logged if the test failed, and a data race it reports
// fails the test.
func startProxy(t testing.TB, o proxyOptions) *proxyProc {
	t.Helper()
	var bin string
	if slices.Contains(o.Args, "-dev") {
		bin = devBinary(t) // the build with the embedded backend
	} else {
		bin = binary(t)
	}
	ready := o.Ready
	if ready == "" {
		ready = "/-/readyz"
	}
	if o.TLS != nil {
		cert, key := o.TLS.issue(t, "s3cache")
		o.Env = maps.Clone(o.Env)
		if o.Env == nil {
			o.Env = map[string]string{}
		}
		o.Env["TLS_CERT_FILE"], o.Env["TLS_KEY_FILE"] = cert, key
	}
	var lastOut string
	for attempt := range 3 {
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		p, err := startProcess("s3cache", cleanEnv(proxyEnv(o, addr)), bin, o.Args...)
		if err != nil {
			t.Fatal(err)
		}
		pp := &proxyProc{process: p, Addr: addr, TLS: o.TLS}
		err = poll(t.Context(), startTimeout, func(ctx context.Context) error {
			if p.exited() {
				return errExited
			}
			return wantStatusWith(pp.endpoint().client(), pp.endpoint().URL+ready, 200)(ctx)
		})
		if err == nil {
			t.Cleanup(func() {
				if err := p.stop(stopTimeout); err != nil && !pp.stoppedByTest.Load() {
					t.Errorf("stopping s3cache on %s with SIGTERM: %v", addr, err)
				}
				out := p.output()
				if strings.Contains(out, "WARNING: DATA RACE") {
					t.Errorf("s3cache reported a data race:\n%s", out)
				} else if t.Failed() {
					t.Logf("s3cache output:\n%s", out)
				}
			})
			return pp
		}
		_ = p.stop(stopTimeout)
		lastOut = p.output()
		t.Logf("attempt %d: s3cache on %s not ready: %v", attempt+1, addr, err)
	}
	t.Fatalf("s3cache did not become ready on %s; output:\n%s", ready, lastOut)
	return nil
}

// harness is one proxy in front of a counting relay in front of the
// shared versitygw.
type harness struct {
	relay *relay
	proxy *proxyProc
}

// newHarness starts a relay and a proxy for one test; env overrides the
// proxy's defaults.
func newHarness(t *testing.T, env map[string]string) *harness {
	t.Helper()
	r := newRelay(t, backendAddr(t))
	p := startProxy(t, proxyOptions{Backend: r.Addr(), Env: env})
	return &harness{relay: r, proxy: p}
}

// endpoint returns the proxy's endpoint with the test credentials.
func (h *harness) endpoint() endpoint { return h.proxy.endpoint() }

// backend returns the relay's endpoint: the real S3 server, bypassing the
// proxy (requests are still counted).
func (h *harness) backend() endpoint {
	return endpoint{URL: h.relay.URL(), Access: testAccess, Secret: testSecret}
}

// bucketName returns a fresh bucket name derived from the test's name.
func bucketName(t *testing.T) string {
	var b strings.Builder
	b.WriteString("e2e-")
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	name := strings.TrimSuffix(b.String(), "-")
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return name + "-" + hex.EncodeToString(rnd[:])
}

// newBucket creates a fresh bucket through e and returns its name.
func newBucket(t *testing.T, e endpoint) string {
	t.Helper()
	name := bucketName(t)
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	if _, err := sdkClient(e).CreateBucket(ctx, createBucketInput(name)); err != nil {
		t.Fatalf("CreateBucket %q via %s: %v", name, e.URL, err)
	}
	return name
}

// sigterm is the signal used to stop processes gracefully.
var sigterm = syscall.SIGTERM
