package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3cache/s3cache/proxy"
)

// writeConfig writes s3cache.yaml in a temporary directory and returns its
// path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s3cache.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFile checks the config file's keys and values, its precedence
// under the environment and the flags, and that its errors name the file,
// the line and the key.
func TestConfigFile(t *testing.T) {
	const example = `# every key is an environment variable in lower case
s3_endpoint: minio:9000
s3_use_ssl: true          # a YAML boolean
cache_max_bytes: 1GiB
cache_ttl: 5m
rate_limit: 2.5           # a YAML number
rate_burst: 10
cache_max_object_bytes: 1048576
s3_virtual_host_domains: "s3.example.test, s3.other.test"
listen_addr: ":9090"
log_level: debug
cache_stale_if_error: 0
`
	tests := []struct {
		name    string
		file    string // written to s3cache.yaml and named by -config unless viaEnv
		viaEnv  bool   // name the file with S3CACHE_CONFIG instead of -config
		env     map[string]string
		args    []string
		wantErr []string // substrings; nil means success
		check   func(t *testing.T, o options)
	}{
		{name: "values", file: example, check: func(t *testing.T, o options) {
			c := o.proxy
			if c.Endpoint != "minio:9000" || !c.UseSSL || c.CacheMaxBytes != 1<<30 || c.CacheTTL != 5*time.Minute ||
				c.RateLimit != 2.5 || c.RateBurst != 10 || c.CacheMaxObjectBytes != 1<<20 ||
				len(c.VirtualHostDomains) != 2 || c.VirtualHostDomains[1] != "s3.other.test" || c.CacheStaleIfError != 0 {
				t.Errorf("proxy config %+v", c)
			}
			if o.listen != ":9090" || o.logLevel.String() != "DEBUG" {
				t.Errorf("listen %q, level %v", o.listen, o.logLevel)
			}
		}},
		{name: "S3CACHE_CONFIG names the file", file: example, viaEnv: true, check: func(t *testing.T, o options) {
			if o.proxy.Endpoint != "minio:9000" || !strings.HasSuffix(o.configPath, "s3cache.yaml") {
				t.Errorf("endpoint %q, config path %q", o.proxy.Endpoint, o.configPath)
			}
		}},
		{name: "-config wins over S3CACHE_CONFIG", file: "s3_region: eu-west-1\n",
			env: map[string]string{"S3CACHE_CONFIG": "/nonexistent/s3cache.yaml"},
			check: func(t *testing.T, o options) {
				if o.proxy.Region != "eu-west-1" {
					t.Errorf("region %q, want eu-west-1 from the -config file", o.proxy.Region)
				}
			}},
		{name: "env wins over the file", file: example, env: map[string]string{"CACHE_TTL": "90s", "S3_ENDPOINT": "env:1"},
			check: func(t *testing.T, o options) {
				if o.proxy.CacheTTL != 90*time.Second || o.proxy.Endpoint != "env:1" || o.proxy.CacheMaxBytes != 1<<30 {
					t.Errorf("ttl %v endpoint %q max %d", o.proxy.CacheTTL, o.proxy.Endpoint, o.proxy.CacheMaxBytes)
				}
			}},
		{name: "flag wins over env and file", file: example, env: map[string]string{"CACHE_TTL": "90s"},
			args: []string{"-cache-ttl", "2m", "-listen", ":7"},
			check: func(t *testing.T, o options) {
				if o.proxy.CacheTTL != 2*time.Minute || o.listen != ":7" {
					t.Errorf("ttl %v listen %q", o.proxy.CacheTTL, o.listen)
				}
			}},
		{name: "empty and null values are absent", file: "s3_endpoint: \"\"\ns3_region:\ncache_ttl: ~\n",
			check: func(t *testing.T, o options) {
				if o.proxy.Endpoint != "" || o.proxy.Region != "" || o.proxy.CacheTTL != 0 {
					t.Errorf("endpoint %q region %q ttl %v; want defaults", o.proxy.Endpoint, o.proxy.Region, o.proxy.CacheTTL)
				}
			}},
		{name: "empty file", file: "", check: func(t *testing.T, o options) {}},
		{name: "comments only", file: "# nothing yet\n", check: func(t *testing.T, o options) {}},
		{name: "auth file from the config file", file: "auth_config: " + writeFile(t, "users:\n  - access_key: a\n    secret_key: s\n") + "\n",
			check: func(t *testing.T, o options) {
				if a := o.proxy.Auth; a == nil || a.Users() != 1 || o.authPath == "" {
					t.Errorf("auth %+v path %q; want one user", a, o.authPath)
				}
			}},
		{name: "unknown key", file: "s3_endpoint: x:1\ncache_tll: 5m\n", wantErr: []string{"s3cache.yaml: line 2: unknown key \"cache_tll\""}},
		{name: "upper-case key", file: "S3_REGION: x\n", wantErr: []string{"line 1: unknown key \"S3_REGION\"", "s3_region"}},
		{name: "not a key of the file", file: "s3cache_config: other.yaml\n", wantErr: []string{"line 1: unknown key \"s3cache_config\""}},
		{name: "bad duration", file: "s3_region: x\ncache_ttl: soon\n",
			wantErr: []string{`s3cache.yaml: line 2: cache_ttl: "soon": want a positive duration`}},
		{name: "bad boolean", file: "s3_use_ssl: maybe\n", wantErr: []string{`line 1: s3_use_ssl: "maybe": want true or false`}},
		{name: "bad size", file: "\n\ncache_max_bytes: lots\n", wantErr: []string{"line 3: cache_max_bytes"}},
		{name: "bad auth file named in the config file", file: "auth_config: " + writeFile(t, "users:\n  - access_key: a\n") + "\n",
			wantErr: []string{"s3cache.yaml: line 1: auth_config:"}},
		{name: "a list", file: "s3_virtual_host_domains:\n  - a.test\n", wantErr: []string{"line 2: s3_virtual_host_domains: want a single value"}},
		{name: "a mapping", file: "s3_endpoint: {host: x}\n", wantErr: []string{"line 1: s3_endpoint: want a single value"}},
		{name: "repeated key", file: "s3_region: a\ns3_region: b\n", wantErr: []string{"line 2: s3_region: set again (first on line 1)"}},
		{name: "every error at once", file: "cache_tll: 5m\nrate_limit: fast\n",
			wantErr: []string{`line 1: unknown key "cache_tll"`, `line 2: rate_limit: "fast"`}},
		{name: "not a mapping", file: "- s3_endpoint: x\n", wantErr: []string{"s3cache.yaml: line 1: want a mapping"}},
		{name: "two documents", file: "s3_region: a\n---\ns3_region: b\n", wantErr: []string{"line 2: only one YAML document"}},
		{name: "not YAML", file: "s3_region: [\n", wantErr: []string{"s3cache.yaml:"}},
		{name: "overridden bad value still reported", file: "cache_ttl: soon\n", env: map[string]string{"CACHE_TTL": "1m"},
			wantErr: []string{"line 1: cache_ttl"}},
		{name: "secret not echoed", file: "s3_secret_key: hunter2\ns3_region: [x]\n", wantErr: []string{"line 2: s3_region"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.file)
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			args := tt.args
			if tt.viaEnv {
				env[configEnv] = path
			} else {
				args = append([]string{"-config", path}, args...)
			}
			o, err := parseOptions(args, func(k string) string { return env[k] }, io.Discard)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, want one mentioning %q", tt.wantErr)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("err = %v\nwant it to mention %q", err, want)
					}
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("err = %v: shows a secret", err)
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

// TestConfigFileMissing checks that a config file that cannot be read
// stops the proxy with the file and where it was named.
func TestConfigFileMissing(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"flag", []string{"-config", "/nonexistent/s3cache.yaml"}, nil, `-config="/nonexistent/s3cache.yaml"`},
		{"env", nil, map[string]string{configEnv: "/nonexistent/s3cache.yaml"}, `S3CACHE_CONFIG="/nonexistent/s3cache.yaml"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

// TestDefaultsAreTrue reads a config file that sets every key to the
// default -print-config shows for it and checks the result is what the
// proxy and the command use when nothing is set.
func TestDefaultsAreTrue(t *testing.T) {
	var zero options
	var b strings.Builder
	for _, s := range zero.settings() {
		text, err := yamlScalar(s.def, false)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(s.key() + ": " + text + "\n")
	}
	o, err := parseOptions([]string{"-config", writeConfig(t, b.String())}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("the defaults do not parse: %v\n%s", err, b.String())
	}
	c := o.proxy
	checks := []struct {
		name      string
		got, want any
	}{
		{"endpoint", c.Endpoint, proxy.DefaultEndpoint},
		{"access key", c.AccessKey, proxy.DefaultAccessKey},
		{"secret key", c.SecretKey, proxy.DefaultSecretKey},
		{"region", c.Region, proxy.DefaultRegion},
		{"use ssl", c.UseSSL, false},
		{"cache max bytes", c.CacheMaxBytes, int64(proxy.DefaultCacheMaxBytes)},
		{"cache ttl", c.CacheTTL, proxy.DefaultCacheTTL},
		{"cache max object bytes", c.CacheMaxObjectBytes, int64(proxy.DefaultCacheMaxObjectBytes)},
		{"cache cleanup interval", c.CacheCleanupInterval, proxy.DefaultCacheCleanupInterval},
		{"backend timeout", c.BackendTimeout, proxy.DefaultBackendTimeout},
		{"client idle timeout", c.ClientIdleTimeout, proxy.DefaultClientIdleTimeout},
		{"stale if error", c.CacheStaleIfError, time.Duration(0)},
		{"rate limit", c.RateLimit, 0.0},
		{"listen", o.listen, defaultListen},
		{"log level", o.logLevel.String(), "INFO"},
		{"log format", o.logFormat, "text"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: default shown as %v, the proxy uses %v", ck.name, ck.got, ck.want)
		}
	}
}
