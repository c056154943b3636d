package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/s3cache/s3cache/proxy"
)

// defaultListen is LISTEN_ADDR's default; healthcheck derives its URL from
// it too.
const defaultListen = ":8080"

// devListen is where -dev listens when LISTEN_ADDR is left at its
// default: loopback only, as the dev credentials are well known.
const devListen = "127.0.0.1:8080"

// listenAddr is the address to listen on: LISTEN_ADDR, or devListen for
// -dev when LISTEN_ADDR is at its default.
func listenAddr(o options) string {
	if o.dev && o.listen == defaultListen {
		return devListen
	}
	return o.listen
}

// configEnv names the config file when -config is absent.
const configEnv = "S3CACHE_CONFIG"

// options is what the command line, the environment and the config file
// configure.
type options struct {
	proxy     proxy.Config
	listen    string
	logLevel  slog.Level
	logFormat string
	dev       bool
	devDir    string
	authPath  string             // AUTH_CONFIG, reloaded on SIGHUP and on change; "" if none
	auditLog  string             // AUDIT_LOG: "stdout", a file path, or "" for none
	tlsCert   string             // TLS_CERT_FILE; "" serves plain HTTP
	tlsKey    string             // TLS_KEY_FILE
	pprofAddr string             // PPROF_ADDR: where to serve net/http/pprof; "" for nowhere
	warm      []proxy.WarmTarget // CACHE_WARM: warmed at start-up; nil for none
	stateFile string             // CACHE_STATE_FILE: cache state saved on shutdown, restored at start; "" for none
	// shutdownTimeout is how long SIGTERM waits for requests in flight
	// (SHUTDOWN_TIMEOUT).
	shutdownTimeout time.Duration
	// writeTimeout is how long a write to a client may move no byte
	// (WRITE_TIMEOUT).
	writeTimeout time.Duration

	printConfig bool                  // -print-config: print the configuration and exit
	version     bool                  // -version: print the version and exit
	configPath  string                // the config file read; "" if none
	given       map[string]layerValue // by variable: the value in force, for -print-config; absent means the default
}

// source is where a setting's value came from. Later sources win.
type source int

// The sources, lowest precedence first.
const (
	fromDefault source = iota
	fromFile
	fromEnv
	fromFlag
)

// String is the name -print-config shows.
func (s source) String() string {
	return [...]string{"default", "file", "env", "flag"}[s]
}

// layerValue is a setting's value as one source gave it.
type layerValue struct {
	value string
	src   source
}

// setting is one configuration value: its environment variable (whose
// lower-case name is its config-file key), the flag that mirrors it, its
// default as the variable would take it ("" when it has none or is derived
// at run time), its help text and how to parse it.
type setting struct {
	env, flag, def, help string
	set                  func(string) error
}

// key is the setting's name in the config file.
func (s setting) key() string { return strings.ToLower(s.env) }

// secret reports whether the setting's value must never be shown.
func (s setting) secret() bool {
	k := s.key()
	return strings.Contains(k, "secret") || strings.Contains(k, "token") || strings.Contains(k, "password")
}

// show quotes v for a message, or masks it if the setting is secret.
func (s setting) show(v string) string {
	if s.secret() {
		return `"****"`
	}
	return strconv.Quote(s.redact(v))
}

// redact masks the passwords a value may hold: those of the URLs in
// REDIS_URL (redis://user:password@host). Other values are returned as
// they are.
func (s setting) redact(v string) string {
	if s.env != "REDIS_URL" {
		return v
	}
	parts := strings.Split(v, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				parts[i] = u.Redacted()
			}
		}
	}
	return strings.Join(parts, ",")
}

