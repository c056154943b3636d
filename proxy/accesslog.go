package proxy

import (
	"log/slog"
	"net/http"
	"time"
)

// loggingWriter records what a handler sent, for the debug request log and
// the audit log. Unwrap
// lets http.ResponseController reach the underlying writer's flushing.
type loggingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (lw *loggingWriter) WriteHeader(code int) {
	if lw.status == 0 {
		lw.status = code
	}
	lw.ResponseWriter.WriteHeader(code)
}

func (lw *loggingWriter) Write(b []byte) (int, error) {
	if lw.status == 0 {
		lw.status = http.StatusOK
	}
	n, err := lw.ResponseWriter.Write(b)
	lw.bytes += int64(n)
	return n, err
}

func (lw *loggingWriter) Unwrap() http.ResponseWriter { return lw.ResponseWriter }

// finishRequest writes the debug line (if debug) and the audit line (if
// there is an audit log) of a request that started at start.
func (p *Proxy) finishRequest(r *http.Request, lw *loggingWriter, rq *request, debug bool, start time.Time) {
	if debug {
		p.logRequest(r, lw, rq, start)
	}
	if p.auditLog != nil {
		p.audit(r, lw, rq, start)
	}
}

// logRequest writes one debug line per request, named by its S3 operation.
// Only the path is logged, never the query (presigned URLs carry their
// signature there) nor any header.
func (p *Proxy) logRequest(r *http.Request, lw *loggingWriter, rq *request, start time.Time) {
	p.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
		slog.String("request_id", lw.Header().Get("X-Amz-Request-Id")),
		slog.String("method", r.Method),
		slog.String("operation", rq.op.Name),
		slog.String("bucket", rq.bucket),
		slog.String("key", rq.key),
		slog.Int("status", lw.status),
		slog.Int64("bytes_out", lw.bytes),
		slog.String("x_cache", lw.Header().Get("X-Cache")),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", r.RemoteAddr))
}
