package proxy

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"time"
)

// Config is everything the proxy needs. Zero fields take the defaults
// listed beside them, applied in one place (withDefaults); Validate reports
// values that cannot work.
type Config struct {
	Endpoint string // backend host:port; "" means "localhost:9000"
	UseSSL   bool   // talk HTTPS to the backend; false means plain HTTP
	// BackendRootCAs are the certificate authorities trusted for the
	// backend's HTTPS certificate. Nil means the system's roots. Unused
	// when Transport is set.
	BackendRootCAs *x509.CertPool
	AccessKey      string // backend access key, also the clients' key when Auth is nil; "" means "minioadmin"
	SecretKey      string // backend secret key; "" means "minioadmin"
	Region         string // region clients sign for and the backend is signed for; "" means "us-east-1"

	CacheMaxBytes        int64         // bytes the cache may hold; 0 means 100 MiB
	CacheTTL             time.Duration // lifetime of an entry; 0 means 5 minutes
	CacheMaxObjectBytes  int64         // largest object stored; 0 means 16 MiB (capped at CacheMaxBytes)
	CacheCleanupInterval time.Duration // sweep of expired entries; 0 means 1 minute
	CacheStaleIfError    time.Duration // serve an entry expired less than this long ago when the backend fails; 0 means never
	// VirtualHostDomains are the domains under which a Host header of
	// "bucket.<domain>" names the bucket (virtual-hosted style). Nil means
	// path style only.
	VirtualHostDomains []string
	CachePolicy        *Policy       // per-bucket and per-prefix rules; nil means none
	BackendTimeout     time.Duration // bound on connecting to the backend, waiting for its response headers and each wait for body bytes; 0 means 30 seconds
	ClientIdleTimeout  time.Duration // bound on each wait for a client's request body bytes; 0 means 1 minute

	// Auth is the clients' credentials and bucket grants (AUTH_CONFIG); nil
	// means the single user AccessKey/SecretKey with access to everything.
	// Proxy.SetAuth replaces it while running.
	Auth *AuthConfig
	// AdminToken, if set, is a bearer token that grants the admin API under
	// /-/admin/ (Authorization: Bearer <token>), besides SigV4 requests of
	// admin users. "" means only admin users may use it.
	AdminToken string

	// RateLimit is how many requests per second each principal may make:
	// each user (access key), and each client IP for anonymous requests.
	// Requests over it get 503 SlowDown with Retry-After and never reach
	// the cache or the backend. 0 means no limit.
	RateLimit float64
	// RateBurst is how many requests a principal may make at once before
	// RateLimit applies. 0 means max(1, RateLimit).
	RateBurst int

	// AuditLog receives one JSON line per request (ops endpoints
	// excluded), each written with a single Write, never two at once. A
	// failing Write is logged, not seen by clients. The proxy does not
	// close it. If nil, there is no audit log.
	AuditLog io.Writer

	// RedisURL makes the proxy one replica of a coherent cache (REDIS_URL):
	// writes through any replica invalidate every replica's entries through
	// Redis's client-side caching. It is a redis:// or rediss:// URL, or a
	// comma-separated list of cluster nodes (URLs or host:port). "" means
	// this proxy caches alone.
	RedisURL string
	// RedisPrefix starts every key the proxy keeps in Redis, so several
	// deployments can share one Redis. "" means "s3cache:".
	RedisPrefix string
	// RedisTimeout bounds each Redis call and is the period of the health
	// check. 0 means 1 second.
	RedisTimeout time.Duration
	// RedisRootCAs are the certificate authorities trusted for a rediss://
	// Redis's certificate. Nil means the system's roots.
	RedisRootCAs *x509.CertPool

	// CacheL2 is the shared second tier: "redis" stores objects of up to
	// CacheL2MaxObjectBytes in Redis too (needs RedisURL), and coalesces
	// misses across replicas. "" or "off" means none.
	CacheL2 string
	// CacheL2MaxObjectBytes is the largest object stored in the shared
	// tier. 0 means 1 MiB (at most CacheMaxObjectBytes).
	CacheL2MaxObjectBytes int64
	// CacheL2LockTTL bounds how long replicas wait for another replica's
	// fill of the same object before fetching it themselves. 0 means
	// 10 seconds.
	CacheL2LockTTL time.Duration
	// CacheL2Compress is how compressible objects are held in the shared
	// tier: "zstd" or "off". "" means DefaultCacheL2Compress.
	CacheL2Compress string
	// CacheCompress is how compressible objects are held in memory: "zstd"
	// or "off". "" means DefaultCacheCompress.
	CacheCompress string
	// UploadFraming is how an upload whose payload the backend cannot
	// check (UNSIGNED-PAYLOAD, or a client's aws-chunked body once
	// verified) is framed to the backend: "chunked", as aws-chunked signed
	// chunk by chunk with the backend's key, so a cut body can never look
	// complete; "trailer", a PutObject as unsigned aws-chunked with a
	// CRC64NVME trailer the backend verifies and records (cut, it never
	// looks complete either; parts stay "chunked"), for a backend that
	// takes STREAMING-UNSIGNED-PAYLOAD-TRAILER, at a fraction of the CPU;
	// "auto", "trailer" once a probe at the first such upload showed the
	// backend verifies trailers, "chunked" otherwise (see
	// sigv4.Transport.ProbeTrailers); or "length", by Content-Length
	// alone, for a backend that does not take aws-chunked (it may commit a
	// prefix of a cut upload). "" means DefaultUploadFraming.
	UploadFraming string

	// CacheBlockBytes is the size of the aligned blocks in which objects
	// larger than CacheMaxObjectBytes are cached. 0 means 1 MiB.
	CacheBlockBytes int64
	// CachePrefetchBlocks is how many blocks are fetched ahead of a
	// sequential reader of a large object. 0 means 4; negative means none.
	CachePrefetchBlocks int

	// SavingsPricePerGB is what the backend charges per GB (2^30 bytes)
	// it sends, and SavingsPricePer1kGet per 1000 GET (or HEAD) requests:
	// the status page and the admin API price what the cache saved at
	// them. 0 means free; with both 0 no price is shown.
	SavingsPricePerGB    float64
	SavingsPricePer1kGet float64

	// Transport carries requests to the backend before signing. If nil, an
	// http.Transport tuned for one backend host is used.
	Transport http.RoundTripper
	// Logger receives the proxy's logs: one INFO line per request (ops
	// endpoints excluded) with more of its details at DEBUG, warnings and
	// errors. If nil, slog.Default() is used.
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now is used.
	Now func() time.Time

	// sharedTierPoll is for tests only: the longest a miss waiting for
	// another replica's fill waits before it looks again, should Redis not
	// report the change first. 0 means the shared tier's own bounds.
	sharedTierPoll time.Duration
}

