package proxy

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/s3cache/s3cache/proxy/internal/identity"
	"github.com/s3cache/s3cache/proxy/internal/leanhttp"
	"github.com/s3cache/s3cache/proxy/internal/s3api"
	"github.com/s3cache/s3cache/sigv4"
)

// frontEnd names the API a request came through.
type frontEnd uint8

const (
	frontS3      frontEnd = iota // path-style S3: /{bucket}/{key}
	frontObjects                 // /objects/{bucket}/{key...}
)

// objectsPrefix is the path of the simple object API. It is why the bucket
// name "objects" cannot be used in path style.
const objectsPrefix = "/objects/"

// errReservedBucket refuses the bucket "objects" in path style.
var errReservedBucket = s3api.New(http.StatusBadRequest, "InvalidBucketName", "The bucket name \"objects\" is reserved for the /objects API of this proxy; use it through /objects/objects/{key} or virtual-hosted style.")

// request is the one description of a client request that every later step
// works from.
type request struct {
	id       string // the request id sent in X-Amz-Request-Id; "" for warm-up
	front    frontEnd
	bucket   string
	key      string // exactly as sent: never cleaned
	op       s3api.Operation
	auth     *sigv4.Result
	vhost    bool                // the bucket came from the Host header (virtual-hosted style)
	who      *identity.Principal // who auth says sent the request; never nil after authentication
	body     *clientBody         // the client's body as read off the wire; nil without one
	query    url.Values          // the parsed query; nil when there is none
	badQuery bool                // the query did not parse; query holds what did
	rule     *Rule               // the cache policy rule for bucket and key; nil if none
	// lw wraps the client's ResponseWriter to record what was sent, for
	// the metrics and the logs; it is part of request so that it costs no
	// allocation of its own.
	lw loggingWriter
}

// objectPath returns the bucket and key a request path names: on a
// virtual host (vbucket, when vhost) the whole path is the key; under
// /objects/ (objects is then true) and otherwise, the first segment is
// the bucket.
func objectPath(path, vbucket string, vhost bool) (bucket, key string, objects bool) {
	switch {
	case vhost:
		return vbucket, strings.TrimPrefix(path, "/"), false
	case path == "/objects" || strings.HasPrefix(path, objectsPrefix):
		bucket, key, _ = strings.Cut(strings.TrimPrefix(path[len("/objects"):], "/"), "/")
		return bucket, key, true
	}
	bucket, key, _ = strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return bucket, key, false
}

