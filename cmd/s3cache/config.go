package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/s3cache/s3cache/proxy"
)

// options is what the command line and the environment configure.
type options struct {
	proxy     proxy.Config
	listen    string
	logLevel  slog.Level
	logFormat string
	dev       bool
	devDir    string
	authPath  string // AUTH_CONFIG, reloaded on SIGHUP and on change; "" if none
	auditLog  string // AUDIT_LOG: "stdout", a file path, or "" for none
	tlsCert   string // TLS_CERT_FILE; "" serves plain HTTP
	tlsKey    string // TLS_KEY_FILE
	pprofAddr string // PPROF_ADDR: where to serve net/http/pprof; "" for nowhere
}

// setting is one configuration value: its environment variable, the flag
// that mirrors it, its help text and how to parse it.
type setting struct {
	env, flag, help string
	set             func(string) error
}

// parseOptions reads flags and environment; a flag wins over its variable.
// Every bad value is reported with the variable's name.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	o := options{listen: ":8080", logFormat: "text"}
	c := &o.proxy
	settings := []setting{
		{"S3_ENDPOINT", "endpoint", "backend host:port (default localhost:9000)", str(&c.Endpoint)},
		{"S3_ACCESS_KEY", "access-key", "backend access key, also the key clients sign with (default minioadmin)", str(&c.AccessKey)},
		{"S3_SECRET_KEY", "secret-key", "backend secret key (default minioadmin)", str(&c.SecretKey)},
		{"S3_USE_SSL", "use-ssl", "use HTTPS to the backend (default false)", boolean(&c.UseSSL)},
		{"S3_CA_FILE", "ca-file", "PEM file of CA certificates trusted for the backend's HTTPS certificate, besides the system's (default: system roots only)", caFile(&c.BackendRootCAs)},
		{"S3_REGION", "region", "signing region (default us-east-1)", str(&c.Region)},
		{"S3_VIRTUAL_HOST_DOMAINS", "virtual-host-domains", "comma-separated domains for virtual-hosted style: bucket.<domain>/key (default none: path style only)", list(&c.VirtualHostDomains)},
		{"LISTEN_ADDR", "listen", "address to listen on (default :8080)", str(&o.listen)},
		{"TLS_CERT_FILE", "tls-cert-file", "PEM certificate chain: serve HTTPS instead of HTTP (with TLS_KEY_FILE; reloaded on SIGHUP and on change)", str(&o.tlsCert)},
		{"TLS_KEY_FILE", "tls-key-file", "PEM private key of TLS_CERT_FILE", str(&o.tlsKey)},
		{"CACHE_MAX_BYTES", "cache-max-bytes", "bytes the cache may hold, e.g. 100MiB (default 100MiB)", size(&c.CacheMaxBytes)},
		{"CACHE_TTL", "cache-ttl", "lifetime of a cache entry (default 5m)", duration(&c.CacheTTL)},
		{"CACHE_MAX_OBJECT_BYTES", "cache-max-object-bytes", "largest object cached (default 16MiB)", size(&c.CacheMaxObjectBytes)},
		{"CACHE_CLEANUP_INTERVAL", "cache-cleanup-interval", "how often expired entries are removed (default 1m)", duration(&c.CacheCleanupInterval)},
		{"CACHE_POLICY_FILE", "cache-policy-file", "YAML file of per-bucket and per-prefix cache rules (see README)", policyFile(&c.CachePolicy)},
		{"AUTH_CONFIG", "auth-config", "YAML file of client credentials and bucket grants, reloaded on SIGHUP and on change (see README; default: S3_ACCESS_KEY with full access)", authFile(&c.Auth, &o.authPath)},
		{"CACHE_STALE_IF_ERROR", "cache-stale-if-error", "serve an entry expired less than this long ago when the backend fails (default 0: never)", duration(&c.CacheStaleIfError)},
		{"BACKEND_TIMEOUT", "backend-timeout", "bound on connecting to the backend and on each wait for its answer (default 30s)", duration(&c.BackendTimeout)},
		{"CLIENT_IDLE_TIMEOUT", "client-idle-timeout", "bound on each wait for a client's request body (default 1m)", duration(&c.ClientIdleTimeout)},
		{"RATE_LIMIT", "rate-limit", "requests per second per user, and per client IP for anonymous requests; over it: 503 SlowDown (default 0: no limit)", rate(&c.RateLimit)},
		{"RATE_BURST", "rate-burst", "requests a user may make at once before RATE_LIMIT applies (default RATE_LIMIT, at least 1)", count(&c.RateBurst)},
		{"AUDIT_LOG", "audit-log", "one JSON line per request to \"stdout\" or appended to this file (default: none)", str(&o.auditLog)},
		{"PPROF_ADDR", "pprof-addr", "serve Go's profiles (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060; unauthenticated, keep it on loopback (default: off)", str(&o.pprofAddr)},
		{"LOG_LEVEL", "log-level", "debug, info, warn or error (default info)", level(&o.logLevel)},
		{"LOG_FORMAT", "log-format", "text or json (default text)", oneOf(&o.logFormat, "text", "json")},
		{"DEV_DATA_DIR", "dev-dir", "with -dev: data directory of the embedded backend (default $TMPDIR/s3cache-dev)", str(&o.devDir)},
	}
	var errs []error
	for _, s := range settings {
		if v := getenv(s.env); v != "" {
			if err := s.set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", s.env, v, err))
			}
		}
	}
	fs := flag.NewFlagSet("s3cache", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.dev, "dev", false, "run with an embedded S3 backend for trying s3cache out")
	for _, s := range settings {
		fs.Func(s.flag, s.help+" [$"+s.env+"]", s.set)
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		errs = append(errs, errors.New("TLS_CERT_FILE and TLS_KEY_FILE must be set together"))
	}
	if err := errors.Join(errs...); err != nil {
		return o, err
	}
	if err := o.proxy.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