// Defaults of Config.
const (
	DefaultEndpoint             = "localhost:9000"
	DefaultAccessKey            = "minioadmin"
	DefaultSecretKey            = "minioadmin"
	DefaultRegion               = "us-east-1"
	DefaultCacheMaxBytes        = 100 << 20
	DefaultCacheTTL             = 5 * time.Minute
	DefaultCacheMaxObjectBytes  = 16 << 20
	DefaultCacheCleanupInterval = time.Minute
	DefaultBackendTimeout       = 30 * time.Second
	DefaultClientIdleTimeout    = time.Minute
	DefaultRedisPrefix          = "s3cache:"
	DefaultRedisTimeout         = time.Second
	DefaultCacheL2MaxObject     = 1 << 20
	DefaultCacheL2LockTTL       = 10 * time.Second
	DefaultCacheL2Compress      = "zstd"
	DefaultCacheCompress        = "off"
	DefaultUploadFraming        = "auto"
	DefaultCacheBlockBytes      = 1 << 20
	DefaultCachePrefetchBlocks  = 4
)

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if c.AccessKey == "" {
		c.AccessKey = DefaultAccessKey
	}
	if c.SecretKey == "" {
		c.SecretKey = DefaultSecretKey
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.CacheMaxBytes == 0 {
		c.CacheMaxBytes = DefaultCacheMaxBytes
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.CacheMaxObjectBytes == 0 {
		c.CacheMaxObjectBytes = min(DefaultCacheMaxObjectBytes, c.CacheMaxBytes)
	}
	if c.CacheCleanupInterval == 0 {
		c.CacheCleanupInterval = DefaultCacheCleanupInterval
	}
	if c.BackendTimeout == 0 {
		c.BackendTimeout = DefaultBackendTimeout
	}
	if c.ClientIdleTimeout == 0 {
		c.ClientIdleTimeout = DefaultClientIdleTimeout
	}
	if c.RedisPrefix == "" {
		c.RedisPrefix = DefaultRedisPrefix
	}
	if c.RedisTimeout == 0 {
		c.RedisTimeout = DefaultRedisTimeout
	}
	if c.CacheL2 == "off" {
		c.CacheL2 = ""
	}
	if c.CacheL2MaxObjectBytes == 0 {
		c.CacheL2MaxObjectBytes = min(DefaultCacheL2MaxObject, c.CacheMaxObjectBytes)
	}
	if c.CacheL2LockTTL == 0 {
		c.CacheL2LockTTL = DefaultCacheL2LockTTL
	}
	if c.CacheL2Compress == "" {
		c.CacheL2Compress = DefaultCacheL2Compress
	}
	if c.UploadFraming == "" {
		c.UploadFraming = DefaultUploadFraming
	}
	if c.CacheCompress == "" {
		c.CacheCompress = DefaultCacheCompress
	}
	if c.CacheBlockBytes == 0 {
		c.CacheBlockBytes = min(DefaultCacheBlockBytes, c.CacheMaxBytes)
	}
	if c.CachePrefetchBlocks == 0 {
		c.CachePrefetchBlocks = DefaultCachePrefetchBlocks
	}
	if c.RateBurst == 0 && c.RateLimit > 0 {
		c.RateBurst = max(1, int(math.Ceil(c.RateLimit)))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every value of c (after defaults) that cannot work.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if strings.Contains(c.Endpoint, "/") {
		errs = append(errs, fmt.Errorf("proxy: endpoint %q: want host:port without a scheme or path", c.Endpoint))
	} else if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("proxy: endpoint %q: %w", c.Endpoint, err))
	}
	if c.CacheMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("proxy: cache max bytes %d: must be positive", c.CacheMaxBytes))
	}
	if c.CacheMaxObjectBytes < 0 || c.CacheMaxObjectBytes > c.CacheMaxBytes {
		errs = append(errs, fmt.Errorf("proxy: cache max object bytes %d: must be between 1 and the cache size %d", c.CacheMaxObjectBytes, c.CacheMaxBytes))
	}
	if c.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("proxy: cache TTL %v: must be positive", c.CacheTTL))
	}
	if c.CacheCleanupInterval < 0 {
		errs = append(errs, fmt.Errorf("proxy: cache cleanup interval %v: must be positive", c.CacheCleanupInterval))
	}
	if c.CachePolicy != nil {
		for _, r := range c.CachePolicy.Rules {
			if r.MaxObjectBytes > c.CacheMaxBytes {
				errs = append(errs, fmt.Errorf("proxy: cache policy: rule for %s/%s: max_object_bytes %d exceeds the cache size %d", r.Bucket, r.Prefix, r.MaxObjectBytes, c.CacheMaxBytes))
			}
		}
	}
	if c.CacheStaleIfError < 0 {
		errs = append(errs, fmt.Errorf("proxy: cache stale-if-error %v: must not be negative", c.CacheStaleIfError))
	}
	if c.BackendTimeout < 0 {
		errs = append(errs, fmt.Errorf("proxy: backend timeout %v: must be positive", c.BackendTimeout))
	}
	if c.ClientIdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("proxy: client idle timeout %v: must be positive", c.ClientIdleTimeout))
	}
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		errs = append(errs, fmt.Errorf("proxy: rate limit %v: must be a positive number of requests per second, or 0 for none", c.RateLimit))
	}
	if !(prices{c.SavingsPricePerGB, c.SavingsPricePer1kGet}).valid() {
		errs = append(errs, fmt.Errorf("proxy: savings prices %v per GB, %v per 1000 GETs: must be finite and not negative", c.SavingsPricePerGB, c.SavingsPricePer1kGet))
	}
	if c.RateBurst < 0 {
		errs = append(errs, fmt.Errorf("proxy: rate burst %d: must be positive", c.RateBurst))
	}
	if c.RedisTimeout < 0 {
		errs = append(errs, fmt.Errorf("proxy: redis timeout %v: must be positive", c.RedisTimeout))
	}
	switch c.CacheL2 {
	case "":
	case "redis":
		if c.RedisURL == "" {
			errs = append(errs, errors.New("proxy: shared cache tier \"redis\" needs a Redis URL"))
		}
	default:
		errs = append(errs, fmt.Errorf("proxy: shared cache tier %q: want redis or off", c.CacheL2))
	}
	if c.CacheL2MaxObjectBytes < 0 {
		errs = append(errs, fmt.Errorf("proxy: shared tier max object bytes %d: must be positive", c.CacheL2MaxObjectBytes))
	}
	if c.CacheL2LockTTL < 0 {
		errs = append(errs, fmt.Errorf("proxy: shared tier lock TTL %v: must be positive", c.CacheL2LockTTL))
	}
	for _, v := range []struct{ what, value string }{{"shared tier compression", c.CacheL2Compress}, {"cache compression", c.CacheCompress}} {
		if v.value != "zstd" && v.value != "off" {
			errs = append(errs, fmt.Errorf("proxy: %s %q: want zstd or off", v.what, v.value))
		}
	}
	if c.UploadFraming != "auto" && c.UploadFraming != "chunked" && c.UploadFraming != "trailer" && c.UploadFraming != "length" {
		errs = append(errs, fmt.Errorf("proxy: upload framing %q: want auto, chunked, trailer or length", c.UploadFraming))
	}
	if c.CacheBlockBytes < 4<<10 || c.CacheBlockBytes > c.CacheMaxBytes {
		errs = append(errs, fmt.Errorf("proxy: cache block bytes %d: must be between 4KiB and the cache size %d", c.CacheBlockBytes, c.CacheMaxBytes))
	}
	return errors.Join(errs...)
}
