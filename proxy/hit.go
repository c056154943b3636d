package proxy

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/proxy/internal/s3api"
	"github.com/s3cache/s3cache/proxy/internal/zcodec"
)

// responseOverrides are the GetObject/HeadObject query parameters that
// replace a response header, and the header each one replaces.
var responseOverrides = [...]struct{ param, header string }{
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
	{"response-content-language", "Content-Language"},
	{"response-content-type", "Content-Type"},
	{"response-expires", "Expires"},
}

// readRequest is what a GetObject or HeadObject asks for beyond the whole
// object: a version, a byte range, preconditions and header overrides. The
// cache answers all of them from a stored entry.
type readRequest struct {
	versionID   string
	rangeSpec   string                         // the Range header; "" for the whole object
	conditional bool                           // any of If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since
	overrides   [len(responseOverrides)]string // response-* values by index of responseOverrides; "" for none
	overridden  bool                           // any override is set
	// checksumMode says the client asked for the object's checksums
	// (x-amz-checksum-mode: ENABLED, header or query): only then are the
	// stored X-Amz-Checksum-* headers sent, as S3 sends them.
	checksumMode bool
	// partNumber is the part asked for, 0 for none; part is its
	// description once serveRead found it, whose headers the answer
	// carries (rangeSpec is then the part's range).
	partNumber int
	part       *cache.Entry
	objectSize int64 // with part: the whole object's size
	described  bool  // the part's description came from the backend: not a HIT
}

// variant reports whether the request asks for more than the plain whole
// object or a range of it: preconditions or overrides.
func (rr *readRequest) variant() bool {
	return rr.conditional || rr.overridden
}

// parseRead reads what a GetObject/HeadObject asks for and says why it
// cannot be answered from the cache, or "" when it can. Multiple ranges,
// If-Range, parts, encryption headers and query parameters the proxy
// does not know are relayed to the backend, which answers them exactly as
// it would without the proxy. q is the request's parsed query (nil when it
// has none); badQuery says it did not parse.
func parseRead(r *http.Request, q url.Values, badQuery bool) (rr readRequest, bypass string) {
	// The names are written canonical and looked up directly: Header.Get
	// would canonicalise each of them again on every hit.
	h := map[string][]string(r.Header)
	rr.rangeSpec = firstValue(h, "Range")
	rr.conditional = firstValue(h, "If-Match") != "" || firstValue(h, "If-None-Match") != "" ||
		firstValue(h, "If-Modified-Since") != "" || firstValue(h, "If-Unmodified-Since") != ""
	switch {
	case strings.IndexByte(rr.rangeSpec, ',') >= 0:
		return rr, "multi-range"
	case firstValue(h, "If-Range") != "":
		return rr, "if-range"
	case firstValue(h, "X-Amz-Server-Side-Encryption-Customer-Algorithm") != "":
		return rr, "sse-c"
	case firstValue(h, "X-Amz-Server-Side-Encryption") != "" || firstValue(h, "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != "":
		// S3 refuses a read that declares how to encrypt: the backend's
		// 400 is the answer.
		return rr, "sse-header"
	}
	if m := firstValue(h, "X-Amz-Checksum-Mode"); m != "" {
		if !strings.EqualFold(m, "ENABLED") {
			return rr, "checksum-mode" // the backend's error to send
		}
		rr.checksumMode = true
	}
	if badQuery {
		return rr, "query-syntax"
	}
	for name, vs := range q {
		switch {
		case name == "versionId":
			rr.versionID = vs[0]
		case name == "x-id": // aws-sdk-go-v2 names the operation in the query
		case name == "partNumber":
			n, err := strconv.Atoi(vs[0])
			if err != nil || n < 1 || n > maxPartNumber || strconv.Itoa(n) != vs[0] {
				return rr, "query-partNumber" // the backend's error to send
			}
			rr.partNumber = n
		case strings.EqualFold(name, "x-amz-checksum-mode"):
			// The JS SDK v3 presigns GETs with it in the query, in lower
			// case: answered like the header.
			if !strings.EqualFold(vs[0], "ENABLED") {
				return rr, "checksum-mode" // the backend's error to send
			}
			rr.checksumMode = true
		case strings.HasPrefix(name, "X-Amz-"): // presign parameters
		case strings.HasPrefix(name, "response-"):
			i := overrideIndex(name)
			if i < 0 {
				return rr, queryReason(name)
			}
			// S3 ignores an empty override.
			if vs[0] != "" {
				rr.overrides[i] = vs[0]
				rr.overridden = true
			}
		default:
			return rr, queryReason(name)
		}
	}
	if rr.partNumber > 0 && rr.rangeSpec != "" {
		return rr, "part-and-range" // the backend's error to send
	}
	return rr, ""
}

// maxPartNumber is the largest part number of S3's multipart uploads.
const maxPartNumber = 10000

// sameObject reports whether an object with the stored headers is the
// one whose part rr asks for (same ETag); without a part, any is.
func (rr *readRequest) sameObject(stored map[string][]string) bool {
	return rr.part == nil || headerETag(rr.part.Header) == headerETag(stored)
}

// objectHeader sets in h the headers of the answer to rr from an object's
// stored headers: for the part [start, end) of size bytes when partial;
// with the part's own headers (its Content-Range, parts count and
// checksums) when rr asks for a part; the overrides applied.
func (rr *readRequest) objectHeader(h http.Header, stored map[string][]string, start, end, size int, partial bool) {
	switch {
	case rr.part != nil:
		copyObjectHeader(h, rr.part.Header, rr.checksumMode)
	case partial:
		copyObjectHeader(h, stored, rr.checksumMode)
		setRangeHeaders(h, start, end, size)
	default:
		copyObjectHeader(h, stored, rr.checksumMode)
	}
	rr.override(h)
}

// queryReason is the bypass reason for a query parameter the cache does
// not answer: "query-" and its name when the name is a plain token, as it
// goes into the X-Cache header, else "query".
func queryReason(name string) string {
	if name == "" || len(name) > 64 {
		return "query"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "query"
		}
	}
	return "query-" + name
}

