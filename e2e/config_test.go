package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// runBinary runs the built s3cache with args and only the given
// environment (plus cleanEnv's), waits for it to exit by itself and
// returns its exit code and combined output.
func runBinary(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	p, err := startProcess("s3cache", cleanEnv(env), binary(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	code, err := p.waitExit(15 * time.Second)
	if err != nil {
		_ = p.stop(stopTimeout)
		t.Fatalf("s3cache %s: %v; output:\n%s", strings.Join(args, " "), err, p.output())
	}
	return code, p.output()
}

// writeYAML writes name in a temporary directory and returns its path.
func writeYAML(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPrintConfig runs `s3cache -print-config` with a config file, the
// environment and a flag, the secret key set in the file and then in the
// environment: it exits 0 without serving, masks the secret wherever it
// came from and shows every other value with its source.
func TestPrintConfig(t *testing.T) {
	t.Parallel()
	file := writeYAML(t, "s3cache.yaml", `s3_endpoint: minio.internal:9000
s3_secret_key: file-secret-value
cache_max_bytes: 1GiB
cache_ttl: 5m
s3_use_ssl: true
auth_config: `+writeYAML(t, "auth.yaml", "users:\n  - access_key: alice\n    secret_key: alice-secret-value\n")+`
`)
	listen, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string // lines, whitespace before the comment collapsed
	}{
		{name: "secret in the file", env: map[string]string{"LISTEN_ADDR": listen, "CACHE_TTL": "90s"},
			args: []string{"-config", file, "-region", "eu-west-1", "-print-config"},
			want: []string{
				`s3_secret_key: "****" # file`,
				`s3_endpoint: minio.internal:9000 # file`,
				`cache_max_bytes: 1GiB # file`,
				`s3_use_ssl: true # file`,
				`cache_ttl: 90s # env`,
				`listen_addr: ` + listen + ` # env`,
				`s3_region: eu-west-1 # flag`,
				`s3_access_key: minioadmin # default`,
				`cache_max_object_bytes: 16MiB # default`,
				`# config file: ` + file,
			}},
		{name: "secret in the environment", env: map[string]string{"S3_SECRET_KEY": "env-secret-value", "S3CACHE_CONFIG": file},
			args: []string{"-print-config"},
			want: []string{
				`s3_secret_key: "****" # env`,
				`cache_ttl: 5m # file`,
				`listen_addr: :8080 # default`,
			}},
	}
	spaces := regexp.MustCompile(` +# `)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runBinary(t, tt.env, tt.args...)
			if code != 0 {
				t.Fatalf("exit code %d, want 0; output:\n%s", code, out)
			}
			lines := map[string]bool{}
			for _, line := range strings.Split(out, "\n") {
				lines[spaces.ReplaceAllString(line, " # ")] = true
			}
			for _, want := range tt.want {
				if !lines[want] {
					t.Errorf("no line %q in the output:\n%s", want, out)
				}
			}
			for _, secret := range []string{"file-secret-value", "env-secret-value", "alice-secret-value"} {
				if strings.Contains(out, secret) {
					t.Errorf("the output shows %q:\n%s", secret, out)
				}
			}
			if strings.Contains(out, "listening") {
				t.Errorf("-print-config started the proxy:\n%s", out)
			}
		})
	}
}

