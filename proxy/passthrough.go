package proxy

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"sync"

	"github.com/s3cache/s3cache/proxy/internal/coherence"
	"github.com/s3cache/s3cache/proxy/internal/identity"
	"github.com/s3cache/s3cache/proxy/internal/s3api"
	"github.com/s3cache/s3cache/sigv4"
)

// maxDeleteBody caps how much of a DeleteObjects body is read to learn its
// keys. S3 allows 1000 keys of up to 1024 bytes, well under this.
const maxDeleteBody = 4 << 20

// outbound carries what the ReverseProxy hooks need to know about one
// request. It travels in the request context.
type outbound struct {
	rq     *request
	body   *errRecorder
	length int64
	// write fences what a write touches from before it is forwarded until
	// the backend answered or failed, before the client sees the answer:
	// no read that raced it is stored or shared. Nil for reads.
	write *fence
	// cut is why the backend's body failed while the ReverseProxy relayed
	// it (see cutRecorder); nil when it did not.
	cut    error
	xcache string // X-Cache value to add, if any
	reqID  string // the client request's id, for logs
	cancel context.CancelFunc
}

type outboundKey struct{}

// errRecorder remembers the first error other than io.EOF that reading the
// client's body produced, so a failed upload is reported as the client's
// fault (4xx) and not as a backend failure.
type errRecorder struct {
	io.ReadCloser
	mu   sync.Mutex
	err  error
	done bool // the body was read to its end
}

func (e *errRecorder) Read(b []byte) (int, error) {
	n, err := e.ReadCloser.Read(b)
	if err != nil {
		e.mu.Lock()
		if err == io.EOF {
			e.done = true
		} else if e.err == nil {
			e.err = err
		}
		e.mu.Unlock()
	}
	return n, err
}

// sentWhole reports whether the body was read to its end without an
// error: all of it may have reached the backend.
func (e *errRecorder) sentWhole() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err == nil && (e.done || e.ReadCloser == http.NoBody)
}

func (e *errRecorder) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// passThrough forwards a request to the backend, re-signed, bodies streamed
// both ways. A write fences what it touches (cache.Write) from before it is
// forwarded until the backend answered: cached entries die at once, and no
// fill that raced the write is stored or shared with later readers.
func (p *Proxy) passThrough(w http.ResponseWriter, r *http.Request, rq *request) {
	p.forward(w, r, rq, "")
}

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, rq *request, xcache string) {
	ob := &outbound{rq: rq, length: rq.auth.ContentLength, xcache: xcache, reqID: rq.id}
	body := rq.auth.Body
	if ob.length == 0 && body != http.NoBody {
		// An empty aws-chunked payload still has framing, signatures and
		// trailers to verify; it is read here, because an empty body is
		// sent to the backend as no body at all.
		if _, err := io.Copy(io.Discard, body); err != nil {
			p.writeError(w, r, clientBodyError(err))
			return
		}
	}
	var keys []string
	switch rq.op.Effect {
	case s3api.EffectKey:
		keys = []string{rq.key}
	case s3api.EffectDeleteMulti:
		var err error
		keys, body, err = readDeleteKeys(body)
		if err != nil {
			p.writeError(w, r, clientBodyError(err))
			return
		}
	}
	switch {
	case p.skipInvalidation:
	case rq.op.Effect == s3api.EffectBucket || rq.op.Effect == s3api.EffectDeleteMulti && keys == nil:
		ob.write = p.beginWrite(r.Context(), rq.bucket, nil, true)
	case keys != nil:
		ob.write = p.beginWrite(r.Context(), rq.bucket, keys, false)
	}
	// In case the ReverseProxy called neither hook; End is idempotent.
	defer ob.write.End()
	ob.body = &errRecorder{ReadCloser: body}
	ctx := r.Context()
	if rq.op.Write && !p.fenceEndsWithClient {
		// A write's outcome is awaited even when its client leaves or
		// half-closes once the body is sent: the fence holds until the
		// backend answered, and the client, if still there, gets that
		// answer. A client that leaves before its body is whole fails
		// the body, which aborts the upload, whose framing the backend
		// then refuses.
		ctx = context.WithoutCancel(ctx)
	}
	ctx = sigv4.WithPayloadHash(ctx, rq.auth.PayloadHash)
	// A client's checksum trailers go on to the backend with the payload,
	// so it records the checksum the client asked for.
	ctx = sigv4.WithTrailers(ctx, rq.auth.Trailers)
	ctx = context.WithValue(ctx, outboundKey{}, ob)
	ctx, ob.cancel = context.WithCancel(ctx)
	defer ob.cancel()
	hw := holdStatus(w) // until the first byte: a body that fails before it gets an error status
	p.relay(hw, r.WithContext(ctx))
	if ob.cut != nil {
		// A backend body that failed ends the answer, whichever server
		// carries it: on the lean loop the ReverseProxy just returns,
		// which would end a chunked answer as if it were whole.
		p.failBody(hw, r, ob.cut)
		return
	}
	hw.send()
}

