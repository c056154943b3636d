package leanhttp

import (
	"io"
	"net/http"
)

// Refusal is why the server refuses a request head, before any handler
// runs, in the words S3 uses for it. The zero value is not a refusal the
// server makes.
type Refusal struct {
	Status  int    // HTTP status: 400, 408, 417, 501 or 505
	Code    string // S3 error code, e.g. "BadRequest"
	Message string // S3's message for Code
	// Header names the request header the refusal is about, which S3
	// sends in a Header element (501 NotImplemented for a
	// Transfer-Encoding); "" for none.
	Header string
	// RequestID identifies the answer, unique within the Server; it is
	// logged with the refusal.
	RequestID string
	// Err is the cause, for the log only; nil for none.
	Err error
}

// The refusals the server makes (head.go, server.go). Each is a template:
// the server copies one and adds a request id and a cause.
var (
	refuseHeadTooLarge = Refusal{Status: http.StatusBadRequest, Code: "RequestHeaderSectionTooLarge", Message: "Your request header section exceeds the maximum allowed size."}
	refuseHeadTimeout  = Refusal{Status: http.StatusRequestTimeout, Code: "RequestTimeout", Message: "Your socket connection to the server was not read from or written to within the timeout period."}
	refuseMalformed    = Refusal{Status: http.StatusBadRequest, Code: "BadRequest", Message: "An error occurred when parsing the HTTP request."}
	refuseHTTPVersion  = Refusal{Status: http.StatusHTTPVersionNotSupported, Code: "HttpVersionNotSupported", Message: "The HTTP version specified is not supported."}
	refuseExpectation  = Refusal{Status: http.StatusExpectationFailed, Code: "ExpectationFailed", Message: "The Expect header you provided is not supported."}
	refuseTransferCode = Refusal{Status: http.StatusNotImplemented, Code: "NotImplemented", Message: "A header you provided implies functionality that is not implemented", Header: "Transfer-Encoding"}
)

// withCause returns a copy of tmpl with cause as its Err.
func withCause(tmpl *Refusal, cause error) *Refusal {
	r := *tmpl
	r.Err = cause
	return &r
}

// refusePlain is the answer to a refused head when Server.Refuse is nil:
// the status, and "Code: Message" as plain text.
func refusePlain(w http.ResponseWriter, method string, r Refusal) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(r.Status)
	if method != http.MethodHead {
		io.WriteString(w, r.Code+": "+r.Message+"\n")
	}
}
