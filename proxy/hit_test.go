package proxy

import (
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3cache/s3cache/cache"
)

// hitObject is the object of the hit tests and the headers the backend
// sends with it.
const hitObject = "0123456789"

// hitHeaders returns the backend's headers for hitObject, last modified at lm.
func hitHeaders(lm time.Time) http.Header {
	return http.Header{
		"Content-Type":                    {"text/x-hit"},
		"Etag":                            {`"abc123"`},
		"Last-Modified":                   {lm.UTC().Format(http.TimeFormat)},
		"Cache-Control":                   {"max-age=60"},
		"Expires":                         {"Thu, 01 Jan 2037 00:00:00 GMT"},
		"Content-Disposition":             {`attachment; filename="o.txt"`},
		"Content-Language":                {"de"},
		"Content-Encoding":                {"identity"},
		"Accept-Ranges":                   {"bytes"},
		"X-Amz-Meta-Color":                {"blue"},
		"X-Amz-Checksum-Crc32":            {"aaaaaa=="},
		"X-Amz-Checksum-Type":             {"FULL_OBJECT"},
		"X-Amz-Storage-Class":             {"STANDARD"},
		"X-Amz-Version-Id":                {"null"},
		"X-Amz-Tagging-Count":             {"1"},
		"X-Amz-Website-Redirect-Location": {"/elsewhere"},
	}
}

// newHitProxy starts a fake backend serving hitObject at /bkt/k with
// hitHeaders(lm) and a proxy in front of it.
func newHitProxy(t *testing.T, lm time.Time) (*fakeS3, *Proxy, *testServer) {
	t.Helper()
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte(hitObject)
	fake.objects["/bkt/cold"] = []byte(hitObject)
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/bkt/k" {
			return false
		}
		maps.Copy(w.Header(), hitHeaders(lm))
		w.Header().Set("Content-Length", strconv.Itoa(len(hitObject)))
		w.Write([]byte(hitObject))
		return true
	}
	p, srv := newTestProxy(t, backend, nil)
	return fake, p, srv
}