// relay runs the ReverseProxy, which aborts an answer whose backend body
// failed (under net/http's server) by panicking with http.ErrAbortHandler:
// forward decides what such an answer gets (failBody), so that panic is
// recovered here when the backend body failed; any other goes on.
func (p *Proxy) relay(w http.ResponseWriter, r *http.Request) {
	ob := r.Context().Value(outboundKey{}).(*outbound)
	defer func() {
		if v := recover(); v != nil && (v != http.ErrAbortHandler || ob.cut == nil) {
			panic(v)
		}
	}()
	p.rp.ServeHTTP(w, r)
}

// readDeleteKeys reads a DeleteObjects body (at most maxDeleteBody bytes)
// and returns the keys it names and a reader that replays the whole body.
// keys is nil when the body could not be parsed; the caller then
// invalidates the whole bucket and lets the backend judge the body.
func readDeleteKeys(body io.ReadCloser) (keys []string, replay io.ReadCloser, err error) {
	buf, err := io.ReadAll(io.LimitReader(body, maxDeleteBody+1))
	if err != nil {
		return nil, nil, err
	}
	replay = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), body), body}
	if len(buf) > maxDeleteBody {
		return nil, replay, nil
	}
	var del struct {
		Objects []struct {
			Key string `xml:"Key"`
		} `xml:"Object"`
	}
	if xml.Unmarshal(buf, &del) != nil {
		return nil, replay, nil
	}
	keys = make([]string, 0, len(del.Objects))
	for _, o := range del.Objects {
		keys = append(keys, o.Key)
	}
	return keys, replay, nil
}

// rewrite is the ReverseProxy hook that turns the client's request into the
// backend's: same method, path encoded as S3 signs it, same query (the
// signing transport drops presign parameters), the verified body.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	ob := pr.In.Context().Value(outboundKey{}).(*outbound)
	query := pr.In.URL.RawQuery
	if ob.rq.front == frontObjects {
		query = "" // an /objects PUT is a PutObject, whatever its query says
	}
	pr.Out.URL = p.backendURL(ob.rq.bucket, ob.rq.key, query)
	pr.Out.Host = ""
	pr.Out.Body = ob.body
	pr.Out.ContentLength = ob.length
	if ob.length >= 0 {
		// A length is known (the client's, or the decoded length of an
		// aws-chunked body it sent with HTTP chunking): send it, since S3
		// wants a Content-Length and the signature covers it.
		pr.Out.TransferEncoding = nil
	}
	if ob.length == 0 {
		pr.Out.Body = http.NoBody
	}
	// The signer signs the transport's length, not this header; Expect
	// would make the backend conversation wait for a 100 Continue.
	pr.Out.Header.Del("Content-Length")
	pr.Out.Header.Del("Expect")
	if ob.rq.op.Name == "ListBuckets" && !ob.rq.who.SeesAllBuckets() {
		// The answer is filtered: it must come as plain XML.
		pr.Out.Header.Del("Accept-Encoding")
	}
}

// modifyResponse runs when the backend answered, before the client sees it.
func (p *Proxy) modifyResponse(res *http.Response) error {
	ob := res.Request.Context().Value(outboundKey{}).(*outbound)
	ob.write.End()
	res.Body = newBackendBody(res.Body, p.cfg.BackendTimeout, ob.cancel)
	stripBackendHeaders(res.Header)
	// One request id per answer: an S3 error body carries the header's.
	if err := rewriteErrorBody(res, ob.reqID); err != nil {
		return err
	}
	if ob.rq.op.Name == "ListBuckets" && !ob.rq.who.SeesAllBuckets() {
		if err := identity.FilterListBuckets(res, ob.rq.who); err != nil {
			return err
		}
	}
	if ob.xcache != "" {
		res.Header.Set("X-Cache", ob.xcache)
	}
	ob.rq.lw.source = sourceBackend // the ReverseProxy relays the body next
	// Only a failure of what the ReverseProxy relays from here on cuts the
	// answer: one while reading an error body or a listing above is the
	// ErrorHandler's, which answers it.
	res.Body = &cutRecorder{ReadCloser: res.Body, ob: ob}
	return nil
}

