package proxy

import (
	"bytes"
	"encoding/xml"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// S3 sends one request id per request, in the X-Amz-Request-Id header and
// in the RequestId element of an error body, and clients compare them
// (ceph/s3-tests test_object_requestid_matches_header_on_error). The
// proxy's id is the one in the header of every answer (the backend's is
// dropped with its per-request headers), so an S3 error body the backend
// sends is relayed with that id as its RequestId: read whole, which is
// cheap, since error bodies are a few hundred bytes; bodies over
// maxErrorBody, compressed ones and those of successful answers stream
// through untouched.

// maxErrorBody bounds the backend error bodies whose RequestId is
// rewritten.
const maxErrorBody = 16 << 10

// relaysErrorBody reports whether a backend answer may carry an S3 error
// body to relay with the proxy's request id: an error or redirect status
// (S3 sends its <Error> bodies with both; a 304 has no body), an XML or
// missing Content-Type, no Content-Encoding, and a length that is unknown
// (-1) or at most maxErrorBody.
func relaysErrorBody(status int, h http.Header, length int64) bool {
	if status < 300 || status == http.StatusNotModified || length > maxErrorBody || h.Get("Content-Encoding") != "" {
		return false
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/xml" || mt == "text/xml")
}

// rewriteErrorBody replaces the body of res, a backend answer, by a copy
// whose RequestId is id when relaysErrorBody says it may be an S3 error,
// and corrects its length. A body found longer than maxErrorBody is left
// to stream as it came; an error reading the body is returned. With id ""
// (a request of the proxy's own) it does nothing.
func rewriteErrorBody(res *http.Response, id string) error {
	if id == "" || res.Request != nil && res.Request.Method == http.MethodHead ||
		!relaysErrorBody(res.StatusCode, res.Header, res.ContentLength) {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxErrorBody+1))
	if err != nil {
		return err
	}
	if len(body) > maxErrorBody {
		res.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), res.Body), res.Body}
		return nil
	}
	res.Body.Close()
	body = withRequestID(body, id)
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	res.Header.Set("Content-Length", strconv.Itoa(len(body)))
	res.Header.Del("Transfer-Encoding")
	return nil
}

// withRequestID returns an S3 error body (an <Error> document) with the
// text of its RequestId element replaced by id, or with a RequestId added
// before </Error> when it has none. Anything else is returned as it is.
// body is never modified: the result is a new slice, or body itself.
func withRequestID(body []byte, id string) []byte {
	root, ok := errorRoot(body)
	if !ok {
		return body
	}
	var esc bytes.Buffer
	_ = xml.EscapeText(&esc, []byte(id)) // a bytes.Buffer does not fail
	const open, end = "<RequestId>", "</RequestId>"
	// Only the root's content is searched: a declaration such as
	// <?xml <RequestId>?> holds no element.
	if i := bytes.Index(body[root:], []byte(open)); i >= 0 {
		i += root
		if j := bytes.Index(body[i:], []byte(end)); j >= 0 {
			i += len(open)
			j += i - len(open)
			out := make([]byte, 0, len(body)-(j-i)+esc.Len())
			out = append(out, body[:i]...)
			out = append(out, esc.Bytes()...)
			return append(out, body[j:]...)
		}
		return body
	}
	k := bytes.LastIndex(body, []byte("</Error>"))
	out := make([]byte, 0, len(body)+len(open)+esc.Len()+len(end))
	out = append(out, body[:k]...)
	out = append(out, open...)
	out = append(out, esc.Bytes()...)
	out = append(out, end...)
	return append(out, body[k:]...)
}

// isErrorDocument reports whether body is an XML document whose root is
// an Error element: an optional declaration, then <Error>…</Error>, with
// only white space around.
func isErrorDocument(body []byte) bool {
	_, ok := errorRoot(body)
	return ok
}

// errorRoot returns the offset in body of the <Error> start tag of an
// error document, as isErrorDocument defines it.
func errorRoot(body []byte) (int, bool) {
	b := bytes.TrimSpace(body)
	if rest, ok := bytes.CutPrefix(b, []byte("<?xml")); ok {
		_, after, found := bytes.Cut(rest, []byte("?>"))
		if !found {
			return 0, false
		}
		b = bytes.TrimSpace(after)
	}
	if !bytes.HasPrefix(b, []byte("<Error>")) || !bytes.HasSuffix(b, []byte("</Error>")) {
		return 0, false
	}
	return cap(body) - cap(b), true // b is body resliced past what precedes the root
}