// doSigned sends a request with the given headers, signed for the proxy.
func doSigned(t *testing.T, method, url string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	signRequest(t, req, "UNSIGNED-PAYLOAD", testSecret)
	res, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// rawClient hands over bodies as sent: no transparent gzip decoding.
var rawClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// absent in a test's want headers means the header must not be sent.
const absent = "<absent>"

func TestServeHit(t *testing.T) {
	lm := time.Now().Add(-time.Hour).Truncate(time.Second)
	fake, p, srv := newHitProxy(t, lm)
	warm := doSigned(t, "GET", srv.URL+"/bkt/k", nil)
	if got := readBody(t, warm); got != hitObject || warm.Header.Get("X-Cache") != xCacheMiss {
		t.Fatalf("filling GET: %q X-Cache %q, want %q MISS", got, warm.Header.Get("X-Cache"), hitObject)
	}
	p.cache.Wait()
	entry, ok := p.cache.Get("bkt", "k", cache.Key("bkt", "k", ""))
	if !ok {
		t.Fatal("the filling GET stored nothing")
	}
	stored := http.Header(entry.Header).Clone()

	date := func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
	past, future := date(lm.Add(-time.Hour)), date(time.Now().Add(time.Hour))
	wholeHeaders := map[string]string{
		"Content-Type": "text/x-hit", "Content-Length": "10", "Etag": `"abc123"`,
		"Last-Modified": date(lm), "Cache-Control": "max-age=60", "X-Amz-Meta-Color": "blue",
		"X-Amz-Checksum-Crc32": absent, "X-Amz-Checksum-Type": absent, "Content-Range": absent,
	}
	// The stored checksums go only to a client in checksum mode, as S3
	// sends them.
	withChecksums := maps.Clone(wholeHeaders)
	withChecksums["X-Amz-Checksum-Crc32"], withChecksums["X-Amz-Checksum-Type"] = "aaaaaa==", "FULL_OBJECT"
	checksumMode := map[string]string{"X-Amz-Checksum-Mode": "ENABLED"}
	part := func(cr, cl string) map[string]string {
		return map[string]string{
			"Content-Type": "text/x-hit", "Content-Range": cr, "Content-Length": cl, "Etag": `"abc123"`,
			"X-Amz-Meta-Color": "blue", "X-Amz-Checksum-Crc32": absent, "X-Amz-Checksum-Type": absent,
		}
	}
	notModifiedHeaders := map[string]string{
		"Etag": `"abc123"`, "Last-Modified": date(lm), "Cache-Control": "max-age=60",
		"Expires": "Thu, 01 Jan 2037 00:00:00 GMT", "Content-Type": absent, "X-Amz-Meta-Color": absent,
		"Content-Length": absent, "X-Amz-Checksum-Crc32": absent,
	}
	errorHeaders := map[string]string{
		"Content-Type": "application/xml", "Etag": absent, "Last-Modified": absent, "X-Amz-Meta-Color": absent,
	}
	rangeError := map[string]string{"Content-Range": "bytes */10", "Content-Type": "application/xml", "Etag": absent, "X-Amz-Meta-Color": absent}

	tests := []struct {
		name   string
		method string // "" means GET
		query  string
		header map[string]string
		status int
		body   string // for GET; HEAD wants none
		code   string // S3 error code of an error body
		want   map[string]string
		xcache string // "" means HIT
	}{
		{name: "plain", status: 200, body: hitObject, want: wholeHeaders},
		{name: "HEAD", method: "HEAD", status: 200, want: wholeHeaders},

		// Ranges.
		{name: "range a-b", header: map[string]string{"Range": "bytes=2-4"}, status: 206, body: "234", want: part("bytes 2-4/10", "3")},
		{name: "range a-", header: map[string]string{"Range": "bytes=7-"}, status: 206, body: "789", want: part("bytes 7-9/10", "3")},
		{name: "range -n", header: map[string]string{"Range": "bytes=-3"}, status: 206, body: "789", want: part("bytes 7-9/10", "3")},
		{name: "range end beyond size", header: map[string]string{"Range": "bytes=8-100"}, status: 206, body: "89", want: part("bytes 8-9/10", "2")},
		{name: "range last byte", header: map[string]string{"Range": "bytes=9-9"}, status: 206, body: "9", want: part("bytes 9-9/10", "1")},
		{name: "range huge end", header: map[string]string{"Range": "bytes=3-99999999999999999999"}, status: 206, body: "3456789", want: part("bytes 3-9/10", "7")},
		{name: "range suffix longer than object", header: map[string]string{"Range": "bytes=-100", "X-Amz-Checksum-Mode": "ENABLED"}, status: 206, body: hitObject,
			want: map[string]string{"Content-Range": "bytes 0-9/10", "Content-Length": "10", "X-Amz-Checksum-Crc32": "aaaaaa=="}},
		{name: "range whole object keeps checksums", header: map[string]string{"Range": "bytes=0-", "X-Amz-Checksum-Mode": "ENABLED"}, status: 206, body: hitObject,
			want: map[string]string{"Content-Range": "bytes 0-9/10", "X-Amz-Checksum-Crc32": "aaaaaa==", "X-Amz-Checksum-Type": "FULL_OBJECT"}},
		{name: "range start at size", header: map[string]string{"Range": "bytes=10-"}, status: 416, code: "InvalidRange", want: rangeError},
		{name: "range beyond size", header: map[string]string{"Range": "bytes=20-30"}, status: 416, code: "InvalidRange", want: rangeError},
		{name: "range huge start", header: map[string]string{"Range": "bytes=99999999999999999999-"}, status: 416, code: "InvalidRange", want: rangeError},
		{name: "range -0", header: map[string]string{"Range": "bytes=-0"}, status: 416, code: "InvalidRange", want: rangeError},
		{name: "HEAD range", method: "HEAD", header: map[string]string{"Range": "bytes=2-4"}, status: 206, want: part("bytes 2-4/10", "3")},
		{name: "HEAD range unsatisfiable", method: "HEAD", header: map[string]string{"Range": "bytes=10-"}, status: 416, want: rangeError},
		{name: "range reversed is ignored", header: map[string]string{"Range": "bytes=5-2"}, status: 200, body: hitObject, want: wholeHeaders},
		{name: "range garbage is ignored", header: map[string]string{"Range": "bytes=abc"}, status: 200, body: hitObject, want: wholeHeaders},
		{name: "range other unit is ignored", header: map[string]string{"Range": "items=0-1"}, status: 200, body: hitObject, want: wholeHeaders},
		{name: "range with space is ignored", header: map[string]string{"Range": "bytes= 1-2"}, status: 200, body: hitObject, want: wholeHeaders},
		{name: "range with sign is ignored", header: map[string]string{"Range": "bytes=+1-2"}, status: 200, body: hitObject, want: wholeHeaders},
		{name: "range dash only is ignored", header: map[string]string{"Range": "bytes=-"}, status: 200, body: hitObject, want: wholeHeaders},
		{name: "multi-range is relayed", header: map[string]string{"Range": "bytes=0-1,3-4"}, status: 200, body: hitObject, xcache: "BYPASS; reason=multi-range"},
		{name: "checksum mode in the query, as the JS SDK v3 presigns it", query: "x-amz-checksum-mode=ENABLED&x-id=GetObject", status: 200, body: hitObject, want: withChecksums},
		{name: "checksum mode in the query, in capitals", query: "X-Amz-Checksum-Mode=enabled", status: 200, body: hitObject, want: withChecksums},
		{name: "HEAD in checksum mode", method: "HEAD", header: checksumMode, status: 200, want: withChecksums},
		{name: "checksum mode in the query with a bad value is relayed", query: "x-amz-checksum-mode=BOGUS", status: 200, body: hitObject, xcache: "BYPASS; reason=checksum-mode"},
		{name: "a read declaring SSE-KMS is relayed, for the backend to refuse", header: map[string]string{"X-Amz-Server-Side-Encryption": "aws:kms"}, status: 200, body: hitObject, xcache: "BYPASS; reason=sse-header"},

		// Preconditions.
		{name: "If-Match match", header: map[string]string{"If-Match": `"abc123"`}, status: 200, body: hitObject, want: wholeHeaders},
		{name: "If-Match unquoted", header: map[string]string{"If-Match": `abc123`}, status: 200, body: hitObject},
		{name: "If-Match star", header: map[string]string{"If-Match": `*`}, status: 200, body: hitObject},
		{name: "If-Match list", header: map[string]string{"If-Match": `"x", "abc123"`}, status: 200, body: hitObject},
		{name: "If-Match mismatch", header: map[string]string{"If-Match": `"other"`}, status: 412, code: "PreconditionFailed", want: errorHeaders},
		{name: "If-Match weak is strong-compared", header: map[string]string{"If-Match": `W/"abc123"`}, status: 412, code: "PreconditionFailed"},
		{name: "HEAD If-Match mismatch", method: "HEAD", header: map[string]string{"If-Match": `"other"`}, status: 412, want: errorHeaders},
		{name: "If-Unmodified-Since past", header: map[string]string{"If-Unmodified-Since": past}, status: 412, code: "PreconditionFailed", want: errorHeaders},
		{name: "If-Unmodified-Since Last-Modified", header: map[string]string{"If-Unmodified-Since": date(lm)}, status: 200, body: hitObject},
		{name: "If-Unmodified-Since future", header: map[string]string{"If-Unmodified-Since": future}, status: 200, body: hitObject},
		{name: "If-Unmodified-Since invalid is ignored", header: map[string]string{"If-Unmodified-Since": "yesterday"}, status: 200, body: hitObject},
		{name: "S3: If-Match true and If-Unmodified-Since false", header: map[string]string{"If-Match": `"abc123"`, "If-Unmodified-Since": past}, status: 200, body: hitObject, want: wholeHeaders},
		{name: "If-None-Match match", header: map[string]string{"If-None-Match": `"abc123"`}, status: 304, want: notModifiedHeaders},
		{name: "If-None-Match unquoted", header: map[string]string{"If-None-Match": `abc123`}, status: 304},
		{name: "If-None-Match weak", header: map[string]string{"If-None-Match": `W/"abc123"`}, status: 304},
		{name: "If-None-Match star", header: map[string]string{"If-None-Match": `*`}, status: 304},
		{name: "If-None-Match list", header: map[string]string{"If-None-Match": `"x","abc123"`}, status: 304},
		{name: "If-None-Match mismatch", header: map[string]string{"If-None-Match": `"other"`}, status: 200, body: hitObject, want: wholeHeaders},
		{name: "HEAD If-None-Match match", method: "HEAD", header: map[string]string{"If-None-Match": `"abc123"`}, status: 304, want: notModifiedHeaders},
		{name: "If-Modified-Since past", header: map[string]string{"If-Modified-Since": past}, status: 200, body: hitObject},
		{name: "If-Modified-Since Last-Modified", header: map[string]string{"If-Modified-Since": date(lm)}, status: 304, want: notModifiedHeaders},
		{name: "If-Modified-Since future is ignored", header: map[string]string{"If-Modified-Since": future}, status: 200, body: hitObject},
		{name: "If-Modified-Since invalid is ignored", header: map[string]string{"If-Modified-Since": "soon"}, status: 200, body: hitObject},
		{name: "If-Modified-Since RFC 850", header: map[string]string{"If-Modified-Since": lm.UTC().Format(time.RFC850)}, status: 304},
		{name: "S3: If-None-Match false and If-Modified-Since true", header: map[string]string{"If-None-Match": `"abc123"`, "If-Modified-Since": past}, status: 304},
		{name: "If-None-Match true overrides If-Modified-Since false", header: map[string]string{"If-None-Match": `"other"`, "If-Modified-Since": date(lm)}, status: 200, body: hitObject},
		{name: "If-Match false wins over If-None-Match", header: map[string]string{"If-Match": `"other"`, "If-None-Match": `"abc123"`}, status: 412, code: "PreconditionFailed"},
		{name: "If-Unmodified-Since false wins over If-None-Match", header: map[string]string{"If-Unmodified-Since": past, "If-None-Match": `"abc123"`}, status: 412, code: "PreconditionFailed"},
		{name: "If-Match true and If-None-Match match", header: map[string]string{"If-Match": `"abc123"`, "If-None-Match": `"abc123"`}, status: 304},
		{name: "preconditions before range: 304", header: map[string]string{"If-None-Match": `"abc123"`, "Range": "bytes=20-"}, status: 304},
		{name: "preconditions before range: 412", header: map[string]string{"If-Match": `"other"`, "Range": "bytes=20-"}, status: 412, code: "PreconditionFailed",
			want: map[string]string{"Content-Range": absent}},
		{name: "precondition true and range", header: map[string]string{"If-Match": `"abc123"`, "Range": "bytes=2-4"}, status: 206, body: "234", want: part("bytes 2-4/10", "3")},

		// Overrides.
		{name: "all overrides", query: "response-content-type=text%2Fplain&response-content-language=fr&response-expires=Fri%2C%2001%20Jan%202038%2000%3A00%3A00%20GMT" +
			"&response-cache-control=no-cache&response-content-disposition=inline&response-content-encoding=gzip",
			status: 200, body: hitObject, want: map[string]string{
				"Content-Type": "text/plain", "Content-Language": "fr", "Expires": "Fri, 01 Jan 2038 00:00:00 GMT",
				"Cache-Control": "no-cache", "Content-Disposition": "inline", "Content-Encoding": "gzip",
				"X-Amz-Meta-Color": "blue", "Etag": `"abc123"`, "Content-Length": "10",
			}},
		{name: "HEAD override", method: "HEAD", query: "response-content-type=text%2Fplain", status: 200,
			want: map[string]string{"Content-Type": "text/plain", "Content-Length": "10", "Cache-Control": "max-age=60"}},
		{name: "override and range", query: "response-content-disposition=inline", header: map[string]string{"Range": "bytes=0-1"}, status: 206, body: "01",
			want: map[string]string{"Content-Disposition": "inline", "Content-Range": "bytes 0-1/10", "Content-Type": "text/x-hit"}},
		{name: "empty override is ignored", query: "response-content-type=", status: 200, body: hitObject, want: map[string]string{"Content-Type": "text/x-hit"}},
		{name: "plain after overrides", status: 200, body: hitObject, want: wholeHeaders},

		// Still relayed.
		{name: "unknown response parameter", query: "response-foo=bar", status: 200, body: hitObject, xcache: "BYPASS; reason=query-response-foo"},
		{name: "partNumber the backend does not describe", query: "partNumber=1", status: 200, body: hitObject, xcache: "BYPASS; reason=part-not-cacheable"},
		{name: "partNumber not a number", query: "partNumber=x", status: 200, body: hitObject, xcache: "BYPASS; reason=query-partNumber"},
		{name: "partNumber and Range", query: "partNumber=1", header: map[string]string{"Range": "bytes=0-1"}, status: 200, body: hitObject, xcache: "BYPASS; reason=part-and-range"},
		{name: "SSE-C", header: map[string]string{"X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256"}, status: 200, body: hitObject, xcache: "BYPASS; reason=sse-c"},
		{name: "If-Range", header: map[string]string{"If-Range": `"abc123"`, "Range": "bytes=0-1"}, status: 200, body: hitObject, xcache: "BYPASS; reason=if-range"},
		{name: "invalid checksum mode", header: map[string]string{"X-Amz-Checksum-Mode": "maybe"}, status: 200, body: hitObject, xcache: "BYPASS; reason=checksum-mode"},
		{name: "checksum mode enabled", header: checksumMode, status: 200, body: hitObject, want: withChecksums},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := cmpOr(tt.method, "GET")
			url := srv.URL + "/bkt/k"
			if tt.query != "" {
				url += "?" + tt.query
			}
			gets := fake.getCount("/bkt/k")
			res := doSigned(t, method, url, tt.header)
			body := readBody(t, res)
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d (body %q)", res.StatusCode, tt.status, body)
			}
			wantX := cmpOr(tt.xcache, xCacheHit)
			if got := res.Header.Get("X-Cache"); got != wantX {
				t.Errorf("X-Cache %q, want %q", got, wantX)
			}
			if wantX == xCacheHit && fake.getCount("/bkt/k") != gets {
				t.Errorf("a hit asked the backend")
			}
			switch {
			case method == "HEAD" || tt.status == 304:
				if body != "" {
					t.Errorf("body %q, want none", body)
				}
			case tt.code != "":
				if !strings.Contains(body, "<Code>"+tt.code+"</Code>") {
					t.Errorf("body %q, want S3 error %s", body, tt.code)
				}
			case body != tt.body:
				t.Errorf("body %q, want %q", body, tt.body)
			}
			for k, want := range tt.want {
				got, ok := res.Header[http.CanonicalHeaderKey(k)]
				switch {
				case want == absent && ok:
					t.Errorf("header %s = %q, want none", k, got)
				case want != absent && (len(got) != 1 || got[0] != want):
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}
	if !maps.EqualFunc(stored, http.Header(entry.Header), slices.Equal) {
		t.Errorf("the stored header changed:\n got %v\nwant %v", entry.Header, stored)
	}
	if string(entry.Body) != hitObject {
		t.Errorf("the stored body changed: %q", entry.Body)
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestVariantMissFills: a miss with preconditions, a range, overrides or
// checksum mode, and a HEAD miss, are answered from one backend request of
// the proxy's own (the whole object, or a HEAD) exactly as the same request
// is answered once it is a hit, and leave the object (or, for a HEAD, its
// description) in the cache.
func TestVariantMissFills(t *testing.T) {
	lm := time.Now().Add(-time.Hour).Truncate(time.Second)
	date := func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
	for _, tc := range []struct {
		name, method, query string
		header              map[string]string
		status              int
	}{
		{"range and If-Match, as s3transfer sends parts", "GET", "", map[string]string{"Range": "bytes=2-5", "If-Match": `"abc123"`}, 206},
		{"If-Match mismatch", "GET", "", map[string]string{"If-Match": `"other"`}, 412},
		{"If-None-Match match", "GET", "", map[string]string{"If-None-Match": `"abc123"`}, 304},
		{"If-None-Match mismatch", "GET", "", map[string]string{"If-None-Match": `"other"`}, 200},
		{"If-Modified-Since Last-Modified", "GET", "", map[string]string{"If-Modified-Since": date(lm)}, 304},
		{"If-Unmodified-Since past", "GET", "", map[string]string{"If-Unmodified-Since": date(lm.Add(-time.Hour))}, 412},
		{"overrides", "GET", "response-content-type=text%2Fplain&response-cache-control=no-cache", nil, 200},
		{"overrides and range", "GET", "response-content-disposition=inline", map[string]string{"Range": "bytes=-3"}, 206},
		{"checksum mode", "GET", "", map[string]string{"X-Amz-Checksum-Mode": "ENABLED"}, 200},
		{"unsatisfiable range", "GET", "", map[string]string{"Range": "bytes=50-"}, 416},
		{"HEAD", "HEAD", "", nil, 200},
		{"HEAD in checksum mode", "HEAD", "", map[string]string{"X-Amz-Checksum-Mode": "ENABLED"}, 200},
		{"HEAD If-None-Match match", "HEAD", "", map[string]string{"If-None-Match": `"abc123"`}, 304},
		{"HEAD range", "HEAD", "", map[string]string{"Range": "bytes=0-3"}, 206},
		{"HEAD overrides", "HEAD", "response-content-language=fr", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, _, srv := newHitProxy(t, lm)
			url := srv.URL + "/bkt/k"
			if tc.query != "" {
				url += "?" + tc.query
			}
			miss := doSigned(t, tc.method, url, tc.header)
			missBody := readBody(t, miss)
			if miss.StatusCode != tc.status || miss.Header.Get("X-Cache") != xCacheMiss {
				t.Fatalf("miss: %d X-Cache %q, want %d MISS", miss.StatusCode, miss.Header.Get("X-Cache"), tc.status)
			}
			// An answer that needs no body may come before the fill is
			// stored; the plain read then joins the fill.
			waitFor(t, "the fill to be stored", func() bool {
				return doSigned(t, tc.method, srv.URL+"/bkt/k", nil).Header.Get("X-Cache") == xCacheHit
			})
			hit := doSigned(t, tc.method, url, tc.header)
			hitBody := readBody(t, hit)
			if hit.Header.Get("X-Cache") != xCacheHit {
				t.Errorf("the same request again: X-Cache %q, want HIT", hit.Header.Get("X-Cache"))
			}
			if hit.StatusCode != miss.StatusCode || hitBody != missBody && tc.status < 400 {
				t.Errorf("miss answered %d %q, hit %d %q", miss.StatusCode, missBody, hit.StatusCode, hitBody)
			}
			for _, h := range []http.Header{miss.Header, hit.Header} {
				for _, k := range []string{"X-Cache", "X-Amz-Request-Id", "Date"} {
					h.Del(k)
				}
			}
			if !maps.EqualFunc(miss.Header, hit.Header, slices.Equal) {
				t.Errorf("headers differ:\nmiss %v\nhit  %v", miss.Header, hit.Header)
			}
			// A range miss learns the object's size with a HEAD first.
			wantGets, wantHeads := 1, 0
			switch {
			case tc.method == "HEAD":
				wantGets, wantHeads = 0, 1
			case tc.header["Range"] != "":
				wantHeads = 1
			}
			if g, h := fake.getCount("/bkt/k"), fake.headCount("/bkt/k"); g != wantGets || h != wantHeads {
				t.Errorf("backend saw %d GETs and %d HEADs, want %d and %d", g, h, wantGets, wantHeads)
			}
		})
	}
}

// TestHitAllocsIndependentOfSize pins that no variant of a hit allocates
// with the object's size.
func TestHitAllocsIndependentOfSize(t *testing.T) {
	variants := []struct {
		name, query string
		header      map[string]string
	}{
		{"plain", "", nil},
		{"range", "", map[string]string{"Range": "bytes=100-"}},
		{"not modified", "", map[string]string{"If-None-Match": "*"}},
		{"override", "response-content-type=text%2Fplain", nil},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			// Bytes, not counts: the process's other goroutines (ristretto,
			// servers of earlier tests) make the count noisy by one now and
			// then, while a copy of the body would show as a mebibyte.
			var perHit []uint64
			for _, size := range []int{1 << 10, 1 << 20} {
				p, req := newBenchHit(t, size, v.query, v.header)
				w := &discardWriter{h: http.Header{}}
				perHit = append(perHit, bytesPerRun(200, func() {
					clear(w.h)
					p.ServeHTTP(w, req)
				}))
				if got := w.h.Get("X-Cache"); got != xCacheHit {
					t.Fatalf("X-Cache %q, want HIT", got)
				}
			}
			if perHit[1] > perHit[0]+1024 {
				t.Errorf("bytes allocated per hit: %d at 1 KiB, %d at 1 MiB; want no growth with size", perHit[0], perHit[1])
			}
		})
	}
}

// newBenchHit returns a proxy holding a size-byte object at /bkt/obj and a
// signed request for it with the given query and headers.
func newBenchHit(tb testing.TB, size int, query string, header map[string]string) (*Proxy, *http.Request) {
	tb.Helper()
	fake, backend := newFakeS3(tb)
	fake.objects["/bkt/obj"] = make([]byte, size)
	cfg := Config{Endpoint: backend.Listener.Addr().String(), AccessKey: testKey, SecretKey: testSecret, Logger: discardLogger()}
	p, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	sign := func(query string, header map[string]string) *http.Request {
		url := "http://proxy/bkt/obj"
		if query != "" {
			url += "?" + query
		}
		req := httptest.NewRequest("GET", url, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		signRequest(tb, req, "UNSIGNED-PAYLOAD", testSecret)
		return req
	}
	p.ServeHTTP(&discardWriter{h: http.Header{}}, sign("", nil)) // fill
	p.cache.Wait()
	return p, sign(query, header)
}

// BenchmarkServeHitVariants measures hits that answer a range, a
// precondition (304) and overrides, through the handler.
func BenchmarkServeHitVariants(b *testing.B) {
	variants := []struct {
		name, query string
		header      map[string]string
	}{
		{"range", "", map[string]string{"Range": "bytes=1024-"}},
		{"not-modified", "", map[string]string{"If-None-Match": "*"}},
		{"override", "response-content-type=text%2Fplain", nil},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			p, req := newBenchHit(b, 64<<10, v.query, v.header)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				p.ServeHTTP(w, req)
			}
			if got := w.h.Get("X-Cache"); got != xCacheHit {
				b.Fatalf("X-Cache %q, want HIT", got)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		spec       string
		size       int
		start, end int
		res        rangeResult
	}{
		{"", 10, 0, 0, rangeIgnored},
		{"bytes=0-0", 10, 0, 1, rangeSatisfiable},
		{"bytes=2-4", 10, 2, 5, rangeSatisfiable},
		{"bytes=2-", 10, 2, 10, rangeSatisfiable},
		{"bytes=-3", 10, 7, 10, rangeSatisfiable},
		{"bytes=-10", 10, 0, 10, rangeSatisfiable},
		{"bytes=-11", 10, 0, 10, rangeSatisfiable},
		{"bytes=8-100", 10, 8, 10, rangeSatisfiable},
		{"bytes=9-9", 10, 9, 10, rangeSatisfiable},
		{"bytes=01-02", 10, 1, 3, rangeSatisfiable},
		{"bytes=0-99999999999999999999", 10, 0, 10, rangeSatisfiable},
		{"bytes=-99999999999999999999", 10, 0, 10, rangeSatisfiable},
		{"bytes=10-", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=10-10", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=99999999999999999999-", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=-0", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=-000", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=0-", 0, 0, 0, rangeUnsatisfiable},
		{"bytes=0-0", 0, 0, 0, rangeUnsatisfiable},
		{"bytes=-0", 0, 0, 0, rangeUnsatisfiable},
		{"bytes=-5", 0, 0, 0, rangeIgnored},
		{"bytes=5-2", 10, 0, 0, rangeIgnored},
		{"bytes=-", 10, 0, 0, rangeIgnored},
		{"bytes=", 10, 0, 0, rangeIgnored},
		{"bytes=5", 10, 0, 0, rangeIgnored},
		{"bytes=a-b", 10, 0, 0, rangeIgnored},
		{"bytes=+1-2", 10, 0, 0, rangeIgnored},
		{"bytes=1-+2", 10, 0, 0, rangeIgnored},
		{"bytes=-1-2", 10, 0, 0, rangeIgnored},
		{"bytes= 1-2", 10, 0, 0, rangeIgnored},
		{"bytes=1-2 ", 10, 0, 0, rangeIgnored},
		{"bytes=0-1,3-4", 10, 0, 0, rangeIgnored},
		{"Bytes=1-2", 10, 0, 0, rangeIgnored},
		{"items=1-2", 10, 0, 0, rangeIgnored},
		{"1-2", 10, 0, 0, rangeIgnored},
	}
	for _, tt := range tests {
		t.Run(tt.spec+"/"+strconv.Itoa(tt.size), func(t *testing.T) {
			start, end, res := parseRange(tt.spec, tt.size)
			if res != tt.res || res == rangeSatisfiable && (start != tt.start || end != tt.end) {
				t.Errorf("parseRange(%q, %d) = %d, %d, %d; want %d, %d, %d",
					tt.spec, tt.size, start, end, res, tt.start, tt.end, tt.res)
			}
		})
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=2-4", "bytes=-3", "bytes=7-", "bytes=-0", "bytes=5-2",
		"bytes=0-1,3-4", "bytes=99999999999999999999-", "items=0-1", "bytes= 1-2", "bytes=-"} {
		f.Add(s, uint32(10))
		f.Add(s, uint32(0))
	}
	f.Fuzz(func(t *testing.T, spec string, size32 uint32) {
		size := int(size32)
		start, end, res := parseRange(spec, size)
		switch res {
		case rangeSatisfiable:
			if start < 0 || start >= end || end > size {
				t.Fatalf("parseRange(%q, %d) = [%d, %d): outside the object", spec, size, start, end)
			}
			// The range S3 reports in Content-Range parses back to itself.
			again := "bytes=" + strconv.Itoa(start) + "-" + strconv.Itoa(end-1)
			if s, e, r := parseRange(again, size); r != rangeSatisfiable || s != start || e != end {
				t.Fatalf("parseRange(%q, %d) = [%d, %d) but %q gives [%d, %d) %d", spec, size, start, end, again, s, e, r)
			}
		case rangeUnsatisfiable, rangeIgnored:
		default:
			t.Fatalf("parseRange(%q, %d): result %d", spec, size, res)
		}
		other := strings.IndexFunc(spec, func(r rune) bool { return !strings.ContainsRune("bytes=0123456789-", r) })
		if res != rangeIgnored && other >= 0 {
			t.Fatalf("parseRange(%q, %d) = %d; want a range with other characters ignored", spec, size, res)
		}
	})
}

func TestETagListMatch(t *testing.T) {
	tests := []struct {
		header, etag string
		weak, want   bool
	}{
		{`"a"`, `"a"`, false, true},
		{`a`, `"a"`, false, true},
		{`"a"`, `a`, false, true},
		{`"b"`, `"a"`, false, false},
		{`*`, `"a"`, false, true},
		{`*`, ``, false, true},
		{`"a"`, ``, false, false},
		{`"b", "a"`, `"a"`, false, true},
		{`"b" ,"a"`, `"a"`, false, true},
		{`"b",a`, `"a"`, false, true},
		{`W/"a"`, `"a"`, false, false},
		{`W/"a"`, `"a"`, true, true},
		{`"a"`, `W/"a"`, false, false},
		{`"a"`, `W/"a"`, true, true},
		{`""`, `"a"`, true, false},
		{`"a,b"`, `"a,b"`, false, true},
		{`"a`, `"a"`, false, true},
		{`, ,`, `"a"`, false, false},
	}
	for _, tt := range tests {
		if got := etagListMatch([]string{tt.header}, tt.etag, tt.weak); got != tt.want {
			t.Errorf("etagListMatch(%q, %q, weak=%v) = %v, want %v", tt.header, tt.etag, tt.weak, got, tt.want)
		}
	}
}

// bytesPerRun returns the bytes the process allocated per call of f, over
// runs calls after one warm-up call.
func bytesPerRun(runs int, f func()) uint64 {
	f()
	// TotalAlloc counts every goroutine's allocations: another test's
	// work still winding down (a fill, a connection closing) can add to
	// one measurement. The least of three is f's own.
	least := uint64(math.MaxUint64)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			f()
		}
		runtime.ReadMemStats(&after)
		least = min(least, (after.TotalAlloc-before.TotalAlloc)/uint64(runs))
	}
	return least
}

// TestPartNumber: a GET or HEAD of one part of a multipart object is
// answered from the whole object in the cache, with the part's headers
// (Content-Range, parts count) as the backend describes them to a HEAD of
// the proxy's own; the parts of a download share one backend read of the
// object; a part the backend refuses is relayed; a write makes every part
// description unservable.
func TestPartNumber(t *testing.T) {
	const obj = "aaaaaaaaaabbbbbbbbbbcccccccccc" // three parts of 10 bytes
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/mp"] = []byte(obj)
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/bkt/mp" {
			return false
		}
		h := w.Header()
		h.Set("ETag", `"mp-3"`)
		h.Set("Content-Type", "application/octet-stream")
		part := r.URL.Query().Get("partNumber")
		if part == "" {
			h.Set("Content-Length", strconv.Itoa(len(obj)))
			w.Write([]byte(obj))
			return true
		}
		n, _ := strconv.Atoi(part)
		if n < 1 || n > 3 {
			h.Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			io.WriteString(w, "<Error><Code>InvalidPartNumber</Code></Error>")
			return true
		}
		start := (n - 1) * 10
		h.Set("Content-Range", "bytes "+strconv.Itoa(start)+"-"+strconv.Itoa(start+9)+"/30")
		h.Set("Content-Length", "10")
		h.Set("X-Amz-Mp-Parts-Count", "3")
		w.WriteHeader(http.StatusPartialContent)
		w.Write([]byte(obj[start : start+10]))
		return true
	}
	p, srv := newTestProxy(t, backend, nil)
	get := func(method string, part int) (*http.Response, string) {
		res := doSigned(t, method, srv.URL+"/bkt/mp?partNumber="+strconv.Itoa(part), nil)
		return res, readBody(t, res)
	}
	for _, want := range []string{xCacheMiss, xCacheHit} {
		for n := 1; n <= 3; n++ {
			res, body := get("GET", n)
			start := (n - 1) * 10
			wantCR := "bytes " + strconv.Itoa(start) + "-" + strconv.Itoa(start+9) + "/30"
			if res.StatusCode != 206 || body != obj[start:start+10] || res.Header.Get("Content-Range") != wantCR ||
				res.Header.Get("X-Amz-Mp-Parts-Count") != "3" || res.Header.Get("Content-Length") != "10" {
				t.Errorf("part %d: %d %q %v, want 206 %q with %s", n, res.StatusCode, body, res.Header, obj[start:start+10], wantCR)
			}
			// A part's miss may join the fill another part started.
			if got := res.Header.Get("X-Cache"); got != want && !(want == xCacheMiss && got == xCacheHit) {
				t.Errorf("part %d: X-Cache %q, want %s", n, got, want)
			}
		}
		p.cache.Wait()
	}
	if g, h := fake.getCount("/bkt/mp"), fake.headCount("/bkt/mp"); g != 1 || h != 3 {
		t.Errorf("backend saw %d GETs and %d HEADs, want one GET of the object and a HEAD per part", g, h)
	}
	if res, body := get("HEAD", 2); res.StatusCode != 206 || body != "" || res.Header.Get("X-Cache") != xCacheHit ||
		res.Header.Get("Content-Range") != "bytes 10-19/30" || res.Header.Get("Content-Length") != "10" {
		t.Errorf("HEAD of part 2: %d X-Cache %q %v, want a 206 HIT", res.StatusCode, res.Header.Get("X-Cache"), res.Header)
	}
	if res, body := get("GET", 4); res.StatusCode != 416 || !strings.Contains(body, "InvalidPartNumber") ||
		res.Header.Get("X-Cache") != "BYPASS; reason=part-not-cacheable" {
		t.Errorf("part 4: %d %q X-Cache %q, want the backend's 416 relayed", res.StatusCode, body, res.Header.Get("X-Cache"))
	}
	readBody(t, do(t, "PUT", srv.URL+"/bkt/mp", []byte("new"), testSecret))
	heads := fake.headCount("/bkt/mp")
	if res, _ := get("HEAD", 1); res.Header.Get("X-Cache") != xCacheMiss || fake.headCount("/bkt/mp") != heads+1 {
		t.Errorf("part 1 after a write: X-Cache %q, want a MISS described anew", res.Header.Get("X-Cache"))
	}
}
