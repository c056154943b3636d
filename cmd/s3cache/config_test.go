package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFile writes a policy.yaml in a temporary directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string // substring; "" means success
		check   func(t *testing.T, o options)
	}{
		{name: "defaults", check: func(t *testing.T, o options) {
			if o.listen != ":8080" || o.proxy.CacheTTL != 0 || o.dev {
				t.Errorf("got %+v", o)
			}
		}},
		{name: "env values", env: map[string]string{
			"S3_ENDPOINT": "127.0.0.1:7070", "CACHE_MAX_BYTES": "2MiB", "CACHE_TTL": "90s",
			"CACHE_MAX_OBJECT_BYTES": "1000", "S3_USE_SSL": "true", "BACKEND_TIMEOUT": "3s",
			"CACHE_STALE_IF_ERROR": "10m",
		}, check: func(t *testing.T, o options) {
			c := o.proxy
			if c.Endpoint != "127.0.0.1:7070" || c.CacheMaxBytes != 2<<20 || c.CacheTTL != 90*time.Second ||
				c.CacheMaxObjectBytes != 1000 || !c.UseSSL || c.BackendTimeout != 3*time.Second ||
				c.CacheStaleIfError != 10*time.Minute {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "flag wins", env: map[string]string{"LISTEN_ADDR": ":1"}, args: []string{"-listen", ":2", "-cache-max-bytes", "1GB"},
			check: func(t *testing.T, o options) {
				if o.listen != ":2" || o.proxy.CacheMaxBytes != 1e9 {
					t.Errorf("listen %q max %d", o.listen, o.proxy.CacheMaxBytes)
				}
			}},
		{name: "bad ttl", env: map[string]string{"CACHE_TTL": "banana"}, wantErr: "CACHE_TTL"},
		{name: "negative ttl", env: map[string]string{"CACHE_TTL": "-5m"}, wantErr: "CACHE_TTL"},
		{name: "bad size", env: map[string]string{"CACHE_MAX_BYTES": "lots"}, wantErr: "CACHE_MAX_BYTES"},
		{name: "zero size", env: map[string]string{"CACHE_MAX_BYTES": "0"}, wantErr: "CACHE_MAX_BYTES"},
		{name: "bad bool", env: map[string]string{"S3_USE_SSL": "maybe"}, wantErr: "S3_USE_SSL"},
		{name: "bad log level", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
		{name: "endpoint with scheme", env: map[string]string{"S3_ENDPOINT": "http://x:9000"}, wantErr: "endpoint"},
		{name: "object larger than cache", env: map[string]string{"CACHE_MAX_BYTES": "1MiB", "CACHE_MAX_OBJECT_BYTES": "2MiB"}, wantErr: "max object"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected"},
		{name: "missing policy file", env: map[string]string{"CACHE_POLICY_FILE": "/nonexistent/policy.yaml"}, wantErr: "CACHE_POLICY_FILE"},
		{name: "bad policy file", env: map[string]string{"CACHE_POLICY_FILE": writeFile(t, "rules:\n  - bucket: abc\n    ttl: soon\n")}, wantErr: "policy.yaml: line 3"},
		{name: "policy file", env: map[string]string{"CACHE_POLICY_FILE": writeFile(t, "rules:\n  - bucket: abc\n    bypass: true\n")},
			check: func(t *testing.T, o options) {
				if p := o.proxy.CachePolicy; p == nil || len(p.Rules) != 1 || !p.Rules[0].Bypass {
					t.Errorf("policy = %+v, want one bypass rule", p)
				}
			}},
		{name: "missing auth file", env: map[string]string{"AUTH_CONFIG": "/nonexistent/auth.yaml"}, wantErr: "AUTH_CONFIG"},
		{name: "bad auth file", env: map[string]string{"AUTH_CONFIG": writeFile(t, "users:\n  - access_key: a\n    secret_key: s\n    buckets:\n      photos: admin\n")},
			wantErr: "policy.yaml: line 5"},
		{name: "auth file without secret", env: map[string]string{"AUTH_CONFIG": writeFile(t, "users:\n  - access_key: a\n")}, wantErr: "AUTH_CONFIG"},
		{name: "auth file duplicate key", args: []string{"-auth-config", writeFile(t, "users:\n  - {access_key: a, secret_key: s}\n  - {access_key: a, secret_key: t}\n")},
			wantErr: "line 3"},
		{name: "auth file", env: map[string]string{"AUTH_CONFIG": writeFile(t, "users:\n  - access_key: a\n    secret_key: s\n")},
			check: func(t *testing.T, o options) {
				if a := o.proxy.Auth; a == nil || a.Users() != 1 || o.authPath == "" {
					t.Errorf("auth = %+v, path %q; want one user", a, o.authPath)
				}
			}},
		{name: "rate limit", env: map[string]string{"RATE_LIMIT": "2.5", "RATE_BURST": "10", "AUDIT_LOG": "stdout"},
			check: func(t *testing.T, o options) {
				if o.proxy.RateLimit != 2.5 || o.proxy.RateBurst != 10 || o.auditLog != "stdout" {
					t.Errorf("rate %v burst %d audit %q", o.proxy.RateLimit, o.proxy.RateBurst, o.auditLog)
				}
			}},
		{name: "rate limit off by default", check: func(t *testing.T, o options) {
			if o.proxy.RateLimit != 0 || o.proxy.RateBurst != 0 || o.auditLog != "" {
				t.Errorf("rate %v burst %d audit %q", o.proxy.RateLimit, o.proxy.RateBurst, o.auditLog)
			}
		}},
		{name: "savings prices", env: map[string]string{"SAVINGS_PRICE_PER_GB": "0.09"}, args: []string{"-savings-price-per-1k-get", "0.0004"},
			check: func(t *testing.T, o options) {
				if o.proxy.SavingsPricePerGB != 0.09 || o.proxy.SavingsPricePer1kGet != 0.0004 {
					t.Errorf("prices %v per GB, %v per 1k GETs; want 0.09 and 0.0004", o.proxy.SavingsPricePerGB, o.proxy.SavingsPricePer1kGet)
				}
			}},
		{name: "negative price", env: map[string]string{"SAVINGS_PRICE_PER_GB": "-1"}, wantErr: "SAVINGS_PRICE_PER_GB"},
		{name: "bad price", args: []string{"-savings-price-per-1k-get", "free"}, wantErr: "want a price"},
		{name: "bad rate limit", env: map[string]string{"RATE_LIMIT": "fast"}, wantErr: "RATE_LIMIT"},
		{name: "negative rate limit", env: map[string]string{"RATE_LIMIT": "-1"}, wantErr: "RATE_LIMIT"},
		{name: "infinite rate limit", args: []string{"-rate-limit", "Inf"}, wantErr: "want requests per second"},
		{name: "zero burst", env: map[string]string{"RATE_LIMIT": "5", "RATE_BURST": "0"}, wantErr: "RATE_BURST"},
		{name: "fractional burst", env: map[string]string{"RATE_BURST": "1.5"}, wantErr: "RATE_BURST"},
		{name: "cert without key", env: map[string]string{"TLS_CERT_FILE": "/x/cert.pem"}, wantErr: "TLS_CERT_FILE and TLS_KEY_FILE"},
		{name: "key without cert", args: []string{"-tls-key-file", "/x/key.pem"}, wantErr: "TLS_CERT_FILE and TLS_KEY_FILE"},
		{name: "missing CA file", env: map[string]string{"S3_CA_FILE": "/nonexistent/ca.pem"}, wantErr: "S3_CA_FILE"},
		{name: "CA file without PEM", env: map[string]string{"S3_CA_FILE": writeFile(t, "not a certificate\n")}, wantErr: "no PEM certificate"},
		{name: "CA file", env: map[string]string{"S3_CA_FILE": testPKI(t).caFile, "TLS_CERT_FILE": "c.pem", "TLS_KEY_FILE": "k.pem"},
			check: func(t *testing.T, o options) {
				if o.proxy.BackendRootCAs == nil || o.tlsCert != "c.pem" || o.tlsKey != "k.pem" {
					t.Errorf("roots %v cert %q key %q", o.proxy.BackendRootCAs, o.tlsCert, o.tlsKey)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o)
		})
	}
}

func TestOpenAuditLog(t *testing.T) {
	var stdout strings.Builder
	w, closeFn, err := openAuditLog("stdout", &stdout)
	if err != nil || w != &stdout {
		t.Fatalf("stdout: %v, %v", w, err)
	}
	if err := closeFn(); err != nil {
		t.Error(err)
	}

	path := filepath.Join(t.TempDir(), "audit.log")
	for _, line := range []string{"one\n", "two\n"} { // appended, not truncated
		w, closeFn, err := openAuditLog(path, &stdout)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, line); err != nil {
			t.Fatal(err)
		}
		if err := closeFn(); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "one\ntwo\n" {
		t.Errorf("audit file %q, %v; want both lines", b, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode %v, %v; want 0600", fi.Mode(), err)
	}
	if _, _, err := openAuditLog(filepath.Join(t.TempDir(), "no", "such", "dir"), &stdout); err == nil || !strings.Contains(err.Error(), "AUDIT_LOG") {
		t.Errorf("missing directory: %v, want an error naming AUDIT_LOG", err)
	}
}

// TestDevListensOnLoopback: -dev, whose credentials are well known,
// listens on loopback unless LISTEN_ADDR says otherwise.
func TestDevListensOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, ":8080"},
		{[]string{"-dev"}, nil, "127.0.0.1:8080"},
		{[]string{"-dev"}, map[string]string{"LISTEN_ADDR": "0.0.0.0:9000"}, "0.0.0.0:9000"},
		{[]string{"-dev", "-listen", "127.0.0.1:9001"}, nil, "127.0.0.1:9001"},
	} {
		getenv := func(k string) string { return tc.env[k] }
		o, err := parseOptions(tc.args, getenv, io.Discard)
		if err != nil {
			t.Fatalf("%v %v: %v", tc.args, tc.env, err)
		}
		if got := listenAddr(o); got != tc.want {
			t.Errorf("%v %v: listens on %q, want %q", tc.args, tc.env, got, tc.want)
		}
	}
}
