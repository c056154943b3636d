package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/s3cache/s3cache/cache"
)

// rangeS3 is a backend of one object per path that answers Range and
// If-Match the way S3 does (http.ServeContent), and records the Range of
// every GET.
type rangeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	gets    []string // "path range"
	// hold, if set, is received from before a GET with a Range answers.
	hold chan struct{}
	// swap, if set, replaces the object once a GET with a Range has
	// taken the current one: later GETs see the new version.
	swap []byte
}

func newRangeS3(t *testing.T) (*rangeS3, *httptest.Server) {
	f := &rangeS3{objects: map[string][]byte{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

func (f *rangeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		f.put(r.URL.Path, body)
		w.Header().Set("ETag", etagOf(body))
	case http.MethodDelete:
		f.mu.Lock()
		delete(f.objects, r.URL.Path)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet, http.MethodHead:
		f.mu.Lock()
		obj, ok := f.objects[r.URL.Path]
		if r.Method == http.MethodGet {
			f.gets = append(f.gets, r.URL.Path+" "+r.Header.Get("Range"))
		}
		if f.swap != nil && r.Header.Get("Range") != "" {
			f.objects[r.URL.Path], f.swap = f.swap, nil
		}
		hold := f.hold
		f.mu.Unlock()
		if hold != nil && r.Header.Get("Range") != "" {
			<-hold
		}
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("ETag", etagOf(obj))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Amz-Meta-Color", "blue")
		w.Header().Set("X-Amz-Checksum-Crc32", "AAAAAA==")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(obj))
	}
}

func (f *rangeS3) put(path string, body []byte) {
	f.mu.Lock()
	f.objects[path] = body
	f.mu.Unlock()
}

// takeGets returns the GETs recorded since the last call.
func (f *rangeS3) takeGets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.gets
	f.gets = nil
	return g
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// getRange sends a signed GET with an optional Range and returns the
// response with its body read.
func getRange(t *testing.T, url, rangeSpec string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rangeSpec != "" {
		req.Header.Set("Range", rangeSpec)
	}
	// As the SDKs ask by default: the whole object's checksums come back.
	req.Header.Set("X-Amz-Checksum-Mode", "ENABLED")
	signRequest(t, req, emptyPayloadHash, testSecret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

const testBlock = 4096

// newBlockProxy returns a proxy that caches objects over 8 KiB in blocks
// of 4 KiB.
func newBlockProxy(t *testing.T, backend *httptest.Server, prefetch int) (*Proxy, *testServer) {
	return newTestProxy(t, backend, func(c *Config) {
		c.CacheMaxObjectBytes = 2 * testBlock
		c.CacheBlockBytes = testBlock
		c.CachePrefetchBlocks = prefetch
	})
}

func TestBlockRanges(t *testing.T) {
	fake, backend := newRangeS3(t)
	obj := randomBytes(1, 10*testBlock+123)
	fake.put("/bkt/large", obj)
	p, srv := newBlockProxy(t, backend, -1)
	url := srv.URL + "/bkt/large"
	size := len(obj)
	tests := []struct {
		name, rangeSpec string
		start, end      int
		xcache          string
		gets            []string // backend GETs it causes
	}{
		// A HEAD learns the size; only the block needed is fetched.
		{"first touch", "bytes=5000-5009", 5000, 5010, xCacheMiss, []string{"/bkt/large bytes=4096-8191"}},
		{"repeat", "bytes=5000-5009", 5000, 5010, xCacheHit, nil},
		{"across a cached block", "bytes=100-12287", 100, 12288, xCacheMiss, []string{"/bkt/large bytes=0-4095", "/bkt/large bytes=8192-12287"}},
		{"adjacent misses merged", "bytes=20000-", 20000, size, xCacheMiss, []string{"/bkt/large bytes=16384-41082"}},
		{"suffix, cached", "bytes=-10", size - 10, size, xCacheHit, nil},
		{"gap filled", "", 0, size, xCacheMiss, []string{"/bkt/large bytes=12288-16383"}},
		{"whole, cached", "", 0, size, xCacheHit, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body, err := getRange(t, url, tt.rangeSpec)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus := http.StatusPartialContent
			if tt.rangeSpec == "" {
				wantStatus = http.StatusOK
			}
			if res.StatusCode != wantStatus || !bytes.Equal(body, obj[tt.start:tt.end]) {
				t.Errorf("got %d with %d bytes, want %d with bytes [%d, %d)", res.StatusCode, len(body), wantStatus, tt.start, tt.end)
			}
			if got := res.Header.Get("X-Cache"); got != tt.xcache {
				t.Errorf("X-Cache %q, want %q", got, tt.xcache)
			}
			if got, want := res.Header.Get("Content-Length"), strconv.Itoa(tt.end-tt.start); got != want {
				t.Errorf("Content-Length %s, want %s", got, want)
			}
			wantCR := ""
			if tt.rangeSpec != "" {
				wantCR = fmt.Sprintf("bytes %d-%d/%d", tt.start, tt.end-1, size)
			}
			if got := res.Header.Get("Content-Range"); got != wantCR {
				t.Errorf("Content-Range %q, want %q", got, wantCR)
			}
			// Like S3: whole-object checksums only with the whole object.
			if got, want := res.Header.Get("X-Amz-Checksum-Crc32") != "", tt.start == 0 && tt.end == size; got != want {
				t.Errorf("checksum header sent: %v, want %v", got, want)
			}
			if res.Header.Get("Etag") != etagOf(obj) || res.Header.Get("X-Amz-Meta-Color") != "blue" {
				t.Errorf("object headers missing: %v", res.Header)
			}
			if got := fake.takeGets(); fmt.Sprint(got) != fmt.Sprint(tt.gets) {
				t.Errorf("backend GETs %q, want %q", got, tt.gets)
			}
		})
	}
	res, _, _ := getRange(t, url, fmt.Sprintf("bytes=%d-", size))
	if res.StatusCode != http.StatusRequestedRangeNotSatisfiable || res.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
		t.Errorf("range past the end: %d %q, want 416 bytes */%d", res.StatusCode, res.Header.Get("Content-Range"), size)
	}
	if hits, misses := counterValue(t, p.blocks.hits), counterValue(t, p.blocks.misses); hits == 0 || misses != 11 {
		t.Errorf("block reads: %v hits, %v misses; want some hits and 11 misses (each block fetched once)", hits, misses)
	}
}

func TestBlockRandomRanges(t *testing.T) {
	fake, backend := newRangeS3(t)
	obj := randomBytes(2, 64*testBlock+7)
	fake.put("/bkt/large", obj)
	_, srv := newBlockProxy(t, backend, 2)
	rnd := rand.New(rand.NewPCG(3, 3))
	for i := range 200 {
		a := rnd.IntN(len(obj))
		b := a + rnd.IntN(3*testBlock)
		res, body, err := getRange(t, srv.URL+"/bkt/large", fmt.Sprintf("bytes=%d-%d", a, b))
		if err != nil {
			t.Fatal(err)
		}
		if b >= len(obj) {
			b = len(obj) - 1
		}
		if res.StatusCode != http.StatusPartialContent || !bytes.Equal(body, obj[a:b+1]) {
			t.Fatalf("read %d, bytes=%d-%d: %d with %d bytes, not the object's", i, a, b, res.StatusCode, len(body))
		}
	}
}

func TestBlockWholeFill(t *testing.T) {
	fake, backend := newRangeS3(t)
	obj := randomBytes(4, 5*testBlock+1)
	fake.put("/bkt/large", obj)
	p, srv := newBlockProxy(t, backend, -1)
	for _, want := range []string{xCacheMiss, xCacheHit} {
		res, body, err := getRange(t, srv.URL+"/bkt/large", "")
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 || !bytes.Equal(body, obj) || res.Header.Get("X-Cache") != want {
			t.Errorf("whole GET: %d, %d bytes, X-Cache %q; want 200, the object, %s", res.StatusCode, len(body), res.Header.Get("X-Cache"), want)
		}
	}
	if got := fake.takeGets(); len(got) != 1 {
		t.Errorf("backend GETs %q, want one whole GET", got)
	}
	// A write through the proxy makes the description and blocks
	// unservable.
	res := do(t, "PUT", srv.URL+"/bkt/large", []byte("small now"), testSecret)
	readBody(t, res)
	res, body, _ := getRange(t, srv.URL+"/bkt/large", "bytes=0-4")
	if string(body) != "small" || res.Header.Get("X-Cache") != xCacheMiss {
		t.Errorf("after a write: %q X-Cache %q, want %q MISS", body, res.Header.Get("X-Cache"), "small")
	}
	// The range miss learnt the new object's size with a HEAD, which
	// stored its description, and then filled it whole.
	if n := p.cache.PurgeKey("bkt", "large"); n != 2 {
		t.Errorf("entries after the write: %d, want the new object and its description", n)
	}
}

// TestBlockWritesFreeMemory: large objects cached in blocks and read often
// fill the cache; deleting them through the proxy frees their bytes at
// once (s3cache_cache_bytes drops to what the rest holds), and a new
// object of the same size is then cached: a HIT by its third read. Dead
// blocks left in the store until they expire would keep the cache full
// and win admission over the new object's.
func TestBlockWritesFreeMemory(t *testing.T) {
	const blocks = 10 // per large object
	fake, backend := newRangeS3(t)
	objects := map[string][]byte{"small": []byte("stays cached")}
	for i, name := range []string{"old1", "old2", "new"} {
		objects[name] = randomBytes(uint64(10+i), blocks*testBlock)
	}
	for name, body := range objects {
		fake.put("/bkt/"+name, body)
	}
	p, srv := newTestProxy(t, backend, func(c *Config) {
		c.CacheMaxObjectBytes = 2 * testBlock
		c.CacheBlockBytes = testBlock
		c.CachePrefetchBlocks = -1
		// Room for two of the large objects, not three.
		c.CacheMaxBytes = 3 * blocks * (testBlock + cache.EntryOverhead + 256) * 3 / 4
	})
	cacheBytes := func() float64 { return scrape(t, p)["s3cache_cache_bytes{}"] }
	read := func(name string) string {
		t.Helper()
		res, body, err := getRange(t, srv.URL+"/bkt/"+name, "")
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK || !bytes.Equal(body, objects[name]) {
			t.Fatalf("GET %s: %d with %d bytes, not the object", name, res.StatusCode, len(body))
		}
		return res.Header.Get("X-Cache")
	}

	read("small")
	if x := read("small"); x != xCacheHit {
		t.Fatalf("small object: X-Cache %s on its second read, want HIT", x)
	}
	small := cacheBytes()
	for _, name := range []string{"old1", "old2"} {
		for range 5 {
			read(name)
		}
		if x := read(name); x != xCacheHit {
			t.Fatalf("%s: X-Cache %s after six reads, want HIT", name, x)
		}
	}
	full := cacheBytes()
	t.Logf("s3cache_cache_bytes: %v with the small object, %v with the large ones too", small, full)
	if full < small+2*blocks*testBlock {
		t.Fatalf("s3cache_cache_bytes = %v with both large objects cached, want at least %v", full, small+2*blocks*testBlock)
	}

	for _, name := range []string{"old1", "old2"} {
		res := do(t, "DELETE", srv.URL+"/bkt/"+name, nil, testSecret)
		readBody(t, res)
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE %s: %d, want 204", name, res.StatusCode)
		}
	}
	if got := cacheBytes(); got != small {
		t.Errorf("s3cache_cache_bytes = %v after deleting the large objects, want %v, what the small one holds", got, small)
	}

	var xs []string
	for range 3 {
		xs = append(xs, read("new"))
	}
	if xs[2] != xCacheHit {
		t.Errorf("new object read three times: X-Cache %q, want a HIT by the third", xs)
	}
	if x := read("small"); x != xCacheHit {
		t.Errorf("small object: X-Cache %s after the deletes, want HIT", x)
	}
}