// cutRecorder records the first failure of the backend body the
// ReverseProxy relays, for forward to end the answer with (failBody).
type cutRecorder struct {
	io.ReadCloser
	ob *outbound
}

func (c *cutRecorder) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err != nil && err != io.EOF && c.ob.cut == nil {
		c.ob.cut = err
	}
	return n, err
}

// stripBackendHeaders removes the backend's per-request headers; the proxy
// sends its own request id.
func stripBackendHeaders(h http.Header) {
	h.Del("X-Amz-Request-Id")
	h.Del("X-Amz-Id-2")
}

// proxyError reports a failed round trip: the client's body was bad (4xx),
// the client went away (nothing written), or the backend failed (5xx).
//
// A write that failed after its whole body may have reached the backend
// has an unknown outcome: the backend may still commit it. Its fence is
// kept (settleUnknown) instead of ended, so no read stores what the key
// held before. Something is always written: a handler that writes
// nothing gets an implicit 200 from net/http, which a client that only
// half-closed would take for success.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	ob := r.Context().Value(outboundKey{}).(*outbound)
	if berr := ob.body.Err(); berr != nil {
		ob.write.End() // the upload was aborted: nothing was committed
		p.writeError(w, r, clientBodyError(berr))
		return
	}
	if ob.write != nil && ob.body.sentWhole() && mayHaveReached(err) && !(p.fenceEndsWithClient && r.Context().Err() != nil) {
		p.settleUnknown(r.Context(), ob.rq, ob.write, err)
	} else {
		ob.write.End()
	}
	if r.Context().Err() != nil {
		p.log.LogAttrs(r.Context(), slog.LevelDebug, "client went away",
			slog.String("request_id", w.Header().Get("X-Amz-Request-Id")), slog.Any("cause", err))
	}
	p.writeError(w, r, backendError(err))
}

// mayHaveReached reports whether a request that failed with err may have
// reached the backend: anything but a dial that failed.
func mayHaveReached(err error) bool {
	var oe *net.OpError
	return !(errors.As(err, &oe) && oe.Op == "dial")
}

// settleUnknown keeps the fence of a write whose outcome is unknown for
// coherence.WriteFenceTTL, the longest any replica honours a write in
// flight, as long as a backend that received it whole could still commit
// it: until then no read of what it touches is stored or shared, on any
// replica.
func (p *Proxy) settleUnknown(ctx context.Context, rq *request, f *fence, err error) {
	p.log.LogAttrs(ctx, slog.LevelWarn, "write outcome unknown; its keys stay uncacheable",
		slog.String("request_id", rq.id), slog.String("operation", rq.op.Name),
		slog.String("bucket", rq.bucket), slog.String("key", rq.key),
		slog.Duration("for", coherence.WriteFenceTTL), slog.Any("cause", err))
	p.quarantine.hold(f, coherence.WriteFenceTTL)
}

// clientBodyError maps a failure to read the client's body: the verifier's
// own errors stand; a body cut short is IncompleteBody; a body whose HTTP
// framing is broken is s3api.ErrMalformedBody, not a 500: no failure to read
// the client's bytes is the proxy's.
func clientBodyError(err error) error {
	var tooLarge *http.MaxBytesError
	var wire *clientReadError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return s3api.ErrRequestTimeout.WithCause(err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return s3api.ErrIncompleteBody.WithCause(err)
	case errors.As(err, &tooLarge):
		return s3api.ErrEntityTooLarge.WithCause(err)
	case errors.As(err, &wire):
		return s3api.ErrMalformedBody.WithCause(err)
	}
	return err
}

// bufferPool lends 128 KiB buffers to the ReverseProxy's body copies: with
// the Transport's 64 KiB read buffer, a relayed megabyte takes eight reads
// and eight writes instead of thirty-two of each.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

func (bufferPool) Get() []byte  { return *copyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }
