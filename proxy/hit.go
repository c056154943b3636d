package proxy

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/s3cache/s3cache/cache"
)

// bypassReason says why a GetObject/HeadObject cannot be answered from the
// cache, or "" when it can. Ranges, conditionals, response overrides, parts
// and customer-key encryption are relayed to the backend, which answers them
// exactly as it would without the proxy.
func bypassReason(r *http.Request) string {
	h := r.Header
	switch {
	case h.Get("Range") != "":
		return "range"
	case h.Get("If-Match") != "" || h.Get("If-None-Match") != "" ||
		h.Get("If-Modified-Since") != "" || h.Get("If-Unmodified-Since") != "":
		return "conditional"
	case h.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "":
		return "sse-c"
	}
	for name := range r.URL.Query() {
		switch {
		case name == "versionId":
		case name == "x-id": // aws-sdk-go-v2 names the operation in the query
		case strings.HasPrefix(name, "X-Amz-"): // presign parameters
		default:
			return "query " + name
		}
	}
	return ""
}

// serveEntry writes a cached object. The stored body is written as is,
// never copied.
func serveEntry(w http.ResponseWriter, r *http.Request, e *cache.Entry, xcache string) {
	h := w.Header()
	for k, v := range e.Header {
		h[k] = v
	}
	h.Set("X-Cache", xcache)
	h.Set("Content-Length", strconv.Itoa(len(e.Body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(e.Body)
	}
}