// TestBlockVersionsNeverMix changes the object on the backend behind the
// proxy's back between reads: a read either restarts on the new version
// before sending anything, or is aborted, and never returns a body mixing
// the two.
func TestBlockVersionsNeverMix(t *testing.T) {
	fake, backend := newRangeS3(t)
	v1 := randomBytes(5, 6*testBlock)
	v2 := randomBytes(6, 6*testBlock)
	fake.put("/bkt/large", v1)
	_, srv := newBlockProxy(t, backend, -1)
	url := srv.URL + "/bkt/large"
	// Blocks 0 and 2 of v1 cached.
	for _, rs := range []string{"bytes=0-10", "bytes=8192-8200"} {
		if _, body, err := getRange(t, url, rs); err != nil || len(body) != 11 && len(body) != 9 {
			t.Fatalf("GET %s: %v", rs, err)
		}
	}
	fake.put("/bkt/large", v2)

	// The first missing block (1) is asked for before the headers: 412,
	// so the read starts over on v2.
	res, body, err := getRange(t, url, "bytes=100-5000")
	if err != nil || res.StatusCode != 206 || !bytes.Equal(body, v2[100:5001]) {
		t.Errorf("range after the change: %v %v, equal to v2: %v, to v1: %v", err, res.StatusCode, bytes.Equal(body, v2[100:5001]), bytes.Equal(body, v1[100:5001]))
	}

	// Now v2 is described; change again and read blocks 0..4, of which 0
	// and 1 are cached (v2) and 2 is not: the run of block 2 gets a 412
	// before anything was sent, so it starts over on v3.
	v3 := randomBytes(7, 6*testBlock)
	fake.put("/bkt/large", v3)
	res, body, err = getRange(t, url, "bytes=0-20000")
	if err != nil || !bytes.Equal(body, v3[:20001]) {
		t.Errorf("range after a second change: err %v, %d bytes, equal to v3: %v", err, len(body), bytes.Equal(body, v3[:20001]))
	}
	if res.Header.Get("Etag") != etagOf(v3) {
		t.Errorf("ETag %q, want v3's", res.Header.Get("Etag"))
	}

	// Blocks 0-4 of v3 are cached, block 5 is not: a whole GET asks for
	// it before the headers, gets 412, and starts over on v4.
	v4 := randomBytes(8, 6*testBlock)
	fake.put("/bkt/large", v4)
	res, body, err = getRange(t, url, "")
	if err != nil || !bytes.Equal(body, v4) {
		t.Errorf("whole GET after a third change: err %v, %d bytes, equal to v4: %v", err, len(body), bytes.Equal(body, v4))
	}
}