func str(p *string) func(string) error {
	return func(v string) error { *p = v; return nil }
}

func boolean(p *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		*p = b
		return nil
	}
}

func duration(p *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("want a positive duration such as 30s, 5m or 1h")
		}
		*p = d
		return nil
	}
}

func rate(p *float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return errors.New("want requests per second: a number such as 50 or 0.5, or 0 for no limit")
		}
		*p = f
		return nil
	}
}

func count(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return errors.New("want a positive whole number")
		}
		*p = n
		return nil
	}
}

func level(p *slog.Level) func(string) error {
	return func(v string) error {
		if err := p.UnmarshalText([]byte(v)); err != nil {
			return errors.New("want debug, info, warn or error")
		}
		return nil
	}
}

func oneOf(p *string, allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a {
				*p = v
				return nil
			}
		}
		return fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
	}
}

// list parses a comma-separated list.
func list(p *[]string) func(string) error {
	return func(v string) error {
		*p = nil
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				*p = append(*p, item)
			}
		}
		return nil
	}
}

// policyFile reads and parses a cache policy file.
func policyFile(p **proxy.Policy) func(string) error {
	return func(path string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		pol, err := proxy.ParsePolicy(f, path)
		if err != nil {
			return err
		}
		*p = pol
		return nil
	}
}

// openAuditLog opens the AUDIT_LOG destination: stdout, or path opened
// for appending (created 0600). close is a no-op for stdout.
func openAuditLog(path string, stdout io.Writer) (w io.Writer, close func() error, err error) {
	if path == "stdout" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("AUDIT_LOG=%q: %w", path, err)
	}
	return f, f.Close, nil
}

// authFile reads and parses an auth config file and remembers its path.
func authFile(a **proxy.AuthConfig, path *string) func(string) error {
	return func(p string) error {
		cfg, err := readAuthConfig(p)
		if err != nil {
			return err
		}
		*a, *path = cfg, p
		return nil
	}
}

func readAuthConfig(path string) (*proxy.AuthConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return proxy.ParseAuthConfig(f, path)
}

// size parses a byte count with proxy.ParseSize.
func size(p *int64) func(string) error {
	return func(v string) error {
		n, err := proxy.ParseSize(v)
		if err != nil {
			return err
		}
		*p = n
		return nil
	}
}
