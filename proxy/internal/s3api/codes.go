package s3api

import "net/http"

// The errors the proxy answers with. Each is a template, shared by every
// request: derive a copy with WithCause or WithMessage rather than
// modifying it. The proxy compares some by identity (ErrSlowDown,
// ErrUnavailable, ErrGatewayTimeout), so it returns them as they are when
// there is no cause to add.
var (
	ErrNoSuchKey         = New(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
	ErrInvalidBucketName = New(http.StatusBadRequest, "InvalidBucketName", "The specified bucket is not valid.")
	ErrMethodNotAllowed  = New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	ErrMissingLength     = New(http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")
	ErrNotFound          = New(http.StatusNotFound, "NotFound", "Not found.")
	ErrAccessDenied      = New(http.StatusForbidden, "AccessDenied", "Access Denied.")
	// ErrSlowDown is the answer to a request over its principal's rate
	// limit; S3 answers 503 SlowDown, which SDKs retry with backoff.
	ErrSlowDown           = New(http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
	ErrInternal           = New(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	ErrUnavailable        = New(http.StatusServiceUnavailable, "ServiceUnavailable", "The storage backend is unreachable. Please try again.")
	ErrGatewayTimeout     = New(http.StatusGatewayTimeout, "GatewayTimeout", "The storage backend did not answer in time.")
	ErrBadGateway         = New(http.StatusBadGateway, "BadGateway", "The storage backend failed to answer.")
	ErrRequestTimeout     = New(http.StatusBadRequest, "RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.")
	ErrIncompleteBody     = New(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	ErrEntityTooLarge     = New(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
	ErrMalformedBody      = New(http.StatusBadRequest, "IncompleteBody", "The request body could not be read: its HTTP framing is malformed.")
	ErrPreconditionFailed = New(http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")

	// errInvalidRange is sent through InvalidRange, which adds the
	// elements S3 sends with it.
	errInvalidRange = New(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable")
)

// ErrHeadTooLarge is the answer to an HTTP/2 request head over the size
// the lean HTTP/1 server (internal/leanhttp) refuses an HTTP/1 one for,
// in the same words.
var ErrHeadTooLarge = New(http.StatusBadRequest, "RequestHeaderSectionTooLarge", "Your request header section exceeds the maximum allowed size.")
