package proxy

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/proxy/internal/zcodec/zcodectest"
)

// xmlCode returns the <Code> element of an S3 error body.
func xmlCode(body string) string {
	_, rest, _ := strings.Cut(body, "<Code>")
	code, _, _ := strings.Cut(rest, "</Code>")
	return code
}

// compressedObject is a JSON object the compression tests serve.
var compressedObject = zcodectest.JSON(48 << 10)

// newCompressProxies starts a backend serving compressedObject as JSON at
// /bkt/doc.json and random bytes as JSON at /bkt/random.json, and two
// proxies in front of it: one with CACHE_COMPRESS=off, one with zstd.
func newCompressProxies(t *testing.T, mod func(*Config)) (fake *fakeS3, off, on *Proxy, offURL, onURL string) {
	t.Helper()
	fake, backend := newFakeS3(t)
	objects := map[string][]byte{
		"/bkt/doc.json":    compressedObject,
		"/bkt/random.json": zcodectest.Random(32 << 10),
		"/bkt/doc.json.gz": compressedObject, // stands for gzip bytes: the header says so
	}
	lm := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		body, ok := objects[r.URL.Path]
		if !ok {
			return false
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, ".gz") {
			h.Set("Content-Encoding", "gzip")
		}
		h.Set("Etag", `"etag-`+strconv.Itoa(len(body))+`"`)
		h.Set("Last-Modified", lm)
		h.Set("X-Amz-Meta-Color", "blue")
		h.Set("X-Amz-Checksum-Crc32", "aaaaaa==")
		if r.Header.Get("If-None-Match") == h.Get("Etag") {
			w.WriteHeader(http.StatusNotModified)
			return true
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
		return true
	}
	with := func(compress string) (*Proxy, string) {
		p, srv := newTestProxy(t, backend, func(c *Config) {
			c.CacheCompress = compress
			if mod != nil {
				mod(c)
			}
		})
		return p, srv.URL
	}
	off, offURL = with("off")
	on, onURL = with("zstd")
	return fake, off, on, offURL, onURL
}

// comparedHeaders are the response headers a compressed entry must send
// exactly as an uncompressed one does.
var comparedHeaders = []string{
	"Content-Type", "Content-Length", "Content-Range", "Content-Encoding", "Etag", "Last-Modified",
	"X-Amz-Meta-Color", "X-Amz-Checksum-Crc32", "X-Cache",
}

// TestCompressedHits asks a proxy that holds a JSON object compressed and
// one that holds it as it is the same questions, and wants the same
// answers, byte for byte, from the miss on.
func TestCompressedHits(t *testing.T) {
	_, off, on, offURL, onURL := newCompressProxies(t, nil)
	size := strconv.Itoa(len(compressedObject))
	tests := []struct {
		name, method, query string
		header              map[string]string
		status              int
	}{
		{name: "miss", status: 200},
		{name: "hit", status: 200},
		{name: "head", method: "HEAD", status: 200},
		{name: "range", header: map[string]string{"Range": "bytes=1000-1999"}, status: 206},
		{name: "open range", header: map[string]string{"Range": "bytes=40000-"}, status: 206},
		{name: "suffix range", header: map[string]string{"Range": "bytes=-100"}, status: 206},
		{name: "whole range", header: map[string]string{"Range": "bytes=0-"}, status: 206},
		{name: "range head", method: "HEAD", header: map[string]string{"Range": "bytes=5-9"}, status: 206},
		{name: "unsatisfiable range", header: map[string]string{"Range": "bytes=" + size + "-"}, status: 416},
		{name: "not modified", header: map[string]string{"If-None-Match": `"etag-` + size + `"`}, status: 304},
		{name: "precondition failed", header: map[string]string{"If-Match": `"other"`}, status: 412},
		{name: "if-match holds", header: map[string]string{"If-Match": `"etag-` + size + `"`}, status: 200},
		{name: "override", query: "response-content-type=text%2Fplain&response-cache-control=no-store", status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := cmpOr(tt.method, "GET")
			url := "/bkt/doc.json"
			if tt.query != "" {
				url += "?" + tt.query
			}
			want := doSigned(t, method, offURL+url, tt.header)
			wantBody := readBody(t, want)
			got := doSigned(t, method, onURL+url, tt.header)
			gotBody := readBody(t, got)
			if got.StatusCode != tt.status || want.StatusCode != tt.status {
				t.Fatalf("status %d compressed, %d not, want %d", got.StatusCode, want.StatusCode, tt.status)
			}
			if tt.status >= 400 {
				// Error bodies carry request ids; the codes must agree.
				gotBody, wantBody = xmlCode(gotBody), xmlCode(wantBody)
			}
			if gotBody != wantBody {
				t.Errorf("body: %d bytes compressed, %d not; they differ", len(gotBody), len(wantBody))
			}
			if tt.status < 300 && method == "GET" && !strings.Contains(string(compressedObject), gotBody) {
				t.Errorf("body of %d bytes is not part of the object", len(gotBody))
			}
			for _, k := range comparedHeaders {
				if g, w := got.Header.Values(k), want.Header.Values(k); strings.Join(g, "\n") != strings.Join(w, "\n") {
					t.Errorf("%s: %q compressed, %q not", k, g, w)
				}
			}
			off.cache.Wait()
			on.cache.Wait()
		})
	}

	e, ok := on.cache.Get("bkt", "doc.json", cache.Key("bkt", "doc.json", ""))
	if !ok || !e.Encoded() {
		t.Fatalf("entry held compressed: %v (found %v), want true", ok && e.Encoded(), ok)
	}
	onBytes, offBytes := on.cache.Stats().Bytes, off.cache.Stats().Bytes
	if onBytes >= offBytes-int64(len(compressedObject))/2 {
		t.Errorf("cache bytes %d compressed, %d not; want it to hold less than half the %d body bytes", onBytes, offBytes, len(compressedObject))
	}
	m := scrape(t, on)
	if got := m["s3cache_cache_compressed_entries{}"]; got != 1 {
		t.Errorf("s3cache_cache_compressed_entries = %v, want 1", got)
	}
	if got, want := m["s3cache_cache_compression_saved_bytes{}"], float64(offBytes-onBytes); got != want {
		t.Errorf("s3cache_cache_compression_saved_bytes = %v, want %v (the difference in cache bytes)", got, want)
	}
}