// ServeHTTP routes a request: ops endpoints under /-/ (the admin API, the
// status page, health and metrics), the /objects API, and
// everything else as path-style S3. Paths are split by hand, not by
// http.ServeMux, because ServeMux cleans and redirects paths such as
// "a//b" or "a/../b", which are valid S3 keys.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := p.newRequestID()
	w.Header().Set("X-Amz-Request-Id", id)
	path := r.URL.Path
	// On a virtual host (bucket.<domain>) the whole path is the key, even
	// "/-/…" or "/objects/…": both are valid keys.
	vbucket, vhost := vhostBucket(r.Host, p.domains)
	if !vhost && strings.HasPrefix(path, adminPrefix) {
		p.serveAdmin(w, r)
		return
	}
	if !vhost && (path == statusPagePath || path == statusJSONPath) {
		p.serveStatus(w, r)
		return
	}
	if !vhost && strings.HasPrefix(path, "/-/") {
		p.ops.ServeHTTP(w, r)
		return
	}
	rq := &request{id: id}
	// One wrapper records status, bytes and where they came from, for the
	// metrics, the request log and the audit log.
	rq.lw.ResponseWriter = w
	w = &rq.lw
	defer p.finishRequest(r, rq, time.Now())
	if r.ProtoMajor >= 2 && headSize(r) > leanhttp.MaxHeadBytes {
		// HTTP/1 heads are measured by the server (leanhttp); HTTP/2 ones
		// arrive decoded.
		p.writeError(w, r, s3api.ErrHeadTooLarge)
		return
	}
	var objects bool
	rq.bucket, rq.key, objects = objectPath(path, vbucket, vhost)
	rq.vhost = vhost
	if objects {
		rq.front = frontObjects
	}

	if r.Body != nil && r.Body != http.NoBody {
		rq.body = &clientBody{ReadCloser: r.Body, rc: http.NewResponseController(w), d: p.cfg.ClientIdleTimeout}
		r.Body = rq.body
	}
	if isPostUpload(r, rq) {
		// A browser form: its signed policy is its authentication.
		p.servePostUpload(w, r, rq)
		return
	}
	// Authenticate before anything else, the cache included.
	ac := p.auth.Load()
	auth, err := p.verifier.Verify(r)
	switch {
	case err == nil:
		rq.who = ac.User(auth.AccessKey)
		if rq.who == nil { // removed by a reload since Verify looked it up
			p.writeError(w, r, s3api.ErrAccessDenied)
			return
		}
	case errors.Is(err, sigv4.ErrMissingAuth) && ac.Anonymous() != nil:
		rq.who = ac.Anonymous()
		auth = &sigv4.Result{Body: http.NoBody, ContentLength: 0, PayloadHash: emptyPayloadHash}
	default:
		p.writeError(w, r, err)
		return
	}
	rq.auth = auth
	defer auth.Body.Close()

	if rq.front == frontObjects && (rq.bucket == "" || rq.key == "") {
		p.writeError(w, r, s3api.New(http.StatusBadRequest, "InvalidRequest", "Use /objects/{bucket}/{key}."))
		return
	}
	if rq.front == frontS3 && !rq.vhost && rq.bucket == "objects" {
		p.writeError(w, r, errReservedBucket)
		return
	}
	if rq.vhost && rq.bucket == "" || rq.bucket != "" && !s3api.ValidBucketName(rq.bucket) {
		p.writeError(w, r, s3api.ErrInvalidBucketName)
		return
	}
	if s3api.KeyLeavesBucket(rq.key) {
		p.writeError(w, r, s3api.ErrKeyLeavesBucket)
		return
	}
	if err := s3api.CheckKey(rq.key); err != nil {
		p.writeError(w, r, err)
		return
	}
	// The query is parsed once, here, for classification and for reads;
	// most object requests have none but presign parameters, and then
	// nothing is allocated.
	if r.URL.RawQuery != "" {
		var err error
		rq.query, err = s3api.ParseQuery(r.URL.RawQuery)
		rq.badQuery = err != nil
	}
	if rq.front == frontObjects {
		rq.op = objectsOperation(r.Method)
	} else {
		rq.op = s3api.Classify(r.Method, rq.bucket, rq.key, rq.query, r.Header)
	}
	if !p.admit(w, r, rq) {
		return
	}
	// Nothing is read of a body S3 would refuse for its size, or for
	// having none declared.
	if rq.op.Name == "PutObject" || rq.op.Name == "UploadPart" {
		switch {
		case rq.auth.ContentLength > maxPutBytes:
			p.writeError(w, r, s3api.ErrEntityTooLarge)
			return
		case rq.auth.ContentLength < 0:
			p.writeError(w, r, s3api.ErrMissingLength)
			return
		}
	}
	if rq.front == frontObjects {
		p.serveObjects(w, r, rq)
		return
	}
	if rq.op.Name == "GetObject" || rq.op.Name == "HeadObject" {
		p.serveRead(w, r, rq)
		return
	}
	p.passThrough(w, r, rq)
}

// admit rate limits and authorizes an authenticated request, before
// anything costs more than this and before the cache is touched. When it
// refuses, it answered the client and returns false.
func (p *Proxy) admit(w http.ResponseWriter, r *http.Request, rq *request) bool {
	if p.limiters != nil {
		if ok, wait := p.limiters.Allow(rq.who, r.RemoteAddr, p.cfg.Now()); !ok {
			p.metrics.rateLimited.Inc()
			w.Header().Set("Retry-After", identity.RetryAfter(wait))
			p.writeError(w, r, s3api.ErrSlowDown)
			return false
		}
	}
	if err := identity.Authorize(rq.who, rq.op, rq.bucket, r.Header); err != nil {
		p.writeError(w, r, err)
		return false
	}
	return true
}

// maxPutBytes is the largest body S3 takes in one PutObject or
// UploadPart: 5 GiB.
const maxPutBytes = 5 << 30

// emptyPayloadHash is the hex SHA-256 of an empty payload.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// headSize is the size of r's head as HTTP/1.1 would send it: request
// line and header fields.
func headSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len("  HTTP/1.1\r\n\r\n") + len("Host: \r\n") + len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return n
}
