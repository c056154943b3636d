package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
	"github.com/s3cache/s3cache/sigv4"
)

// sigv4Errors maps the verifier's sentinel errors to S3 errors.
var sigv4Errors = []struct {
	sentinel error
	tmpl     *s3api.Error
}{
	{sigv4.ErrMissingAuth, s3api.ErrAccessDenied},
	{sigv4.ErrMalformedPresign, s3api.New(http.StatusBadRequest, "AuthorizationQueryParametersError", "Error parsing the X-Amz-* query parameters of the presigned URL.")},
	{sigv4.ErrMalformedAuth, s3api.New(http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed.")},
	{sigv4.ErrInvalidAccessKeyID, s3api.New(http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")},
	{sigv4.ErrSignatureMismatch, errSignatureMismatch},
	{sigv4.ErrRequestExpired, s3api.New(http.StatusForbidden, "AccessDenied", "Request has expired")},
	{sigv4.ErrTimeSkewed, s3api.New(http.StatusForbidden, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")},
	{sigv4.ErrSignatureV2, s3api.New(http.StatusBadRequest, "InvalidRequest", "Signature Version 2 is not supported by this proxy; sign requests with AWS Signature Version 4.")},
	{sigv4.ErrSecurityToken, s3api.New(http.StatusForbidden, "InvalidToken", "Session tokens are not supported by this proxy.")},
	{sigv4.ErrMalformedChunk, s3api.New(http.StatusBadRequest, "IncompleteBody", "The aws-chunked body is malformed.")},
	{sigv4.ErrIncompleteBody, s3api.ErrIncompleteBody},
	{sigv4.ErrBodyTooLong, s3api.New(http.StatusBadRequest, "IncompleteBody", "The request body is longer than the Content-Length HTTP header says.")},
	{sigv4.ErrContentSHA256Mismatch, s3api.New(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")},
	{sigv4.ErrChecksumMismatch, s3api.New(http.StatusBadRequest, "BadDigest", "The checksum you specified did not match what we received.")},
	{sigv4.ErrMissingContentLength, s3api.ErrMissingLength},
	{sigv4.ErrMissingContentSHA256, s3api.New(http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256.")},
	{sigv4.ErrUnsupportedPayload, s3api.New(http.StatusBadRequest, "InvalidArgument", "The x-amz-content-sha256 header value is not supported.")},
}

// regionError is S3's answer to a request signed for another region.
func regionError(re *sigv4.RegionError) *s3api.Error {
	if re.Presigned {
		return s3api.WrongRegionPresigned(re.Got, re.Want).WithCause(re)
	}
	return s3api.WrongRegion(re.Got, re.Want).WithCause(re)
}

// errSignatureMismatch is the answer to a request whose signature is
// wrong.
var errSignatureMismatch = s3api.New(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")

// signatureError is S3's SignatureDoesNotMatch for a request's signature:
// its body carries what the proxy signed (the string to sign and the
// canonical request, as text and as bytes), so that a client can find
// where its own differs, as from S3.
func signatureError(se *sigv4.SignatureError) *s3api.Error {
	return errSignatureMismatch.
		WithElement("AWSAccessKeyId", se.AccessKey).
		WithElement("StringToSign", se.StringToSign).
		WithElement("SignatureProvided", se.Provided).
		WithElement("StringToSignBytes", spacedHex(se.StringToSign)).
		WithElement("CanonicalRequest", se.CanonicalRequest).
		WithElement("CanonicalRequestBytes", spacedHex(se.CanonicalRequest))
}

// spacedHex returns s's bytes in hex, two digits each, separated by
// spaces, as S3 writes StringToSignBytes.
func spacedHex(s string) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 3*len(s))
	for i := 0; i < len(s); i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, digits[s[i]>>4], digits[s[i]&0xf])
	}
	return string(b)
}

// toS3Error turns any error into the S3 error sent to the client.
// Unknown errors become 500 InternalError; their text is logged, never sent.
func toS3Error(err error) *s3api.Error {
	var e *s3api.Error
	if errors.As(err, &e) {
		return e
	}
	var re *sigv4.RegionError
	if errors.As(err, &re) {
		return regionError(re)
	}
	var se *sigv4.SignatureError
	if errors.As(err, &se) {
		return signatureError(se).WithCause(err)
	}
	for _, m := range sigv4Errors {
		if errors.Is(err, m.sentinel) {
			return m.tmpl.WithCause(err)
		}
	}
	return s3api.ErrInternal.WithCause(err)
}

// backendError classifies a failed backend round trip: unreachable → 503,
// timed out → 504, anything else → 502.
func backendError(err error) *s3api.Error {
	return backendFailure(err).WithCause(err)
}

// backendFailure returns the template of backendError's answer to err:
// s3api.ErrUnavailable, ErrGatewayTimeout or ErrBadGateway.
func backendFailure(err error) *s3api.Error {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return s3api.ErrUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return s3api.ErrGatewayTimeout
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return s3api.ErrUnavailable
	}
	return s3api.ErrBadGateway
}

// writeError answers r with err as an S3 error (toS3Error): it logs it,
// with its cause, at WARN for server errors and DEBUG for the client's,
// and sends it with s3api.Write, the one writer of error bodies. An
// HTTP/1 answer to a request whose body was not read to its end closes
// the connection, as S3's does.
func (p *Proxy) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := toS3Error(err)
	reqID := w.Header().Get("X-Amz-Request-Id")
	level := slog.LevelDebug
	if e.Status >= 500 && e != s3api.ErrSlowDown { // refusing a busy client is no server failure
		level = slog.LevelWarn
	}
	p.log.LogAttrs(r.Context(), level, "request failed",
		slog.String("request_id", reqID), slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.Int("status", e.Status),
		slog.String("code", e.Code), slog.Any("cause", e.Err))
	if r.ProtoMajor == 1 && unread(r) {
		// The body is refused: the connection closes after the answer.
		// Else net/http would read up to 256 KiB of it before answering,
		// and wait for a chunk that never comes.
		w.Header().Set("Connection", "close")
	}
	s3api.Write(w, r.Method, r.URL.Path, e, reqID)
}

// writeInvalidRange answers a Range that an object of size bytes cannot
// satisfy as S3 does: 416 InvalidRange with a Content-Range of
// "bytes */size" and the RangeRequested and ActualObjectSize elements.
// xcache is the X-Cache value to send.
func (p *Proxy) writeInvalidRange(w http.ResponseWriter, r *http.Request, spec string, size int64, xcache string) {
	h := w.Header()
	h.Set("X-Cache", xcache)
	h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
	p.writeError(w, r, s3api.InvalidRange(spec, size))
}