func overrideIndex(param string) int {
	for i, o := range responseOverrides {
		if o.param == param {
			return i
		}
	}
	return -1
}

// notModifiedHeaders are the stored headers a 304 carries: the validators
// and the fields a 200 would have sent that RFC 9110 §15.4.5 asks for.
var notModifiedHeaders = []string{etagS3, etagCanonical, "Last-Modified", "Cache-Control", "Expires", "Vary", "Content-Location"}

// serveEntry answers a GetObject or HeadObject from a cached entry the way
// S3 would: preconditions first (412, 304), then the range (206, 416), then
// the response-* overrides on the reply's headers. The stored header map and
// body are shared and never modified; the body is written as a slice of the
// stored bytes, never copied, except that a compressed entry is decoded
// into a pooled buffer for each GET that sends its body (never for HEAD,
// 304, 412 or 416). xcache is the X-Cache value to send.
func (p *Proxy) serveEntry(w http.ResponseWriter, r *http.Request, e *cache.Entry, rr *readRequest, xcache string) {
	if rr.described && xcache == xCacheHit {
		xcache = xCacheMiss
	}
	h := w.Header()
	if rr.conditional && p.answerPreconditions(w, r, e.Header, xcache) {
		return
	}
	size := e.Len()
	start, end, status := 0, size, http.StatusOK
	if rr.rangeSpec != "" {
		switch s, en, res := parseRange(rr.rangeSpec, size); res {
		case rangeUnsatisfiable:
			p.writeInvalidRange(w, r, rr.rangeSpec, int64(size), xcache)
			return
		case rangeSatisfiable:
			start, end, status = s, en, http.StatusPartialContent
		}
	}

	body := e.Body
	if e.Encoded() && r.Method != http.MethodHead {
		buf := zcodec.Scratch(size)
		defer zcodec.Release(buf, *buf)
		var err error
		if body, err = zcodec.DecodeInto(e.Body, size, *buf); err != nil {
			p.writeError(w, r, err)
			return
		}
	}

	rr.objectHeader(h, e.Header, start, end, size, status == http.StatusPartialContent)
	h.Set("X-Cache", xcache)
	h.Set("Content-Length", strconv.Itoa(end-start))
	namedAsS3(w)
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		sendingFrom(w, sourceCache)
		w.Write(body[start:end])
	}
}