// TestConfigFile runs the proxy (-dev, so it needs no backend) with
// S3CACHE_CONFIG naming a file that sets the keys clients sign with and a
// listen address the environment overrides: clients reach it on the
// environment's address and must sign with the file's keys.
func TestConfigFile(t *testing.T) {
	t.Parallel()
	file := writeYAML(t, "s3cache.yaml", `# the proxy's keys, and a listen address LISTEN_ADDR overrides
s3_access_key: file-access
s3_secret_key: file-secret-0123
listen_addr: 127.0.0.1:1
cache_ttl: 1m
`)
	p := startProxy(t, proxyOptions{
		Args: []string{"-dev"},
		Bare: true,
		Env:  map[string]string{"S3CACHE_CONFIG": file, "DEV_DATA_DIR": t.TempDir()},
	})
	e := endpoint{URL: "http://" + p.Addr, Access: "file-access", Secret: "file-secret-0123"}
	bucket := newBucket(t, e)
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	out, err := sdkClient(e).ListBuckets(ctx, nil)
	if err != nil {
		t.Fatalf("ListBuckets with the file's keys: %v", err)
	}
	if len(out.Buckets) != 1 || *out.Buckets[0].Name != bucket {
		t.Errorf("ListBuckets: %d buckets, want %s", len(out.Buckets), bucket)
	}
	_, err = sdkClient(e.withKeys("minioadmin", "minioadmin")).ListBuckets(ctx, nil)
	if _, code, _ := sdkErr(err); code != "InvalidAccessKeyId" {
		t.Errorf("ListBuckets with the default keys: %v, want InvalidAccessKeyId", err)
	}
}

// TestBadConfigFile checks that an unknown key or a bad value in the
// config file stops the binary with the file, the line and the key.
func TestBadConfigFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content string
		want          []string
	}{
		{"unknown key", "s3_endpoint: minio:9000\ncache_tll: 5m\n", []string{"s3cache.yaml: line 2", `unknown key "cache_tll"`}},
		{"bad value", "s3_endpoint: minio:9000\n\ncache_ttl: soon\n", []string{"s3cache.yaml: line 3", "cache_ttl", "soon"}},
		{"a list", "s3_virtual_host_domains: [a.test, b.test]\n", []string{"s3cache.yaml: line 1", "s3_virtual_host_domains"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, err := freeAddr()
			if err != nil {
				t.Fatal(err)
			}
			code, out := runBinary(t, map[string]string{"LISTEN_ADDR": addr}, "-config", writeYAML(t, "s3cache.yaml", tt.content))
			if code == 0 {
				t.Errorf("exit code 0, want non-zero")
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("the output does not say %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestVersion checks that `s3cache version` and `-version` print the
// version and the Go version the binary was built with, and exit 0.
func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"-version"}} {
		code, out := runBinary(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "s3cache ") || !strings.Contains(out, "go       "+runtime.Version()) {
			t.Errorf("s3cache %s: exit %d, output %q; want 0 and the version built with %s", args[0], code, out, runtime.Version())
		}
	}
}

// TestHealthcheck runs `s3cache healthcheck` against a running proxy, over
// HTTP and HTTPS, with the URL derived from LISTEN_ADDR and TLS_CERT_FILE,
// and against a port where nothing listens.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	ca, err := newTestCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	plain := startProxy(t, proxyOptions{Args: []string{"-dev"}, Bare: true, Env: map[string]string{"DEV_DATA_DIR": t.TempDir()}})
	cert, key := ca.issue(t, "healthcheck")
	secure := startProxy(t, proxyOptions{Args: []string{"-dev"}, Bare: true, TLS: ca, Env: map[string]string{"DEV_DATA_DIR": t.TempDir()}})
	closed, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(plain.Addr, ":")
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
	}{
		{name: "http", env: map[string]string{"LISTEN_ADDR": plain.Addr}},
		{name: "listen address without a host", env: map[string]string{"LISTEN_ADDR": ":" + port}},
		{name: "https, certificate not verified", env: map[string]string{"LISTEN_ADDR": secure.Addr, "TLS_CERT_FILE": cert, "TLS_KEY_FILE": key}},
		{name: "-url", args: []string{"-url", "http://" + plain.Addr + "/-/healthz"}},
		{name: "listen address from S3CACHE_CONFIG", env: map[string]string{"S3CACHE_CONFIG": writeYAML(t, "s3cache.yaml", "listen_addr: "+plain.Addr+"\n")}},
		{name: "nothing listening", env: map[string]string{"LISTEN_ADDR": closed}, wantCode: 1},
		{name: "not the health path", args: []string{"-url", "http://" + plain.Addr + "/-/nothing"}, wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runBinary(t, tt.env, append([]string{"healthcheck"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tt.wantCode, out)
			}
		})
	}
}
