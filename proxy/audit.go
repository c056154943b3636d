package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// auditErrorInterval is how often, at most, a failing audit log is
// reported in the proxy's log.
const auditErrorInterval = time.Minute

// auditTimeFormat is RFC 3339 with milliseconds.
const auditTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// auditRecord is the fixed schema of an audit line. It holds no header
// value and no query string: presigned URLs carry their credential and
// signature there.
type auditRecord struct {
	Time      string  `json:"time"`
	RequestID string  `json:"request_id"`
	Principal string  `json:"principal"` // access key, "anonymous", or "" when authentication failed
	SourceIP  string  `json:"source_ip"`
	Operation string  `json:"operation"` // S3 operation name; "" when the request was refused before classification
	Bucket    string  `json:"bucket"`
	Key       string  `json:"key"`
	Status    int     `json:"status"` // 0 when nothing was sent (client gone)
	BytesIn   int64   `json:"bytes_in"`
	BytesOut  int64   `json:"bytes_out"`
	Cache     string  `json:"cache"`
	LatencyMS float64 `json:"latency_ms"`
}

// auditLog writes audit records, one JSON line each, to w. Each line is
// written with one Write under a mutex, so lines never interleave. A
// failing writer never fails a request: the error is logged at most once
// per auditErrorInterval. It is safe for concurrent use.
type auditLog struct {
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	w         io.Writer
	buf       bytes.Buffer
	enc       *json.Encoder // writes to buf
	failures  int           // since the last report
	lastError time.Time     // of the last report
}

func newAuditLog(w io.Writer, log *slog.Logger, now func() time.Time) *auditLog {
	a := &auditLog{w: w, log: log, now: now}
	a.enc = json.NewEncoder(&a.buf)
	a.enc.SetEscapeHTML(false)
	return a
}

// write writes rec as one line.
func (a *auditLog) write(rec *auditRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.buf.Reset()
	if err := a.enc.Encode(rec); err != nil { // cannot happen with this schema
		a.failed(err)
		return
	}
	if _, err := a.w.Write(a.buf.Bytes()); err != nil {
		a.failed(err)
	}
}

// failed reports a write error, at most once per auditErrorInterval.
// a.mu is held.
func (a *auditLog) failed(err error) {
	a.failures++
	now := a.now()
	if !a.lastError.IsZero() && now.Sub(a.lastError) < auditErrorInterval {
		return
	}
	a.log.LogAttrs(context.Background(), slog.LevelError, "audit log write failed",
		slog.Any("err", err), slog.Int("failures", a.failures))
	a.failures, a.lastError = 0, now
}

// audit writes the audit line of a finished request that arrived at start.
func (p *Proxy) audit(r *http.Request, lw *loggingWriter, rq *request, start time.Time) {
	rec := auditRecord{
		Time:      start.UTC().Format(auditTimeFormat),
		RequestID: lw.Header().Get("X-Amz-Request-Id"),
		Principal: principalName(rq.who),
		SourceIP:  clientIP(r.RemoteAddr),
		Operation: rq.op.Name,
		Bucket:    rq.bucket,
		Key:       rq.key,
		Status:    lw.status,
		BytesOut:  lw.bytes,
		Cache:     lw.Header().Get("X-Cache"),
		LatencyMS: float64(time.Since(start).Microseconds()) / 1000,
	}
	if rq.body != nil {
		rec.BytesIn = rq.body.n.Load()
	}
	p.auditLog.write(&rec)
}
