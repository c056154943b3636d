package s3api

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// Error is the one S3 error type of the proxy: an HTTP status, an S3 error
// code, a message and the code's own elements, all sent to the client, and
// an optional cause that is logged but never sent. Find it in a chain with
// errors.As. The zero value is not useful; build one with New, or derive
// one from a template with WithCause or WithMessage. An *Error is never
// modified once built, so it is safe for concurrent use.
type Error struct {
	Status  int    // HTTP status sent to the client
	Code    string // S3 error code, e.g. "NoSuchKey"
	Message string // human-readable message sent to the client
	Err     error  // cause, logged only; nil for none

	// fields are elements the XML body carries after Message, in order,
	// as S3 adds them to some codes (InvalidRange's RangeRequested and
	// ActualObjectSize, a region error's Region); nil for none. Shared
	// between copies, never modified.
	fields []xmlField
}

// New returns the error with status, S3 code and message, and no cause.
func New(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("s3api: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("s3api: %s: %s", e.Code, e.Message)
}

// Unwrap returns the cause, or nil.
func (e *Error) Unwrap() error { return e.Err }

// WithCause returns a copy of e whose cause is cause: the status, code,
// message and elements the client gets are e's.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// WithMessage returns a copy of e whose message is msg.
func (e *Error) WithMessage(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// withFields returns a copy of e whose body carries fields after its
// Message.
func (e *Error) withFields(fields ...xmlField) *Error {
	c := *e
	c.fields = fields
	return &c
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

// WithElement returns a copy of e whose body carries one more element,
// <name>value</name>, after those it has: as S3 names the header a
// NotImplemented is about, for one.
func (e *Error) WithElement(name, value string) *Error {
	return e.withFields(append(e.fields[:len(e.fields):len(e.fields)], field(name, value))...)
}

// InvalidRange is S3's answer to a Range that an object of size bytes
// cannot satisfy: 416 InvalidRange whose body names the range requested
// (the Range header's value) and the object's size. The caller sends the
// Content-Range "bytes */size" with it.
func InvalidRange(requested string, size int64) *Error {
	return errInvalidRange.withFields(field("RangeRequested", requested), field("ActualObjectSize", strconv.FormatInt(size, 10)))
}

// WrongRegion is S3's answer to a request signed in its Authorization
// header for region got when the server is in region want: it names the
// region expected, in the message and in a Region element, so that SDKs
// can sign again for it. WrongRegionPresigned is the answer to a
// presigned URL's.
func WrongRegion(got, want string) *Error {
	return New(http.StatusBadRequest, "AuthorizationHeaderMalformed",
		fmt.Sprintf("The authorization header is malformed; the region '%s' is wrong; expecting '%s'", got, want)).
		withFields(field("Region", want))
}

// WrongRegionPresigned is WrongRegion for a presigned URL, whose
// credential is a query parameter: S3 names the error after that.
func WrongRegionPresigned(got, want string) *Error {
	return New(http.StatusBadRequest, "AuthorizationQueryParametersError",
		fmt.Sprintf("Error parsing the X-Amz-Credential parameter; the region '%s' is wrong; expecting '%s'", got, want)).
		withFields(field("Region", want))
}

// Write writes e as S3 sends an error: the status, Content-Type
// application/xml, requestID in X-Amz-Request-Id and in the body's
// RequestId (unless empty), and the XML body (none for HEAD); the
// Content-Length, ETag and Last-Modified headers of an answer prepared
// before the error are dropped. It is the one place an error body is
// written; resource, the request's path, may be empty. It does not log:
// the caller does, as it knows the request.
func Write(w http.ResponseWriter, method, resource string, e *Error, requestID string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Del("ETag")
	delete(h, "ETag") // as S3 spells it, which is not Go's canonical "Etag"
	h.Del("Last-Modified")
	h.Set("Content-Type", "application/xml")
	if requestID != "" {
		h.Set("X-Amz-Request-Id", requestID)
	}
	if method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	w.WriteHeader(e.Status)
	w.Write(appendErrorDocument(make([]byte, 0, 512), e, resource, requestID))
}

// appendErrorDocument appends the XML declaration and the <Error>
// document of e: Code, Message, e's own elements, Resource (unless
// empty) and RequestId. Text is escaped as S3 escapes it, only &, < and >
// (encoding/xml would also escape the apostrophes S3's messages quote
// values with); a character XML cannot carry becomes U+FFFD, as
// encoding/xml makes it.
func appendErrorDocument(b []byte, e *Error, resource, requestID string) []byte {
	b = append(b, xml.Header...)
	b = append(b, "<Error>"...)
	b = appendElement(b, "Code", e.Code)
	b = appendElement(b, "Message", e.Message)
	for _, f := range e.fields {
		b = appendElement(b, f.XMLName.Local, f.Value)
	}
	if resource != "" {
		b = appendElement(b, "Resource", resource)
	}
	b = appendElement(b, "RequestId", requestID)
	return append(b, "</Error>"...)
}

// appendElement appends <name>text</name>; name is one of the package's.
func appendElement(b []byte, name, text string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	for _, r := range text {
		switch {
		case r == '&':
			b = append(b, "&amp;"...)
		case r == '<':
			b = append(b, "&lt;"...)
		case r == '>':
			b = append(b, "&gt;"...)
		case r == '\r':
			b = append(b, "&#xD;"...)
		case r == 0x09 || r == 0x0A || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF:
			b = utf8.AppendRune(b, r)
		default:
			b = utf8.AppendRune(b, '\uFFFD')
		}
	}
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}