// TestCompressedStoredRaw: objects that do not compress, or come encoded,
// are held as they are, and served as they are.
func TestCompressedStoredRaw(t *testing.T) {
	_, _, on, _, onURL := newCompressProxies(t, nil)
	for _, key := range []string{"random.json", "doc.json.gz"} {
		t.Run(key, func(t *testing.T) {
			var first string
			for i, want := range []string{xCacheMiss, xCacheHit} {
				res := doSigned(t, "GET", onURL+"/bkt/"+key, nil)
				body := readBody(t, res)
				if res.StatusCode != 200 || res.Header.Get("X-Cache") != want {
					t.Fatalf("GET %d: %d X-Cache %q, want 200 %s", i+1, res.StatusCode, res.Header.Get("X-Cache"), want)
				}
				if i == 0 {
					first = body
				} else if body != first {
					t.Errorf("the hit sent other bytes than the miss")
				}
				on.cache.Wait()
			}
			e, ok := on.cache.Get("bkt", key, cache.Key("bkt", key, ""))
			if !ok || e.Encoded() || len(e.Body) != len(first) {
				t.Errorf("entry found %v, encoded %v, %d bytes; want it held as the %d bytes it is", ok, ok && e.Encoded(), len(e.Body), len(first))
			}
		})
	}
	if got := scrape(t, on)["s3cache_cache_compressed_entries{}"]; got != 0 {
		t.Errorf("s3cache_cache_compressed_entries = %v, want 0", got)
	}
}

// TestCompressedRevalidation: an expired compressed entry that the backend
// confirms (304) is served again, compressed, without the body moving.
func TestCompressedRevalidation(t *testing.T) {
	clk := &offsetClock{}
	fake, _, on, _, onURL := newCompressProxies(t, func(c *Config) { c.CacheTTL = time.Minute; c.Now = clk.Now })
	get := func(want string) {
		t.Helper()
		res := doSigned(t, "GET", onURL+"/bkt/doc.json", nil)
		if body := readBody(t, res); res.StatusCode != 200 || body != string(compressedObject) || res.Header.Get("X-Cache") != want {
			t.Fatalf("GET: %d, %d bytes, X-Cache %q; want 200, the %d bytes, %s", res.StatusCode, len(body), res.Header.Get("X-Cache"), len(compressedObject), want)
		}
		on.cache.Wait()
	}
	get(xCacheMiss)
	get(xCacheHit)
	clk.Advance(90 * time.Second)
	get(xCacheRevalidated)
	get(xCacheHit)
	if n := fake.getCount("/bkt/doc.json"); n != 2 {
		t.Errorf("backend GETs = %d, want 2 (fill, conditional GET)", n)
	}
	if e, ok := on.cache.Get("bkt", "doc.json", cache.Key("bkt", "doc.json", "")); !ok || !e.Encoded() {
		t.Errorf("revalidated entry found %v, encoded %v; want found, encoded", ok, ok && e.Encoded())
	}
}

// TestCompressedFitsMore: under the same CACHE_MAX_BYTES, compression
// keeps objects a plain cache has to evict.
func TestCompressedFitsMore(t *testing.T) {
	const n = 16
	fake, backend := newFakeS3(t) // serves text/plain
	for i := range n {
		fake.objects["/bkt/log-"+strconv.Itoa(i)] = zcodectest.Log(64 << 10)
	}
	held := func(compress string) int {
		p, srv := newTestProxy(t, backend, func(c *Config) {
			c.CacheCompress = compress
			c.CacheMaxBytes = 4 * (64<<10 + 4<<10) // room for four plain ones
		})
		for i := range n {
			res := doSigned(t, "GET", srv.URL+"/bkt/log-"+strconv.Itoa(i), nil)
			io.Copy(io.Discard, res.Body)
			p.cache.Wait()
		}
		return int(p.cache.Stats().Entries)
	}
	plain, compressed := held("off"), held("zstd")
	if compressed <= plain || compressed < n/2 {
		t.Errorf("entries held: %d compressed, %d plain, of %d; want compression to hold at least half, and more than plain", compressed, plain, n)
	}
}