// settings is the table of every setting, parsing into o. Defaults that
// depend on other settings are computed from o as it is.
func (o *options) settings() []setting {
	c := &o.proxy
	maxObject := "16MiB" // at most CACHE_MAX_BYTES
	if c.CacheMaxBytes > 0 && c.CacheMaxBytes < proxy.DefaultCacheMaxObjectBytes {
		maxObject = strconv.FormatInt(c.CacheMaxBytes, 10)
	}
	burst := "" // RATE_LIMIT rounded up, at least 1; unused without a limit
	if c.RateLimit > 0 {
		burst = strconv.Itoa(max(1, int(math.Ceil(c.RateLimit))))
	}
	return []setting{
		{"S3_ENDPOINT", "endpoint", proxy.DefaultEndpoint, "backend host:port (default localhost:9000)", str(&c.Endpoint)},
		{"S3_ACCESS_KEY", "access-key", proxy.DefaultAccessKey, "backend access key, also the key clients sign with (default minioadmin)", str(&c.AccessKey)},
		{"S3_SECRET_KEY", "secret-key", proxy.DefaultSecretKey, "backend secret key (default minioadmin)", str(&c.SecretKey)},
		{"S3_USE_SSL", "use-ssl", "false", "use HTTPS to the backend (default false)", boolean(&c.UseSSL)},
		{"S3_CA_FILE", "ca-file", "", "PEM file of CA certificates trusted for the backend's HTTPS certificate, besides the system's (default: system roots only)", caFile(&c.BackendRootCAs)},
		{"S3_REGION", "region", proxy.DefaultRegion, "signing region (default us-east-1)", str(&c.Region)},
		{"S3_VIRTUAL_HOST_DOMAINS", "virtual-host-domains", "", "comma-separated domains for virtual-hosted style: bucket.<domain>/key (default none: path style only)", list(&c.VirtualHostDomains)},
		{"LISTEN_ADDR", "listen", defaultListen, "address to listen on (default :8080; 127.0.0.1:8080 with -dev)", str(&o.listen)},
		{"TLS_CERT_FILE", "tls-cert-file", "", "PEM certificate chain: serve HTTPS instead of HTTP (with TLS_KEY_FILE; reloaded on SIGHUP and on change)", str(&o.tlsCert)},
		{"TLS_KEY_FILE", "tls-key-file", "", "PEM private key of TLS_CERT_FILE", str(&o.tlsKey)},
		{"CACHE_MAX_BYTES", "cache-max-bytes", "100MiB", "bytes the cache may hold, e.g. 100MiB (default 100MiB)", size(&c.CacheMaxBytes)},
		{"CACHE_TTL", "cache-ttl", "5m", "lifetime of a cache entry (default 5m)", duration(&c.CacheTTL)},
		{"CACHE_MAX_OBJECT_BYTES", "cache-max-object-bytes", maxObject, "largest object cached (default 16MiB)", size(&c.CacheMaxObjectBytes)},
		{"CACHE_CLEANUP_INTERVAL", "cache-cleanup-interval", "1m", "how often expired entries are removed (default 1m)", duration(&c.CacheCleanupInterval)},
		{"CACHE_POLICY_FILE", "cache-policy-file", "", "YAML file of per-bucket and per-prefix cache rules (see docs/configuration.md)", policyFile(&c.CachePolicy)},
		{"ADMIN_TOKEN", "admin-token", "", "bearer token that grants the admin API under /-/admin/, besides AUTH_CONFIG users with admin: true (default: none)", str(&c.AdminToken)},
		{"SAVINGS_PRICE_PER_GB", "savings-price-per-gb", "0", "what the backend charges per GB (2^30 bytes) it sends: the status page and /-/admin/stats price the bytes the cache saved at it (default 0: no price)", price(&c.SavingsPricePerGB)},
		{"SAVINGS_PRICE_PER_1K_GET", "savings-price-per-1k-get", "0", "what the backend charges per 1000 GET requests: the status page and /-/admin/stats price the requests the cache saved at it (default 0: no price)", price(&c.SavingsPricePer1kGet)},
		{"CACHE_WARM", "cache-warm", "", "comma-separated bucket/prefix list loaded into the cache at start-up, e.g. assets/thumbs/,logs/ (default: none)", warmTargets(&o.warm)},
		{"CACHE_STATE_FILE", "cache-state-file", "", "file the cached keys, ETags and hit counts are written to on shutdown and reloaded from, hottest first, at start (default: none: a restart starts cold)", str(&o.stateFile)},
		{"REDIS_URL", "redis-url", "", "Redis or Valkey that keeps replicas coherent: redis://host:port/db, rediss://…, or a comma-separated list of cluster nodes (default: none: this proxy caches alone)", str(&c.RedisURL)},
		{"REDIS_CA_FILE", "redis-ca-file", "", "PEM file of CA certificates trusted for a rediss:// Redis's certificate, besides the system's (default: system roots only)", caFile(&c.RedisRootCAs)},
		{"REDIS_PREFIX", "redis-prefix", proxy.DefaultRedisPrefix, "prefix of every key s3cache keeps in Redis (default s3cache:)", str(&c.RedisPrefix)},
		{"REDIS_TIMEOUT", "redis-timeout", "1s", "bound on each Redis call; also the health check period (default 1s)", duration(&c.RedisTimeout)},
		{"CACHE_L2", "cache-l2", "off", "shared second tier: redis or off (default off)", oneOf(&c.CacheL2, "redis", "off")},
		{"CACHE_L2_MAX_OBJECT_BYTES", "cache-l2-max-object-bytes", "1MiB", "largest object stored in the shared tier (default 1MiB, at most CACHE_MAX_OBJECT_BYTES)", size(&c.CacheL2MaxObjectBytes)},
		{"CACHE_L2_LOCK_TTL", "cache-l2-lock-ttl", "10s", "how long replicas wait for another replica's fill of an object before fetching it themselves (default 10s)", duration(&c.CacheL2LockTTL)},
		{"CACHE_L2_COMPRESS", "cache-l2-compress", proxy.DefaultCacheL2Compress, "zstd or off: compress compressible objects in the shared tier (default " + proxy.DefaultCacheL2Compress + ")", oneOf(&c.CacheL2Compress, "zstd", "off")},
		{"CACHE_COMPRESS", "cache-compress", proxy.DefaultCacheCompress, "zstd or off: hold compressible objects compressed in memory (default " + proxy.DefaultCacheCompress + ")", oneOf(&c.CacheCompress, "zstd", "off")},
		{"CACHE_BLOCK_BYTES", "cache-block-bytes", "1MiB", "objects larger than CACHE_MAX_OBJECT_BYTES are cached in aligned blocks of this size (default 1MiB)", size(&c.CacheBlockBytes)},
		{"CACHE_PREFETCH_BLOCKS", "cache-prefetch-blocks", "4", "blocks fetched ahead of a sequential reader of a large object; -1 for none (default 4)", signedCount(&c.CachePrefetchBlocks)},
		{"AUTH_CONFIG", "auth-config", "", "YAML file of client credentials and bucket grants, reloaded on SIGHUP and on change (see docs/configuration.md; default: S3_ACCESS_KEY with full access)", authFile(&c.Auth, &o.authPath)},
		{"CACHE_STALE_IF_ERROR", "cache-stale-if-error", "0", "serve an entry expired less than this long ago when the backend fails (default 0: never)", durationOrZero(&c.CacheStaleIfError)},
		{"BACKEND_TIMEOUT", "backend-timeout", "30s", "bound on connecting to the backend and on each wait for its answer (default 30s)", duration(&c.BackendTimeout)},
		{"UPLOAD_FRAMING", "upload-framing", proxy.DefaultUploadFraming, "how unsigned uploads are framed to the backend: auto (trailer once a probe at the first upload showed the backend verifies checksum trailers, chunked otherwise), chunked (aws-chunked, signed chunk by chunk with the backend's key: a cut upload can never look complete), trailer (PutObject as aws-chunked with a CRC64NVME trailer the backend verifies: as safe, less CPU, needs a backend that takes trailers) or length (Content-Length alone, for a backend without aws-chunked) (default " + proxy.DefaultUploadFraming + ")", oneOf(&c.UploadFraming, "auto", "chunked", "trailer", "length")},
		{"SHUTDOWN_TIMEOUT", "shutdown-timeout", "30s", "on SIGTERM or SIGINT, how long requests in flight (uploads included) may finish before the rest are cut off, which makes the backend refuse their uploads (default 30s)", duration(&o.shutdownTimeout)},
		{"WRITE_TIMEOUT", "write-timeout", "1m", "bound on a client that stops reading: a response whose bytes have not moved for this long is cut off and its connection closed; a slow client that keeps reading is never cut (default 1m)", duration(&o.writeTimeout)},
		{"CLIENT_IDLE_TIMEOUT", "client-idle-timeout", "1m", "bound on each wait for a client's request body (default 1m)", duration(&c.ClientIdleTimeout)},
		{"RATE_LIMIT", "rate-limit", "0", "requests per second per user, and per client IP for anonymous requests; over it: 503 SlowDown (default 0: no limit)", rate(&c.RateLimit)},
		{"RATE_BURST", "rate-burst", burst, "requests a user may make at once before RATE_LIMIT applies (default RATE_LIMIT, at least 1)", count(&c.RateBurst)},
		{"AUDIT_LOG", "audit-log", "", "one JSON line per request to \"stdout\" or appended to this file (default: none)", str(&o.auditLog)},
		{"PPROF_ADDR", "pprof-addr", "", "serve Go's profiles (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060; unauthenticated, keep it on loopback (default: off)", str(&o.pprofAddr)},
		{"LOG_LEVEL", "log-level", "info", "debug, info, warn or error (default info)", level(&o.logLevel)},
		{"LOG_FORMAT", "log-format", "text", "text or json (default text)", oneOf(&o.logFormat, "text", "json")},
		{"DEV_DATA_DIR", "dev-dir", "", "with -dev: data directory of the embedded backend (default $TMPDIR/s3cache-dev)", str(&o.devDir)},
	}
}

