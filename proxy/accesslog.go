package proxy

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/s3cache/s3cache/proxy/internal/identity"
)

// loggingWriter records what a handler sent — status, body bytes and
// where they came from — for the metrics, the request log and the audit
// log. Unwrap lets http.ResponseController reach the underlying writer's
// flushing and deadlines. The zero value is not usable: set
// ResponseWriter.
type loggingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	source byteSource // of the body bytes; set by the code that writes them
	// s3Named says the header's names are already S3's (copied from a
	// cache entry): WriteHeader need not look at them.
	s3Named bool
	// cut is why the backend body being relayed failed after the header
	// went out (see bodyCut); nil when it did not.
	cut error
}

func (lw *loggingWriter) WriteHeader(code int) {
	if lw.status == 0 {
		lw.status = code
		// The one place every answer's header passes: names as S3
		// spells them (see s3HeaderNames).
		if !lw.s3Named {
			s3HeaderNames(lw.ResponseWriter.Header())
		}
	}
	lw.ResponseWriter.WriteHeader(code)
}

func (lw *loggingWriter) Write(b []byte) (int, error) {
	if lw.status == 0 {
		lw.status = http.StatusOK
		if !lw.s3Named {
			s3HeaderNames(lw.ResponseWriter.Header())
		}
	}
	n, err := lw.ResponseWriter.Write(b)
	lw.bytes += int64(n)
	return n, err
}

func (lw *loggingWriter) Unwrap() http.ResponseWriter { return lw.ResponseWriter }

// sendingFrom records that the body bytes w sends from now on come from
// src: a cache entry or the backend. Bytes the proxy writes itself (error
// bodies) are counted under neither. A writer that is not the request's
// loggingWriter records nothing.
func sendingFrom(w http.ResponseWriter, src byteSource) {
	if lw, ok := w.(*loggingWriter); ok {
		lw.source = src
	}
}

// bodyCut records that the backend body w relays failed with err after
// the header went out: the response is cut short, and finishRequest logs
// it as an error. Before the header went out nothing is recorded: the
// client gets an error status instead. A writer that is not the
// request's loggingWriter records nothing.
func bodyCut(w http.ResponseWriter, err error) {
	if lw, ok := w.(*loggingWriter); ok && lw.status != 0 && lw.cut == nil {
		lw.cut = err
	}
}

// namedAsS3 records that w's header has names as S3 spells them, copied
// from a cache entry (see storedHeader), so that a hit does not look at
// them again. A writer that is not the request's loggingWriter records
// nothing.
func namedAsS3(w http.ResponseWriter) {
	if lw, ok := w.(*loggingWriter); ok {
		lw.s3Named = true
	}
}

// finishRequest counts a request that started at start in the metrics,
// and writes its log line (if the logger takes INFO) and its audit line
// (if there is an audit log).
func (p *Proxy) finishRequest(r *http.Request, rq *request, start time.Time) {
	d := time.Since(start)
	lw := &rq.lw
	xcache := ""
	if rq.op.Name == "GetObject" || rq.op.Name == "HeadObject" {
		xcache = firstValue(lw.Header(), "X-Cache") // set canonical, so no canonicalising Get
	}
	p.metrics.request(rq.front, rq.op.Name, rq.bucket, lw.status, d, xcache, lw.source, lw.bytes)
	if lw.cut != nil && r.Context().Err() == nil {
		p.logCut(r, rq)
	}
	// Nothing is formatted unless the line will be written.
	if p.log.Enabled(r.Context(), slog.LevelInfo) {
		p.logRequest(r, rq, d)
	}
	if p.auditLog != nil {
		p.audit(r, lw, rq, start)
	}
}

// logCut writes the ERROR line of a response whose backend body failed
// after its header went out, so that the client got a broken answer: its
// status line said success, and the request line does too. A client that
// went away, and so stopped the copy itself, is not logged.
func (p *Proxy) logCut(r *http.Request, rq *request) {
	lw := &rq.lw
	expected := int64(-1) // unknown
	if cl := firstValue(lw.Header(), "Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil {
			expected = n
		}
	}
	p.log.LogAttrs(r.Context(), slog.LevelError, "response cut: the backend body failed after the header was sent",
		slog.String("request_id", rq.id),
		slog.String("operation", rq.op.Name),
		slog.String("bucket", rq.bucket),
		slog.String("key", rq.key),
		slog.Int("status", lw.status),
		slog.Int64("bytes", lw.bytes),
		slog.Int64("expected", expected),
		slog.Any("cause", lw.cut))
}

// logRequest writes one INFO line per request: method, S3 operation,
// bucket, key, status, body bytes sent, X-Cache, duration and request id;
// at DEBUG the line also has the front end, the client's address, the
// principal and the body bytes received. The path's query (presigned URLs
// carry their signature there) and headers are never logged.
func (p *Proxy) logRequest(r *http.Request, rq *request, d time.Duration) {
	lw := &rq.lw
	h := lw.Header()
	attrs := make([]slog.Attr, 0, 13)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("operation", rq.op.Name),
		slog.String("bucket", rq.bucket),
		slog.String("key", rq.key),
		slog.Int("status", lw.status),
		slog.Int64("bytes", lw.bytes),
		slog.String("x_cache", firstValue(h, "X-Cache")),
		slog.Duration("duration", d),
		slog.String("request_id", firstValue(h, "X-Amz-Request-Id")))
	if p.log.Enabled(r.Context(), slog.LevelDebug) {
		var in int64
		if rq.body != nil {
			in = rq.body.n.Load()
		}
		attrs = append(attrs,
			slog.String("frontend", frontLabels[rq.front]),
			slog.String("remote", r.RemoteAddr),
			slog.String("principal", principalName(rq.who)),
			slog.Int64("bytes_in", in))
	}
	p.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// principalName names who sent a request in the logs: the access key,
// "anonymous", or "" when authentication failed.
func principalName(who *identity.Principal) string {
	switch {
	case who == nil:
		return ""
	case who.Name() == "":
		return "anonymous"
	}
	return who.Name()
}
