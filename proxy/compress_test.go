package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/s3cache/s3cache/cache"
)

// jsonBody returns a deterministic JSON array of about size bytes, like an
// API dump or a manifest: repeated field names, varied values.
func jsonBody(size int) []byte {
	r := rand.New(rand.NewPCG(7, uint64(size)))
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"item-%06d","price":%d.%02d,"tags":["%s","%s"],"active":%t,"owner":{"user":"u%04d","region":"eu-west-%d"}}`,
			i, r.IntN(1_000_000), r.IntN(500), r.IntN(100), words[r.IntN(len(words))], words[r.IntN(len(words))],
			r.IntN(2) == 0, r.IntN(5000), 1+r.IntN(3))
	}
	b.WriteString("]")
	return b.Bytes()
}

// csvBody returns a deterministic CSV table of about size bytes.
func csvBody(size int) []byte {
	r := rand.New(rand.NewPCG(8, uint64(size)))
	var b bytes.Buffer
	b.WriteString("date,station,temperature,humidity,wind,condition\n")
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%s,ST%03d,%d.%d,%d,%d.%d,%s\n", day.Add(time.Duration(i)*time.Hour).Format(time.RFC3339),
			r.IntN(200), r.IntN(40)-5, r.IntN(10), 20+r.IntN(80), r.IntN(30), r.IntN(10), words[r.IntN(len(words))])
	}
	return b.Bytes()
}

// logBody returns deterministic access-log lines of about size bytes.
func logBody(size int) []byte {
	r := rand.New(rand.NewPCG(9, uint64(size)))
	paths := []string{"/", "/index.html", "/api/v1/items", "/static/app.js", "/static/site.css", "/login", "/search?q="}
	agents := []string{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "curl/8.5.0", "aws-sdk-go-v2/1.30.0", "Go-http-client/1.1"}
	var b bytes.Buffer
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "10.%d.%d.%d - - [%s] \"GET %s%s HTTP/1.1\" %d %d \"-\" \"%s\"\n",
			r.IntN(256), r.IntN(256), r.IntN(256), t0.Add(time.Duration(i)*time.Second).Format("02/Jan/2006:15:04:05 -0700"),
			paths[r.IntN(len(paths))], words[r.IntN(len(words))], []int{200, 200, 200, 304, 404, 500}[r.IntN(6)], r.IntN(100_000), agents[r.IntN(len(agents))])
	}
	return b.Bytes()
}

// randomBody returns size deterministic random bytes: incompressible.
func randomBody(size int) []byte {
	r := rand.New(rand.NewPCG(10, uint64(size)))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

var words = strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu")

func TestCompressible(t *testing.T) {
	tests := []struct {
		ctype, cenc string
		size        int
		want        bool
	}{
		{"application/json", "", 4096, true},
		{"application/json; charset=utf-8", "", 4096, true},
		{"text/csv", "", 4096, true},
		{"text/html; charset=UTF-8", "", 4096, true},
		{"application/vnd.api+json", "", 4096, true},
		{"image/svg+xml", "", 4096, true},
		{"application/x-ndjson", "", 4096, true},
		{"application/javascript", "", 4096, true},
		{"application/yaml", "", 4096, true},
		{"Application/JSON", "", 4096, true},
		{"text/plain", "identity", 4096, true},
		{"application/json", "gzip", 4096, false},
		{"text/plain", "zstd", 4096, false},
		{"application/json", "", compressMinSize - 1, false},
		{"application/octet-stream", "", 4096, false},
		{"image/png", "", 4096, false},
		{"application/zstd", "", 4096, false},
		{"", "", 4096, false},
		{"not a media type;;", "", 4096, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s|%s|%d", tt.ctype, tt.cenc, tt.size), func(t *testing.T) {
			h := http.Header{}
			if tt.ctype != "" {
				h.Set("Content-Type", tt.ctype)
			}
			if tt.cenc != "" {
				h.Set("Content-Encoding", tt.cenc)
			}
			if got := compressible(h, tt.size); got != tt.want {
				t.Errorf("compressible(%q, %q, %d) = %v, want %v", tt.ctype, tt.cenc, tt.size, got, tt.want)
			}
		})
	}
}

func TestEncodeBody(t *testing.T) {
	jsonType := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name        string
		header      http.Header
		body        []byte
		wantEncoded bool
	}{
		{"json 64 KiB", jsonType, jsonBody(64 << 10), true},
		{"csv 4 KiB", http.Header{"Content-Type": {"text/csv"}}, csvBody(4 << 10), true},
		{"log 1 MiB", http.Header{"Content-Type": {"text/plain"}}, logBody(1 << 20), true},
		{"random bytes typed as JSON", jsonType, randomBody(64 << 10), false},
		{"octet-stream", http.Header{"Content-Type": {"application/octet-stream"}}, jsonBody(64 << 10), false},
		{"gzip-encoded", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}, jsonBody(64 << 10), false},
		{"tiny", jsonType, []byte(`{"a":1}`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := bytes.Clone(tt.body)
			stored, encoded := encodeBody(tt.header, tt.body)
			if !bytes.Equal(tt.body, orig) {
				t.Fatal("encodeBody modified the body")
			}
			if encoded != tt.wantEncoded {
				t.Fatalf("encoded = %v, want %v", encoded, tt.wantEncoded)
			}
			if !encoded {
				if &stored[0] != &tt.body[0] || len(stored) != len(tt.body) {
					t.Error("not encoded, but the stored bytes are not the body itself")
				}
				return
			}
			if len(stored) > len(tt.body)-len(tt.body)/8 {
				t.Errorf("stored %d bytes of %d: saves less than an eighth", len(stored), len(tt.body))
			}
			if cap(stored) != len(stored) {
				t.Errorf("stored slice has capacity %d for %d bytes", cap(stored), len(stored))
			}
			got, err := decodeBody(stored, len(tt.body))
			if err != nil || !bytes.Equal(got, tt.body) {
				t.Fatalf("decodeBody: %d bytes, %v; want the %d bytes encoded", len(got), err, len(tt.body))
			}
		})
	}
}

// zstdFrame compresses b into one frame, with or without its content size.
func zstdFrame(t testing.TB, b []byte, withSize bool) []byte {
	var out bytes.Buffer
	opts := []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest)}
	if !withSize {
		// A streaming writer that flushes before the end cannot know the
		// size up front.
		w, err := zstd.NewWriter(&out, opts...)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b[:len(b)/2])
		w.Flush()
		w.Write(b[len(b)/2:])
		w.Close()
		var fh zstd.Header
		if err := fh.Decode(out.Bytes()); err != nil || fh.HasFCS {
			t.Fatalf("streamed frame: header %+v, %v; want one without its content size", fh, err)
		}
		return out.Bytes()
	}
	enc, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(b, nil)
}

func TestDecodeBodyRefuses(t *testing.T) {
	body := jsonBody(16 << 10)
	good, _ := encodeBody(http.Header{"Content-Type": {"application/json"}}, body)
	bomb := make([]byte, 64<<20) // compresses to a few KiB
	tests := []struct {
		name   string
		stored []byte
		n      int
	}{
		{"empty", nil, 100},
		{"not zstd", []byte("plain text, not a frame"), 23},
		{"truncated", good[:len(good)/2], len(body)},
		{"one byte flipped", flip(good, len(good)/2), len(body)},
		{"length too small", good, len(body) - 1},
		{"length too large", good, len(body) + 1},
		{"length zero", good, 0},
		{"length negative", good, -1},
		{"two frames", append(bytes.Clone(good), good...), len(body)},
		{"two frames, twice the length", append(bytes.Clone(good), good...), 2 * len(body)},
		{"no content size", zstdFrame(t, body, false), len(body)},
		{"64 MiB bomb claimed as 1 KiB", zstdFrame(t, bomb, false), 1 << 10},
		{"64 MiB bomb with its size, claimed as 1 KiB", zstdFrame(t, bomb, true), 1 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeBody(tt.stored, tt.n)
			if !errors.Is(err, errCorruptBody) {
				t.Fatalf("decodeBody = %d bytes, %v; want an error wrapping errCorruptBody", len(got), err)
			}
		})
	}
}

// xmlCode returns the <Code> element of an S3 error body.
func xmlCode(body string) string {
	_, rest, _ := strings.Cut(body, "<Code>")
	code, _, _ := strings.Cut(rest, "</Code>")
	return code
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x55
	return b
}

// FuzzDecodeBody feeds decodeBody stored values a shared tier could hand
// back corrupted or forged: it must fail or return exactly n bytes, never
// panic, and never allocate for more than n bytes of body.
func FuzzDecodeBody(f *testing.F) {
	body := jsonBody(4 << 10)
	good, _ := encodeBody(http.Header{"Content-Type": {"application/json"}}, body)
	f.Add(good, uint32(len(body)))
	f.Add(good, uint32(1))
	f.Add(zstdFrame(f, body, false), uint32(len(body)))
	f.Add(zstdFrame(f, make([]byte, 1<<20), true), uint32(1<<10))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}, uint32(10))
	f.Fuzz(func(t *testing.T, stored []byte, n uint32) {
		n %= 1 << 20
		got, err := decodeBody(stored, int(n))
		if err != nil {
			if !errors.Is(err, errCorruptBody) {
				t.Fatalf("error %v does not wrap errCorruptBody", err)
			}
			return
		}
		if len(got) != int(n) || cap(got) > int(n) {
			t.Fatalf("decoded %d bytes (capacity %d), want exactly %d", len(got), cap(got), n)
		}
	})
}

// compressedObject is a JSON object the compression tests serve.
var compressedObject = jsonBody(48 << 10)

// newCompressProxies starts a backend serving compressedObject as JSON at
// /bkt/doc.json and random bytes as JSON at /bkt/random.json, and two
// proxies in front of it: one with CACHE_COMPRESS=off, one with zstd.
func newCompressProxies(t *testing.T, mod func(*Config)) (fake *fakeS3, off, on *Proxy, offURL, onURL string) {
	t.Helper()
	fake, backend := newFakeS3(t)
	objects := map[string][]byte{
		"/bkt/doc.json":    compressedObject,
		"/bkt/random.json": randomBody(32 << 10),
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
		fake.objects["/bkt/log-"+strconv.Itoa(i)] = logBody(64 << 10)
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