// answerPreconditions evaluates the request's preconditions against a
// stored object's header and, when they decide the answer, sends it (412
// PreconditionFailed, or 304 with the validators) and returns true.
func (p *Proxy) answerPreconditions(w http.ResponseWriter, r *http.Request, stored map[string][]string, xcache string) bool {
	h := w.Header()
	switch evalPreconditions(r.Header, stored, p.cfg.Now()) {
	case preconditionFailed:
		h.Set("X-Cache", xcache)
		p.writeError(w, r, s3api.ErrPreconditionFailed)
		return true
	case notModified:
		for _, k := range notModifiedHeaders {
			if v, ok := stored[k]; ok {
				h[k] = v
			}
		}
		h.Set("X-Cache", xcache)
		namedAsS3(w)
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	return false
}

// override sets the response headers the request's response-* parameters
// replace.
func (rr *readRequest) override(h http.Header) {
	if !rr.overridden {
		return
	}
	for i, o := range responseOverrides {
		if v := rr.overrides[i]; v != "" {
			h[o.header] = []string{v} // a new slice: the stored one is shared
		}
	}
}

// copyObjectHeader copies a stored object's headers into h, sharing their
// values. The X-Amz-Checksum-* headers go only to a client that asked for
// them (checksums), as S3 sends them only in checksum mode.
func copyObjectHeader(h http.Header, stored map[string][]string, checksums bool) {
	for k, v := range stored {
		if !checksums && strings.HasPrefix(k, "X-Amz-Checksum-") {
			continue
		}
		h[k] = v
	}
}

// setRangeHeaders turns the whole object's headers into those of the part
// [start, end) of size bytes.
func setRangeHeaders(h http.Header, start, end, size int) {
	h.Set("Content-Range", "bytes "+strconv.Itoa(start)+"-"+strconv.Itoa(end-1)+"/"+strconv.Itoa(size))
	if start != 0 || end != size {
		// The stored checksums are of the whole object; like S3, send none
		// with a part of it.
		dropChecksums(h)
	}
}

// dropChecksums deletes the X-Amz-Checksum-* headers of h.
func dropChecksums(h http.Header) {
	for k := range h {
		if strings.HasPrefix(k, "X-Amz-Checksum-") {
			delete(h, k)
		}
	}
}

// rangeResult is the outcome of parseRange.
type rangeResult uint8

const (
	rangeIgnored       rangeResult = iota // absent or not a valid single range: serve the whole object
	rangeSatisfiable                      // serve body[start:end] as 206
	rangeUnsatisfiable                    // 416 InvalidRange
)

// parseRange interprets a Range header holding one byte range against an
// object of size bytes, the way S3 does: "bytes=a-b", "bytes=a-" and
// "bytes=-n" select body[start:end]; an end beyond the object is clamped,
// and a suffix longer than the object selects all of it. A range that
// starts at or after the end of the object, or "bytes=-0", is
// unsatisfiable. Anything else — another unit, a malformed or reversed
// range, whitespace, signs — is ignored, as S3 ignores it. The caller
// relays multiple ranges to the backend; here a comma makes the header
// malformed.
func parseRange(spec string, size int) (start, end int, res rangeResult) {
	spec, ok := strings.CutPrefix(spec, "bytes=")
	if !ok {
		return 0, 0, rangeIgnored
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, rangeIgnored
	}
	switch {
	case first == "" && last == "":
		return 0, 0, rangeIgnored
	case first == "": // bytes=-n: the last n bytes
		n, ok := parseDigits(last)
		switch {
		case !ok:
			return 0, 0, rangeIgnored
		case n == 0:
			return 0, 0, rangeUnsatisfiable
		case size == 0:
			return 0, 0, rangeIgnored // S3 serves the empty object whole
		}
		return size - int(min(n, int64(size))), size, rangeSatisfiable
	}
	a, ok := parseDigits(first)
	if !ok {
		return 0, 0, rangeIgnored
	}
	b := int64(math.MaxInt64)
	if last != "" {
		if b, ok = parseDigits(last); !ok || b < a {
			return 0, 0, rangeIgnored
		}
	}
	if a >= int64(size) {
		return 0, 0, rangeUnsatisfiable
	}
	return int(a), int(min(b, int64(size)-1)) + 1, rangeSatisfiable
}

// parseDigits parses a non-empty run of ASCII digits; values beyond
// MaxInt64 saturate, which for a byte position means "past any object".
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-9)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// precondition is the outcome of evalPreconditions.
type precondition uint8

