package proxy

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// backendCall tells the metered transport which client operation the
// backend requests made with a context serve, and which client body they
// forward, if any. Pass-through requests need none: the transport reads
// the same from their outbound. The zero value is a call of operation
// "" (counted as Unknown) without a body.
type backendCall struct {
	op    string
	body  *errRecorder // nil without a client body
	reqID string       // the client request's id, for logs; "" for none
	once  bool         // never sent again when its connection broke (see retryTransport)
}

type backendCallKey struct{}

// withBackendCall returns ctx carrying bc for the metered transport.
func withBackendCall(ctx context.Context, bc *backendCall) context.Context {
	return context.WithValue(ctx, backendCallKey{}, bc)
}

// Backend calls without a client body or a request id, shared by every
// request that has none.
var (
	getObjectCall   = &backendCall{op: "GetObject"}               // block fetches and warm-up
	listBucketsCall = &backendCall{op: "ListBuckets", once: true} // readiness checks
)

// getObjectCallFor is the backend call of a GET that fills or revalidates
// rq's object: getObjectCall, with rq's request id when it has one.
func getObjectCallFor(rq *request) *backendCall {
	if rq.id == "" {
		return getObjectCall
	}
	return &backendCall{op: "GetObject", reqID: rq.id}
}

// backendCallOf returns the operation and the client body of a backend
// request made with ctx; "Unknown" and nil when ctx says nothing.
func backendCallOf(ctx context.Context) (op string, body *errRecorder) {
	if ob, ok := ctx.Value(outboundKey{}).(*outbound); ok {
		return ob.rq.op.Name, ob.body
	}
	if bc, ok := ctx.Value(backendCallKey{}).(*backendCall); ok {
		return bc.op, bc.body
	}
	return opUnknown, nil
}

// meteredTransport counts and times every request to the backend, under
// the signing transport and minio-go, so that fills, revalidations,
// pass-through, /objects writes and readiness checks are all counted, each
// attempt once (minio-go's retries included): a response in
// s3cache_backend_requests_total and
// s3cache_backend_request_duration_seconds (time to its headers), a
// failure in s3cache_backend_errors_total. A request is counted under
// the operation of the client request it serves: the parts of an
// /objects upload that minio-go sends as a multipart upload are PutObject.
// Failures that are not the backend's — the client went away, or its
// body could not be read — are not counted. The zero value is not usable:
// set next and metrics. It is safe for concurrent use.
type meteredTransport struct {
	next    http.RoundTripper
	metrics *metrics
}

func (t *meteredTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	op, body := backendCallOf(ctx)
	start := time.Now()
	res, err := t.next.RoundTrip(req)
	if err == nil {
		t.metrics.backendResponse(op, res.StatusCode, time.Since(start))
		return res, nil
	}
	if !errors.Is(ctx.Err(), context.Canceled) && (body == nil || body.Err() == nil) {
		t.metrics.backendFailure(op, err)
	}
	return nil, err
}
