package proxy

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/proxy/internal/identity"
	"github.com/s3cache/s3cache/sigv4"
)

// Proxy is the s3cache HTTP handler: both front ends (native S3 path style
// and /objects), the ops endpoints under /-/ (health, readiness and
// Prometheus metrics), the cache and the pass-through to the backend. Each
// Proxy has its own metrics registry. Build it with New; the zero value is
// not usable. It is safe for concurrent use.
type Proxy struct {
	cfg      Config
	log      *slog.Logger
	verifier *sigv4.Verifier
	backend  http.RoundTripper // signs every request last
	scheme   string            // of the backend
	cache    *cache.Cache
	rp       *httputil.ReverseProxy
	minio    *minio.Client
	ops      *http.ServeMux
	ready    readiness
	flights  flights
	blocks   blockTable            // objects cached in blocks: fetches in flight, prefetches
	filling  fillBudget            // bytes of fills in progress
	domains  []string              // virtual-host domains, normalised
	limiters *identity.RateLimiter // nil without a rate limit
	auditLog *identity.AuditLog    // nil without an audit log
	metrics  *metrics              // served at /-/metrics
	warmer   *warmer               // background cache warming
	history  history               // the status page's last hour
	started  time.Time             // when New returned
	// stopHistory stops runHistory, and historyDone is closed when it
	// returned.
	stopHistory, historyDone chan struct{}
	// gens keeps replicas coherent through Redis; coherence.Standalone
	// without Config.RedisURL.
	gens generations
	// l2 is the shared tier in Redis; coherence.NoSharedTier without
	// Config.CacheL2.
	l2 sharedTier
	// auth is who may do what; replaced whole by SetAuth, read once per
	// request.
	auth atomic.Pointer[AuthConfig]

	// quarantine holds the fences of writes whose outcome is unknown.
	quarantine quarantines
	// fills counts the fills pumping a backend body into a flight, which
	// outlive their clients: Close waits for them before it closes the
	// cache they commit to.
	fills sync.WaitGroup

	// fenceEndsWithClient is for tests only: a write's fence ends when its
	// client leaves, as it once did. The linearizability test must catch
	// it.
	fenceEndsWithClient bool

	// skipInvalidation is for tests only: writes leave the cache alone. It
	// is the mutation the linearizability test must catch.
	skipInvalidation bool

	reqPrefix string
	reqSeq    atomic.Uint64
}

var _ http.Handler = (*Proxy)(nil)

// New validates cfg and builds a Proxy. Call Close when done with it.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c, err := cache.New(cache.Config{
		MaxBytes: cfg.CacheMaxBytes,
		TTL:      cfg.CacheTTL,
		// Expired entries stay for one more TTL (or the stale-if-error
		// window, if longer) so they can be revalidated with a 304.
		Retain:          max(cfg.CacheTTL, cfg.CacheStaleIfError),
		CleanupInterval: cfg.CacheCleanupInterval,
		Now:             cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	base := cfg.Transport
	if base == nil {
		base = newBackendTransport(cfg.BackendTimeout, cfg.BackendRootCAs)
	}
	p := &Proxy{
		cfg: cfg,
		log: cfg.Logger,
		verifier: &sigv4.Verifier{
			Credentials: nil, // set below: the current AuthConfig
			Region:      cfg.Region,
			Now:         cfg.Now,
		},
		scheme: "http",
		cache:  c,
		warmer: newWarmer(),
	}
	p.metrics = newMetrics(c, cfg.CacheMaxBytes, &p.flights.joined, cfg.Logger)
	p.blocks.init(p.metrics)
	// Every backend request, signed here or by minio-go, goes through the
	// same chain: each attempt counted once, a broken connection closed
	// and an idempotent request sent again on a new one.
	base = newBackendChain(base, p.metrics, cfg.Logger)
	p.backend = &sigv4.Transport{
		Base:      base,
		AccessKey: cfg.AccessKey,
		SecretKey: cfg.SecretKey,
		Region:    cfg.Region,
		Now:       cfg.Now,
		// Unsigned uploads go as signed aws-chunked, or with a checksum
		// trailer: a cut one never looks complete to the backend.
		ChunkedUploads: cfg.UploadFraming != "length",
		TrailerUploads: cfg.UploadFraming == "trailer",
		ProbeTrailers:  cfg.UploadFraming == "auto",
		OnProbe:        p.trailersProbed,
	}
	if cfg.UseSSL {
		p.scheme = "https"
	}
	p.filling.limit = cfg.fillLimit()
	p.verifier.Credentials = currentCredentials{p}
	p.SetAuth(cfg.Auth)
	p.minio, err = minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.UseSSL,
		Region:    cfg.Region,
		Transport: base,
	})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("proxy: backend client: %w", err)
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: p.backend,
		// Writes are not flushed one by one (the lean front end sends a
		// small body with its header in one system call, and batches a
		// large one's pieces), but what it holds goes out within
		// relayFlushInterval when the backend sends nothing more; a
		// response of unknown length or an event stream is flushed at
		// once.
		FlushInterval:  relayFlushInterval,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.proxyError,
		BufferPool:     bufferPool{},
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	p.domains = parseDomains(cfg.VirtualHostDomains)
	p.ops = http.NewServeMux()
	p.ops.HandleFunc("GET /-/healthz", p.healthz)
	p.ops.HandleFunc("GET /-/readyz", p.readyz)
	p.ops.Handle("GET /-/metrics", p.metrics.handler())
	if cfg.AuditLog != nil {
		p.auditLog = identity.NewAuditLog(cfg.AuditLog, cfg.Logger, cfg.Now)
	}
	if cfg.RateLimit > 0 {
		p.limiters = identity.NewRateLimiter(cfg.RateLimit, cfg.RateBurst, cfg.Now)
	}
	var b [4]byte
	rand.Read(b[:])
	p.reqPrefix = hex.EncodeToString(b[:])
	if err := p.startCoherence(cfg); err != nil {
		c.Close()
		return nil, err
	}
	p.started = cfg.Now()
	first := p.gatherCounters()
	p.history.add(first.sample(p.started))
	p.stopHistory, p.historyDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.historyDone)
		p.runHistory(p.stopHistory)
	}()
	return p, nil
}