// TestBlockAbortsMixedBody arranges for the change to be found after
// bytes were sent: the response must be cut, not completed from the new
// version.
func TestBlockAbortsMixedBody(t *testing.T) {
	fake, backend := newRangeS3(t)
	v1 := randomBytes(9, 4*testBlock)
	fake.put("/bkt/large", v1)
	_, srv := newBlockProxy(t, backend, -1)
	url := srv.URL + "/bkt/large"
	for _, rs := range []string{"bytes=0-1", "bytes=8192-8193"} { // blocks 0 and 2
		if _, _, err := getRange(t, url, rs); err != nil {
			t.Fatal(err)
		}
	}
	// A whole GET asks for block 1 before its headers, and gets v1; the
	// object changes right after, so block 3, asked for after blocks 0-2
	// went out, gets 412.
	fake.mu.Lock()
	fake.swap = randomBytes(10, 4*testBlock)
	fake.mu.Unlock()
	// On a new connection: the lean loop holds a small body back, so the
	// abort may come before any byte of the answer left, and on a reused
	// connection the client's transport would then send the GET again
	// and read the new version whole.
	http.DefaultClient.CloseIdleConnections()
	res, body, err := getRange(t, url, "")
	if err == nil {
		t.Errorf("read across a change completed: %d %d bytes (equal to v1: %v), want it aborted", res.StatusCode, len(body), bytes.Equal(body, v1))
	}
	if len(body) > 3*testBlock || !bytes.Equal(body, v1[:len(body)]) {
		t.Errorf("aborted read sent %d bytes, not a prefix of v1's first three blocks", len(body))
	}
}

