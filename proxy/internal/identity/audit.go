package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"time"
)

// auditErrorInterval is how often, at most, a failing audit log is
// reported in the proxy's log.
const auditErrorInterval = time.Minute

// AuditTimeFormat is the layout of AuditRecord.Time: RFC 3339 with
// milliseconds.
const AuditTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// AuditRecord is the fixed schema of an audit line, one per request. It
// holds no header value and no query string: presigned URLs carry their
// credential and signature there. The zero value is a record of nothing,
// written with every field empty.
type AuditRecord struct {
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

// AuditLog writes audit records, one JSON line each, to an io.Writer.
// Each line is written with one Write under a mutex, so lines never
// interleave. A failing writer never fails a request: the error is logged
// at most once per minute. Build it with NewAuditLog; the zero value is
// not usable. It is safe for concurrent use.
type AuditLog struct {
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	w         io.Writer
	buf       bytes.Buffer
	enc       *json.Encoder // writes to buf
	failures  int           // since the last report
	lastError time.Time     // of the last report
}

// NewAuditLog returns an AuditLog that writes to w and reports w's
// failures to log, timed by now. It does not close w.
func NewAuditLog(w io.Writer, log *slog.Logger, now func() time.Time) *AuditLog {
	a := &AuditLog{w: w, log: log, now: now}
	a.enc = json.NewEncoder(&a.buf)
	a.enc.SetEscapeHTML(false)
	return a
}

// Write writes rec as one line.
func (a *AuditLog) Write(rec *AuditRecord) {
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
func (a *AuditLog) failed(err error) {
	a.failures++
	now := a.now()
	if !a.lastError.IsZero() && now.Sub(a.lastError) < auditErrorInterval {
		return
	}
	a.log.LogAttrs(context.Background(), slog.LevelError, "audit log write failed",
		slog.Any("err", err), slog.Int("failures", a.failures))
	a.failures, a.lastError = 0, now
}