// SetAuth replaces who may use the proxy and what they may do, at once for
// every request that starts afterwards; requests in flight finish under the
// configuration they started with. nil means the single user
// Config.AccessKey/Config.SecretKey with full access. It is safe to call
// concurrently with requests.
func (p *Proxy) SetAuth(a *AuthConfig) {
	if a == nil {
		a = identity.SingleUser(p.cfg.AccessKey, p.cfg.SecretKey)
	}
	p.auth.Store(a)
}

// currentCredentials is the verifier's view of the current AuthConfig.
type currentCredentials struct{ p *Proxy }

func (c currentCredentials) SecretKey(accessKey string) (string, bool) {
	return c.p.auth.Load().SecretKey(accessKey)
}

// Close stops the status page's sampling and the warm jobs, waits for the
// fills still reading a backend body (each bounded by BackendTimeout per
// read), releases the cache and stops the rate limiters' sweeper. Requests in flight must have
// finished. It does not close Config.AuditLog.
func (p *Proxy) Close() {
	close(p.stopHistory)
	<-p.historyDone
	p.quarantine.close()
	p.warmer.stop()
	p.blocks.close()
	p.fills.Wait()
	p.gens.Close()
	p.cache.Close()
	if p.limiters != nil {
		p.limiters.Close()
	}
}

// newBackendTransport returns the transport to one backend host: idle
// connections kept, bounded dial and response-header waits, no transparent
// decompression (bytes are relayed and cached as the backend sent them),
// HTTPS verified against roots (nil: the system's).
func newBackendTransport(timeout time.Duration, roots *x509.CertPool) *http.Transport {
	return &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		Proxy:               nil,
		DialContext:         dialUploads(&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}),
		MaxIdleConns:        128,
		MaxIdleConnsPerHost: 128,
		// 64 KiB each way instead of 4 KiB: a relayed body crosses in a
		// sixteenth of the system calls. Idle connections keep theirs, so
		// at most 128 are kept (16 MiB).
		WriteBufferSize:       64 << 10,
		ReadBufferSize:        64 << 10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

// dialUploads dials with d and returns connections whose ReadFrom, which
// the HTTP transport sends every request body through, copies in
// uploadBufferSize buffers instead of io.Copy's 32 KiB: an upload body
// crosses from the client's socket to the backend's in an eighth of the
// reads and writes.
func dialUploads(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return uploadConn{c}, nil
	}
}

// uploadConn is a backend connection that sends bodies in large copies.
type uploadConn struct{ net.Conn }

func (c uploadConn) ReadFrom(r io.Reader) (int64, error) {
	bp := uploadBuffers.Get().(*[]byte)
	defer uploadBuffers.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{c.Conn}, r, *bp)
}

// uploadBufferSize is the size of the buffers of uploadConn: a few system
// calls per MiB, and one buffer per upload in flight.
const uploadBufferSize = 256 << 10

var uploadBuffers = sync.Pool{New: func() any { b := make([]byte, uploadBufferSize); return &b }}

// newRequestID returns a request id unique within this process.
func (p *Proxy) newRequestID() string {
	return p.reqPrefix + strconv.FormatUint(p.reqSeq.Add(1), 16)
}

// backendURL is the URL of bucket/key on the backend, with the path encoded
// the way S3 signs it (every byte but unreserved ones and '/' escaped) so
// the signer and the wire see the same bytes.
func (p *Proxy) backendURL(bucket, key, rawQuery string) *url.URL {
	path := "/"
	if bucket != "" {
		path += bucket
		if key != "" {
			path += "/" + key
		}
	}
	return &url.URL{
		Scheme:   p.scheme,
		Host:     p.cfg.Endpoint,
		Path:     path,
		RawPath:  sigv4.EscapePath(path),
		RawQuery: rawQuery,
	}
}

// trailersProbed logs what UPLOAD_FRAMING=auto's probe found: once when
// it settles, and each time a probe told nothing.
func (p *Proxy) trailersProbed(tp sigv4.TrailerProbe) {
	switch {
	case tp.Taken:
		p.log.Info("uploads go with a CRC64NVME checksum trailer", "probe", tp.String())
	case tp.Settled:
		p.log.Warn("uploads go as signed aws-chunked: the backend does not verify checksum trailers", "probe", tp.String())
	default:
		p.log.Warn("uploads go as signed aws-chunked for a minute, then the backend is probed again", "probe", tp.String())
	}
}