func TestBlockConcurrentReadersShareFetches(t *testing.T) {
	fake, backend := newRangeS3(t)
	obj := randomBytes(12, 8*testBlock)
	fake.put("/bkt/large", obj)
	_, srv := newBlockProxy(t, backend, -1)
	url := srv.URL + "/bkt/large"
	if _, _, err := getRange(t, url, "bytes=0-0"); err != nil { // the description and block 0
		t.Fatal(err)
	}
	fake.takeGets()
	hold := make(chan struct{})
	fake.mu.Lock()
	fake.hold = hold
	fake.mu.Unlock()
	const readers = 8
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			res, body, err := getRange(t, url, "bytes=4096-20000")
			if err != nil || res.StatusCode != 206 || !bytes.Equal(body, obj[4096:20001]) {
				t.Errorf("concurrent read: %v, %d bytes", err, len(body))
			}
		})
	}
	// The first reader's fetch is held while the others arrive; whenever
	// they do, the blocks are claimed or cached, never missing.
	hold <- struct{}{}
	close(hold)
	wg.Wait()
	if got := fake.takeGets(); len(got) != 1 {
		t.Errorf("backend GETs %q, want one ranged GET for all readers", got)
	}
}

func TestBlockPrefetch(t *testing.T) {
	fake, backend := newRangeS3(t)
	obj := randomBytes(13, 6*testBlock+5)
	fake.put("/bkt/large", obj)
	p, srv := newBlockProxy(t, backend, 2)
	url := srv.URL + "/bkt/large"
	read := func(a, b int) string {
		t.Helper()
		res, body, err := getRange(t, url, fmt.Sprintf("bytes=%d-%d", a, b))
		if err != nil || !bytes.Equal(body, obj[a:min(b+1, len(obj))]) {
			t.Fatalf("bytes=%d-%d: %v, %d bytes", a, b, err, len(body))
		}
		p.blocks.idle() // prefetches started by this read
		return res.Header.Get("X-Cache")
	}
	read(0, testBlock-1)           // not sequential: no prefetch
	read(testBlock, 2*testBlock-1) // sequential: blocks 2 and 3 fetched ahead
	if got := counterValue(t, p.blocks.prefetched); got != 2 {
		t.Errorf("prefetched %v blocks, want 2", got)
	}
	if x := read(2*testBlock, 4*testBlock-1); x != xCacheHit {
		t.Errorf("read of prefetched blocks: X-Cache %q, want HIT", x)
	}
	// The next prefetch stops at the end of the object (blocks 4..6).
	read(4*testBlock, 5*testBlock-1)
	read(5*testBlock, 6*testBlock-1)
	if got := counterValue(t, p.blocks.prefetched); got != 5 {
		t.Errorf("prefetched %v blocks, want 5 (never past the last block)", got)
	}
	for _, g := range fake.takeGets() {
		if g == fmt.Sprintf("/bkt/large bytes=%d-", 7*testBlock) {
			t.Errorf("prefetch past the end: %s", g)
		}
	}
	// Every block's budget, reserved ahead by the prefetches, came back.
	if used := p.filling.used.Load(); used != 0 {
		t.Errorf("%d bytes of the fill budget still reserved after the reads and prefetches ended", used)
	}
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in               string
		start, end, size int64
		ok               bool
	}{
		{"bytes 0-9/10", 0, 10, 10, true},
		{"bytes 5-5/6", 5, 6, 6, true},
		{"bytes 5-9/*", 0, 0, 0, false},
		{"bytes */10", 0, 0, 0, false},
		{"bytes 9-5/10", 0, 0, 0, false},
		{"bytes 0-10/10", 0, 0, 0, false},
		{"bytes -1-5/10", 0, 0, 0, false},
		{"bytes 0-9/10x", 0, 0, 0, false},
		{"items 0-9/10", 0, 0, 0, false},
		{"bytes 0-99999999999999999999/99999999999999999999", 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, e, n, ok := parseContentRange(tt.in)
			if s != tt.start || e != tt.end || n != tt.size || ok != tt.ok {
				t.Errorf("parseContentRange(%q) = %d, %d, %d, %v; want %d, %d, %d, %v", tt.in, s, e, n, ok, tt.start, tt.end, tt.size, tt.ok)
			}
		})
	}
}

