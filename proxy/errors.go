package proxy

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"

	"github.com/s3cache/s3cache/sigv4"
)

// Error is the one S3 error type of the proxy: an HTTP status, an S3 error
// code, a message and the code's own elements, all sent to the client, and
// an optional cause that is logged but never sent. The zero value is not
// useful; build one with newError.
type Error struct {
	Status  int    // HTTP status sent to the client
	Code    string // S3 error code, e.g. "NoSuchKey"
	Message string // human-readable message sent to the client
	Err     error  // cause, logged only

	// fields are elements the XML body carries after Message, in order,
	// as S3 adds them to some codes (InvalidRange's RangeRequested and
	// ActualObjectSize, a region error's Region); nil for none. Shared
	// between copies, never modified.
	fields []xmlField
}

func newError(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("proxy: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("proxy: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errors the handlers return. Each is a template: wrap it with withCause
// rather than mutating it.
var (
	errNoSuchKey         = newError(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
	errInvalidBucketName = newError(http.StatusBadRequest, "InvalidBucketName", "The specified bucket is not valid.")
	errReservedBucket    = newError(http.StatusBadRequest, "InvalidBucketName", "The bucket name \"objects\" is reserved for the /objects API of this proxy; use it through /objects/objects/{key} or virtual-hosted style.")
	errMethodNotAllowed  = newError(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	errMissingLength     = newError(http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")
	errNotFound          = newError(http.StatusNotFound, "NotFound", "Not found.")
	errInternal          = newError(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	errUnavailable       = newError(http.StatusServiceUnavailable, "ServiceUnavailable", "The storage backend is unreachable. Please try again.")
	errGatewayTimeout    = newError(http.StatusGatewayTimeout, "GatewayTimeout", "The storage backend did not answer in time.")
	errBadGateway        = newError(http.StatusBadGateway, "BadGateway", "The storage backend failed to answer.")
	errRequestTimeout    = newError(http.StatusBadRequest, "RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.")
	errIncompleteBody    = newError(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	errEntityTooLarge    = newError(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
	errMalformedBody     = newError(http.StatusBadRequest, "IncompleteBody", "The request body could not be read: its HTTP framing is malformed.")
	// errInvalidRange is sent by writeInvalidRange.
	errInvalidRange       = newError(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable")
	errPreconditionFailed = newError(http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
)

// Errors the router answers before any handler runs: an HTTP/2 head over
// leanhttp.MaxHeadBytes, as the lean loop refuses an HTTP/1 one.
var (
	errHeadTooLarge = newError(http.StatusBadRequest, "RequestHeaderSectionTooLarge", "Your request header section exceeds the maximum allowed size.")
)

func withCause(tmpl *Error, cause error) *Error {
	e := *tmpl
	e.Err = cause
	return &e
}

// sigv4Errors maps the verifier's sentinel errors to S3 errors.
var sigv4Errors = []struct {
	sentinel error
	tmpl     *Error
}{
	{sigv4.ErrMissingAuth, newError(http.StatusForbidden, "AccessDenied", "Access Denied.")},
	{sigv4.ErrMalformedAuth, newError(http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed.")},
	{sigv4.ErrInvalidAccessKeyID, newError(http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")},
	{sigv4.ErrSignatureMismatch, newError(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")},
	{sigv4.ErrRequestExpired, newError(http.StatusForbidden, "AccessDenied", "Request has expired")},
	{sigv4.ErrTimeSkewed, newError(http.StatusForbidden, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")},
	{sigv4.ErrSignatureV2, newError(http.StatusBadRequest, "InvalidRequest", "Signature Version 2 is not supported by this proxy; sign requests with AWS Signature Version 4.")},
	{sigv4.ErrSecurityToken, newError(http.StatusForbidden, "InvalidToken", "Session tokens are not supported by this proxy.")},
	{sigv4.ErrMalformedChunk, newError(http.StatusBadRequest, "IncompleteBody", "The aws-chunked body is malformed.")},
	{sigv4.ErrIncompleteBody, errIncompleteBody},
	{sigv4.ErrBodyTooLong, newError(http.StatusBadRequest, "IncompleteBody", "The request body is longer than the Content-Length HTTP header says.")},
	{sigv4.ErrContentSHA256Mismatch, newError(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")},
	{sigv4.ErrChecksumMismatch, newError(http.StatusBadRequest, "BadDigest", "The checksum you specified did not match what we received.")},
	{sigv4.ErrMissingContentLength, errMissingLength},
	{sigv4.ErrMissingContentSHA256, newError(http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256.")},
	{sigv4.ErrUnsupportedPayload, newError(http.StatusBadRequest, "InvalidArgument", "The x-amz-content-sha256 header value is not supported.")},
}

// regionError is S3's answer to a request signed for another region: it
// names the region expected, in the message and in a Region element, so
// that SDKs can sign again for it. A presigned URL's credential is a
// query parameter, and S3 names the error after that.
func regionError(re *sigv4.RegionError) *Error {
	e := &Error{Status: http.StatusBadRequest, Code: "AuthorizationHeaderMalformed",
		Message: fmt.Sprintf("The authorization header is malformed; the region '%s' is wrong; expecting '%s'", re.Got, re.Want),
		Err:     re, fields: []xmlField{field("Region", re.Want)}}
	if re.Presigned {
		e.Code = "AuthorizationQueryParametersError"
		e.Message = fmt.Sprintf("Error parsing the X-Amz-Credential parameter; the region '%s' is wrong; expecting '%s'", re.Got, re.Want)
	}
	return e
}

// toS3Error turns any error into the S3 error sent to the client.
// Unknown errors become 500 InternalError; their text is logged, never sent.
func toS3Error(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var re *sigv4.RegionError
	if errors.As(err, &re) {
		return regionError(re)
	}
	for _, m := range sigv4Errors {
		if errors.Is(err, m.sentinel) {
			return withCause(m.tmpl, err)
		}
	}
	return withCause(errInternal, err)
}

// backendError classifies a failed backend round trip: unreachable → 503,
// timed out → 504, anything else → 502.
func backendError(err error) *Error {
	return withCause(backendFailure(err), err)
}

// backendFailure returns the template of backendError's answer to err:
// errUnavailable, errGatewayTimeout or errBadGateway.
func backendFailure(err error) *Error {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return errUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errGatewayTimeout
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return errUnavailable
	}
	return errBadGateway
}

// withFields returns a copy of tmpl whose body carries fields after its
// Message.
func withFields(tmpl *Error, fields ...xmlField) *Error {
	e := *tmpl
	e.fields = fields
	return &e
}

// xmlField is one element of an S3 error body beyond Code and Message.
type xmlField struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// field returns the element <name>value</name>.
func field(name, value string) xmlField {
	return xmlField{XMLName: xml.Name{Local: name}, Value: value}
}

type xmlError struct {
	XMLName   xml.Name   `xml:"Error"`
	Code      string     `xml:"Code"`
	Message   string     `xml:"Message"`
	Fields    []xmlField `xml:",any"`
	Resource  string     `xml:"Resource,omitempty"`
	RequestID string     `xml:"RequestId"`
}

// writeError is the one writer of S3 errors. It logs the cause of server
// errors and sends an XML body (none for HEAD). An HTTP/1 answer to a
// request whose body was not read to its end closes the connection, as
// S3's does.
func (p *Proxy) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := toS3Error(err)
	reqID := w.Header().Get("X-Amz-Request-Id")
	level := slog.LevelDebug
	if e.Status >= 500 && e != errSlowDown { // refusing a busy client is no server failure
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
	sendError(w, r.Method, r.URL.Path, e, reqID)
}

// sendError writes e as S3 sends an error: the status, Content-Type
// application/xml, reqID in X-Amz-Request-Id and in the body's RequestId
// (unless empty), and the XML body (none for HEAD). It is the one place
// an error body is written; resource may be empty.
func sendError(w http.ResponseWriter, method, resource string, e *Error, reqID string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Del("ETag")
	delete(h, etagS3)
	h.Del("Last-Modified")
	h.Set("Content-Type", "application/xml")
	if reqID != "" {
		h.Set("X-Amz-Request-Id", reqID)
	}
	if method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	body, _ := xml.Marshal(xmlError{Code: e.Code, Message: e.Message, Fields: e.fields, Resource: resource, RequestID: reqID})
	w.WriteHeader(e.Status)
	w.Write([]byte(xml.Header))
	w.Write(body)
}

// writeInvalidRange answers a Range that an object of size bytes cannot
// satisfy as S3 does: 416 InvalidRange with a Content-Range of
// "bytes */size" and the RangeRequested and ActualObjectSize elements.
// xcache is the X-Cache value to send.
func (p *Proxy) writeInvalidRange(w http.ResponseWriter, r *http.Request, spec string, size int64, xcache string) {
	h := w.Header()
	n := strconv.FormatInt(size, 10)
	h.Set("X-Cache", xcache)
	h.Set("Content-Range", "bytes */"+n)
	p.writeError(w, r, withFields(errInvalidRange, field("RangeRequested", spec), field("ActualObjectSize", n)))
}
