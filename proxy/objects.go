package proxy

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// serveObjects is the simple object API, /objects/{bucket}/{key...}:
// GET and HEAD share the cache with the S3 front end; PUT goes to the
// backend as a native PutObject, DELETE through minio-go, each fencing the
// key while it is in flight.
func (p *Proxy) serveObjects(w http.ResponseWriter, r *http.Request, rq *request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		p.serveRead(w, r, rq)
	case http.MethodPut:
		p.putObject(w, r, rq)
	case http.MethodDelete:
		p.deleteObject(w, r, rq)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, DELETE")
		p.writeError(w, r, s3api.ErrMethodNotAllowed)
	}
}

// objectsOperation is the S3 operation of an /objects request; a method
// the API does not have is "Unknown", a write.
func objectsOperation(method string) s3api.Operation {
	switch method {
	case http.MethodGet:
		return s3api.Operation{Name: "GetObject"}
	case http.MethodHead:
		return s3api.Operation{Name: "HeadObject"}
	case http.MethodPut:
		return s3api.Operation{Name: "PutObject", Write: true, Effect: s3api.EffectKey}
	case http.MethodDelete:
		return s3api.Operation{Name: "DeleteObject", Write: true, Effect: s3api.EffectKey}
	}
	return s3api.Operation{Name: "Unknown", Write: true, Effect: s3api.EffectKey}
}

// putObject stores the request body with its Content-* headers and
// x-amz-meta-* metadata, as a native PutObject of the same key: streamed,
// framed so that a cut upload never commits, fenced until the backend
// answered. It answers only once the backend acknowledged the object. A
// body without a declared length never gets here (see ServeHTTP).
func (p *Proxy) putObject(w http.ResponseWriter, r *http.Request, rq *request) {
	p.forward(w, r, rq, "")
}

// deleteObject removes the object (or the version named by ?versionId).
func (p *Proxy) deleteObject(w http.ResponseWriter, r *http.Request, rq *request) {
	write := p.beginKeyWrite(r.Context(), rq)
	// Awaited even if the client leaves: the fence holds until the
	// backend answered (see forward).
	ctx := withBackendCall(context.WithoutCancel(r.Context()), &backendCall{op: rq.op.Name, reqID: rq.id})
	err := p.minio.RemoveObject(ctx, rq.bucket, rq.key, minio.RemoveObjectOptions{
		VersionID: r.URL.Query().Get("versionId"),
	})
	if err != nil && minio.ToErrorResponse(err).StatusCode == 0 && mayHaveReached(err) {
		p.settleUnknown(r.Context(), rq, write, err) // no answer: it may have been done
	}
	write.End()
	if err != nil {
		p.writeError(w, r, p.minioError(r, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// beginKeyWrite fences the request's key for an /objects write.
func (p *Proxy) beginKeyWrite(ctx context.Context, rq *request) *fence {
	if p.skipInvalidation {
		return nil
	}
	return p.beginWrite(ctx, rq.bucket, []string{rq.key}, false)
}

// minioError relays an S3 error the backend returned as received, and maps
// a failure to reach it as any other backend failure.
func (p *Proxy) minioError(r *http.Request, err error) error {
	if resp := minio.ToErrorResponse(err); resp.StatusCode != 0 && resp.Code != "" {
		return &s3api.Error{Status: resp.StatusCode, Code: resp.Code, Message: resp.Message, Err: err}
	}
	return backendError(err)
}

// escapeQuery escapes a query value the way S3 signs it (space as %20).
func escapeQuery(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