// parseOptions reads the config file (-config, else $S3CACHE_CONFIG), the
// environment and the flags; a flag wins over its variable, a variable
// over the file. Every value given is parsed, and every bad one reported
// with where it came from: the file, line and key, the variable or the
// flag. With -version nothing but the flags is read.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	o := options{listen: defaultListen, logFormat: "text", shutdownTimeout: defaultShutdownTimeout, writeTimeout: defaultWriteTimeout}
	settings := o.settings()
	flags := map[string]string{} // by variable: the last value given
	configFlag, configSet := "", false

	fs := flag.NewFlagSet("s3cache", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(fs) }
	fs.Func("config", "YAML file of settings: keys are the variables in lower case, e.g. s3_endpoint: minio:9000 [$"+configEnv+"]",
		func(v string) error { configFlag, configSet = v, true; return nil })
	fs.BoolVar(&o.printConfig, "print-config", false, "print the effective configuration as YAML, with each value's source, and exit")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.dev, "dev", false, "run with an embedded S3 backend for trying s3cache out")
	for _, s := range settings {
		fs.Func(s.flag, s.help+" [$"+s.env+"]", func(v string) error { flags[s.env] = v; return nil })
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.version {
		return o, nil
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}

	file, path, err := loadConfigFile(configFlag, configSet, getenv, settings)
	if err != nil {
		errs = append(errs, err)
	}
	o.configPath = path
	o.given = map[string]layerValue{}
	for _, s := range settings {
		apply := func(v string, src source, where string) {
			if err := s.set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s%s: %w", where, s.show(v), err))
			}
			o.given[s.env] = layerValue{v, src}
		}
		if fv, ok := file[s.env]; ok {
			apply(fv.value, fromFile, fmt.Sprintf("%s: line %d: %s: ", path, fv.line, s.key()))
		}
		if v := getenv(s.env); v != "" {
			apply(v, fromEnv, s.env+"=")
		}
		if v, ok := flags[s.env]; ok {
			apply(v, fromFlag, "-"+s.flag+"=")
		}
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

// loadConfigFile reads the config file named by -config (if set) or else
// by $S3CACHE_CONFIG, and returns its values by variable and its path. No
// file named means no values. With an error in the file, the values that
// could be read are returned as well.
func loadConfigFile(flagPath string, flagSet bool, getenv func(string) string, settings []setting) (map[string]fileValue, string, error) {
	path, origin := flagPath, "-config"
	if !flagSet {
		path, origin = getenv(configEnv), configEnv
	}
	if path == "" {
		return nil, "", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("%s=%q: %w", origin, path, err)
	}
	defer f.Close()
	values, err := parseConfigFile(f, path, settings)
	return values, path, err
}

// usage prints how to call the command, then every flag.
func usage(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), `Usage:
  s3cache [flags]                  run the proxy
  s3cache -print-config [flags]    print the effective configuration and exit
  s3cache version                  print the version and exit
  s3cache healthcheck [-url URL]   exit 0 if the proxy's /-/healthz answers 200, else 1

Every setting is a flag, an environment variable and a key of the -config
file (the variable in lower case). A flag wins over its variable, a
variable over the file, the file over the default.

Flags:
`)
	fs.PrintDefaults()
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