func FuzzParseContentRange(f *testing.F) {
	f.Add("bytes 0-9/10")
	f.Add("bytes */10")
	f.Add("bytes 1-2/3")
	f.Fuzz(func(t *testing.T, s string) {
		start, end, size, ok := parseContentRange(s)
		if !ok {
			return
		}
		if start < 0 || end <= start || end > size {
			t.Errorf("parseContentRange(%q) = [%d, %d) of %d", s, start, end, size)
		}
		if again := fmt.Sprintf("bytes %d-%d/%d", start, end-1, size); again != s {
			// Leading zeros are accepted; the value must still agree.
			if s2, e2, n2, ok2 := parseContentRange(again); !ok2 || s2 != start || e2 != end || n2 != size {
				t.Errorf("%q does not parse back", again)
			}
		}
	})
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// BenchmarkBlockRangeHit measures a signed 1 MiB range GET of an object
// cached in 1 MiB blocks, through the handler, the range straddling two
// blocks: verification, the description lookup, two block lookups and
// writing the two stored slices.
func BenchmarkBlockRangeHit(b *testing.B) {
	f := &rangeS3{objects: map[string][]byte{"/bkt/large": randomBytes(14, 64<<20)}}
	backend := httptest.NewServer(f)
	defer backend.Close()
	p, err := New(Config{
		Endpoint: backend.Listener.Addr().String(), AccessKey: testKey, SecretKey: testSecret,
		Logger: discardLogger(), CacheMaxBytes: 128 << 20, CacheMaxObjectBytes: 16 << 20, CachePrefetchBlocks: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	const start = 5<<20 + 512<<10
	req := httptest.NewRequest("GET", "http://proxy/bkt/large", nil)
	req.Header.Set("Range", "bytes="+strconv.Itoa(start)+"-"+strconv.Itoa(start+1<<20-1))
	signRequest(b, req, "UNSIGNED-PAYLOAD", testSecret)
	w := &discardWriter{h: http.Header{}}
	p.ServeHTTP(w, req) // the description and the two blocks
	w.h = http.Header{}
	p.ServeHTTP(w, req)
	if got := w.h.Get("X-Cache"); got != xCacheHit {
		b.Fatalf("X-Cache %q, want HIT", got)
	}
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		p.ServeHTTP(w, req)
	}
}

// The description of a large object answers HEAD, preconditions and
// response-* overrides without the backend, as a whole entry would.
func TestBlockHeadAndConditionals(t *testing.T) {
	fake, backend := newRangeS3(t)
	obj := randomBytes(9, 3*testBlock+10)
	fake.put("/bkt/large", obj)
	etag := etagOf(obj)
	_, srv := newBlockProxy(t, backend, -1)
	if _, body, err := getRange(t, srv.URL+"/bkt/large", ""); err != nil || !bytes.Equal(body, obj) {
		t.Fatalf("fill: %v, %d bytes", err, len(body))
	}
	fake.takeGets()
	send := func(method, rangeSpec string, header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/bkt/large?response-content-type=text%2Fplain", nil)
		if rangeSpec != "" {
			req.Header.Set("Range", rangeSpec)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		signRequest(t, req, emptyPayloadHash, testSecret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	for _, tc := range []struct {
		name, method, rangeSpec string
		header                  []string
		status                  int
		length                  string
	}{
		{"HEAD", "HEAD", "", nil, 200, strconv.Itoa(len(obj))},
		{"HEAD range", "HEAD", "bytes=10-19", nil, 206, "10"},
		{"If-None-Match", "GET", "", []string{"If-None-Match", etag}, 304, ""},
		{"If-Match other", "GET", "", []string{"If-Match", `"other"`}, 412, ""},
		{"If-Match", "GET", "bytes=0-9", []string{"If-Match", etag}, 206, "10"},
	} {
		res := send(tc.method, tc.rangeSpec, tc.header...)
		if res.StatusCode != tc.status || res.Header.Get("X-Cache") != xCacheHit {
			t.Errorf("%s: %d X-Cache %q, want %d HIT", tc.name, res.StatusCode, res.Header.Get("X-Cache"), tc.status)
		}
		if tc.length != "" && res.Header.Get("Content-Length") != tc.length {
			t.Errorf("%s: Content-Length %q, want %s", tc.name, res.Header.Get("Content-Length"), tc.length)
		}
		if tc.status < 300 && res.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("%s: Content-Type %q, want the override text/plain", tc.name, res.Header.Get("Content-Type"))
		}
		if tc.status == 304 && res.Header.Get("Etag") != etag {
			t.Errorf("%s: ETag %q, want %s", tc.name, res.Header.Get("Etag"), etag)
		}
	}
	if got := fake.takeGets(); len(got) != 0 {
		t.Errorf("backend GETs %q, want none: every answer is in the cache", got)
	}
}
