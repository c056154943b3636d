package proxy

import (
	"net/http"

	"github.com/s3cache/s3cache/proxy/internal/leanhttp"
	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// NewServer returns the proxy's front end as s3cache runs it: the lean
// HTTP/1.1 loop serving p, handing what it does not serve itself to
// fallback, and refusing bad request heads with the proxy's S3 errors.
// fallback's Handler is set to p if nil; if fallback is nil, a net/http
// server with its zero settings is used. Set TLSConfig and WriteTimeout
// on the result before Serve.
func NewServer(p *Proxy, fallback *http.Server) *leanhttp.Server {
	if fallback == nil {
		fallback = &http.Server{}
	}
	if fallback.Handler == nil {
		fallback.Handler = p
	}
	return &leanhttp.Server{Handler: p, Fallback: fallback, Refuse: refuseHead, Logger: p.log, Inline: p.answersAtOnce}
}

// refuseHead answers a request head the lean loop refuses, as S3 does:
// through s3api.Write, with the refusal's request id in X-Amz-Request-Id
// and in the body's RequestId.
func refuseHead(w http.ResponseWriter, method string, r leanhttp.Refusal) {
	e := s3api.New(r.Status, r.Code, r.Message).WithCause(r.Err)
	if r.Header != "" {
		e = e.WithElement("Header", r.Header)
	}
	s3api.Write(w, method, "", e, r.RequestID)
}