const (
	preconditionsHold  precondition = iota // serve the object
	notModified                            // 304
	preconditionFailed                     // 412 PreconditionFailed
)

// evalPreconditions evaluates a GetObject/HeadObject's preconditions
// against the stored validators in the order of RFC 9110 §13.2.2, which
// also gives S3's documented combinations: If-Match true with
// If-Unmodified-Since false serves the object; If-None-Match false with
// If-Modified-Since true is 304.
//
//  1. If-Match, when present: false → 412.
//  2. Else If-Unmodified-Since: modified after the date → 412.
//  3. If-None-Match, when present: a match → 304.
//  4. Else If-Modified-Since: not modified after the date → 304.
//
// Dates are compared at the one-second resolution of Last-Modified. A date
// that does not parse is ignored, and so is an If-Modified-Since later than
// now, as S3 does.
func evalPreconditions(req http.Header, stored map[string][]string, now time.Time) precondition {
	etag := headerETag(stored)
	if im := req.Values("If-Match"); len(im) > 0 && im[0] != "" {
		if !etagListMatch(im, etag, false) {
			return preconditionFailed
		}
	} else if ius, ok := parseHTTPDate(req.Get("If-Unmodified-Since")); ok {
		if lm, ok := parseHTTPDate(firstValue(stored, "Last-Modified")); ok && lm.After(ius) {
			return preconditionFailed
		}
	}
	if inm := req.Values("If-None-Match"); len(inm) > 0 && inm[0] != "" {
		if etagListMatch(inm, etag, true) {
			return notModified
		}
	} else if ims, ok := parseHTTPDate(req.Get("If-Modified-Since")); ok && !ims.After(now) {
		if lm, ok := parseHTTPDate(firstValue(stored, "Last-Modified")); ok && !lm.After(ims) {
			return notModified
		}
	}
	return preconditionsHold
}

func firstValue(h map[string][]string, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func parseHTTPDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(s)
	return t, err == nil
}

// etagListMatch reports whether a list of entity tags (the values of an
// If-Match or If-None-Match header) names etag: "*" names any. Quotes are
// optional, as S3 accepts bare tags. A weak tag (W/"…") matches only under
// weak comparison (If-None-Match); If-Match compares strongly.
func etagListMatch(values []string, etag string, weak bool) bool {
	if etag == "" {
		for _, v := range values {
			if strings.TrimSpace(v) == "*" {
				return true
			}
		}
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	storedWeak := len(want) != len(etag)
	want = strings.Trim(want, `"`)
	for _, v := range values {
		for v != "" {
			var tag string
			var isWeak bool
			tag, isWeak, v = nextETag(v)
			switch {
			case tag == "*" && !isWeak:
				return true
			case tag != want || tag == "":
			case weak || !isWeak && !storedWeak:
				return true
			}
		}
	}
	return false
}

// nextETag returns the first entity tag of a comma-separated list, without
// quotes, whether it is weak, and the rest of the list.
func nextETag(s string) (tag string, weak bool, rest string) {
	s = strings.TrimLeft(s, " \t,")
	if after, ok := strings.CutPrefix(s, "W/"); ok {
		weak, s = true, after
	}
	if after, ok := strings.CutPrefix(s, `"`); ok {
		if i := strings.IndexByte(after, '"'); i >= 0 {
			return after[:i], weak, after[i+1:]
		}
		return after, weak, ""
	}
	if i := strings.IndexByte(s, ','); i >= 0 {
		return strings.TrimRight(s[:i], " \t"), weak, s[i+1:]
	}
	return strings.TrimRight(s, " \t"), weak, ""
}
