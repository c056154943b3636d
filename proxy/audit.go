package proxy

import (
	"net/http"
	"time"

	"github.com/s3cache/s3cache/proxy/internal/identity"
)

// audit writes the audit line of a finished request that arrived at start
// (the writer is internal/identity's AuditLog).
func (p *Proxy) audit(r *http.Request, lw *loggingWriter, rq *request, start time.Time) {
	rec := identity.AuditRecord{
		Time:      start.UTC().Format(identity.AuditTimeFormat),
		RequestID: lw.Header().Get("X-Amz-Request-Id"),
		Principal: principalName(rq.who),
		SourceIP:  identity.ClientIP(r.RemoteAddr),
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
	p.auditLog.Write(&rec)
}
