package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/s3cache/s3cache/sigv4"
)

const (
	testKey    = "AKIDTEST"
	testSecret = "test-secret"
)

// fakeS3 is an in-memory S3 backend for unit tests: objects by path, GET,
// HEAD, PUT, DELETE, and a hook to hold or break GET responses. It verifies
// the proxy's outbound signature with the sigv4 verifier.
type fakeS3 struct {
	t        testing.TB
	verifier *sigv4.Verifier
	mu       sync.Mutex
	objects  map[string][]byte
	gets     map[string]int
	heads    map[string]int
	// onGet, if set, runs before a GET or HEAD answers; it may write the
	// response itself and return true.
	onGet func(w http.ResponseWriter, r *http.Request) bool
	// onPut, if set, runs before a PUT is stored.
	onPut func(w http.ResponseWriter, r *http.Request)
}

func newFakeS3(t testing.TB) (*fakeS3, *httptest.Server) {
	f := &fakeS3{
		t:        t,
		verifier: &sigv4.Verifier{Credentials: sigv4.StaticCredentials{testKey: testSecret}},
		objects:  map[string][]byte{},
		gets:     map[string]int{},
		heads:    map[string]int{},
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res, err := f.verifier.Verify(r)
	if err != nil {
		f.t.Errorf("backend: outbound signature of %s %s: %v", r.Method, r.URL, err)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	path := r.URL.Path
	if bucket, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/"); r.Method == http.MethodGet && rest == "" && r.URL.Query().Get("list-type") == "2" {
		f.list(w, bucket, r.URL.Query().Get("prefix"))
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		f.mu.Lock()
		obj, ok := f.objects[path]
		if r.Method == http.MethodGet {
			f.gets[path]++
		} else {
			f.heads[path]++
		}
		hook := f.onGet
		f.mu.Unlock()
		if hook != nil && hook(w, r) {
			return
		}
		if path == "/" && r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "application/xml")
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>fake</ID></Owner><Buckets><Bucket><Name>bkt</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>`)
			return
		}
		if !ok {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "<Error><Code>NoSuchKey</Code></Error>")
			return
		}
		sum := sha256.Sum256(obj)
		etag := `"` + hex.EncodeToString(sum[:16]) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Amz-Meta-Color", "blue")
		w.Header().Set("X-Amz-Request-Id", "BACKEND")
		w.Header().Set("Content-Length", strconv.Itoa(len(obj)))
		if r.Method == http.MethodGet {
			w.Write(obj)
		}
	case http.MethodPut:
		f.mu.Lock()
		hook := f.onPut
		f.mu.Unlock()
		if hook != nil {
			hook(w, r)
		}
		f.mu.Lock()
		f.objects[path] = body
		f.mu.Unlock()
	case http.MethodDelete:
		f.mu.Lock()
		delete(f.objects, path)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
}

// list answers a ListObjectsV2 of bucket with every key under prefix, in
// one page.
func (f *fakeS3) list(w http.ResponseWriter, bucket, prefix string) {
	f.mu.Lock()
	var keys []string
	for path := range f.objects {
		if k, ok := strings.CutPrefix(path, "/"+bucket+"/"); ok && strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	fmt.Fprintf(&b, "<Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>", bucket, prefix, len(keys))
	for _, k := range keys {
		fmt.Fprintf(&b, "<Contents><Key>%s</Key><Size>%d</Size><ETag>&quot;x&quot;</ETag><StorageClass>STANDARD</StorageClass></Contents>", k, len(f.objects["/"+bucket+"/"+k]))
	}
	b.WriteString("</ListBucketResult>")
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/xml")
	io.WriteString(w, b.String())
}

func (f *fakeS3) getCount(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets[path]
}

func (f *fakeS3) headCount(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.heads[path]
}

// newTestProxy starts a proxy in front of backend, served through the
// front end s3cache runs (serveFrontEnd).
func newTestProxy(t *testing.T, backend *httptest.Server, mod func(*Config)) (*Proxy, *testServer) {
	cfg := Config{
		Endpoint:  strings.TrimPrefix(backend.URL, "http://"),
		AccessKey: testKey,
		SecretKey: testSecret,
		Logger:    discardLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close) // after the server's own cleanup: cleanups run last first
	return p, serveFrontEnd(t, p)
}

// do sends a request signed for the proxy with the given secret.
func do(t *testing.T, method, url string, body []byte, secret string) *http.Response {
	t.Helper()
	res, err := send(t, method, url, body, secret)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// send is do that returns the transport's error.
func send(t *testing.T, method, url string, body []byte, secret string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	signRequest(t, req, hex.EncodeToString(sum[:]), secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { res.Body.Close() })
	return res, nil
}

func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return string(b)
}

func TestMissThenHit(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/a//b"] = []byte("hello")
	p, srv := newTestProxy(t, backend, nil)

	for i, want := range []string{xCacheMiss, xCacheHit} {
		res := do(t, "GET", srv.URL+"/bkt/a//b", nil, testSecret)
		if got := readBody(t, res); res.StatusCode != 200 || got != "hello" {
			t.Fatalf("GET %d: %d %q, want 200 hello", i, res.StatusCode, got)
		}
		if got := res.Header.Get("X-Cache"); got != want {
			t.Errorf("GET %d: X-Cache %q, want %q", i, got, want)
		}
		if got := res.Header.Get("X-Amz-Meta-Color"); got != "blue" {
			t.Errorf("GET %d: x-amz-meta-color %q, want blue", i, got)
		}
		if ids := res.Header.Values("X-Amz-Request-Id"); len(ids) != 1 || ids[0] == "BACKEND" {
			t.Errorf("GET %d: request ids %q, want one of the proxy's", i, ids)
		}
		p.cache.Wait()
	}
	res := do(t, "HEAD", srv.URL+"/bkt/a//b", nil, testSecret)
	if res.Header.Get("X-Cache") != xCacheHit || res.ContentLength != 5 {
		t.Errorf("HEAD after GET: X-Cache %q length %d, want HIT 5", res.Header.Get("X-Cache"), res.ContentLength)
	}
	if n := fake.getCount("/bkt/a//b"); n != 1 {
		t.Errorf("backend saw %d GETs, want 1", n)
	}
	// The /objects front end shares the entry.
	res = do(t, "GET", srv.URL+"/objects/bkt/a//b", nil, testSecret)
	if got := readBody(t, res); got != "hello" || res.Header.Get("X-Cache") != xCacheHit {
		t.Errorf("/objects GET: %q X-Cache %q, want hello HIT", got, res.Header.Get("X-Cache"))
	}
	// A wrong secret is refused before the cache.
	res = do(t, "GET", srv.URL+"/bkt/a//b", nil, "wrong")
	if body := readBody(t, res); res.StatusCode != 403 || !strings.Contains(body, "<Code>SignatureDoesNotMatch</Code>") {
		t.Errorf("wrong secret: %d %s, want 403 SignatureDoesNotMatch", res.StatusCode, body)
	}
}

func TestWriteInvalidates(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("old")
	p, srv := newTestProxy(t, backend, nil)
	tests := []struct {
		name, method, url string
		body              []byte
		wantStatus        int
		wantBody          string
	}{
		{"put via S3", "PUT", "/bkt/k", []byte("new"), 200, "new"},
		{"put via objects", "PUT", "/objects/bkt/k", []byte("newer"), 200, "newer"},
		{"delete via S3", "DELETE", "/bkt/k", nil, 204, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			readBody(t, do(t, "GET", srv.URL+"/bkt/k", nil, testSecret))
			p.cache.Wait()
			res := do(t, tt.method, srv.URL+tt.url, tt.body, testSecret)
			if res.StatusCode/100 != 2 {
				t.Fatalf("%s: status %d: %s", tt.method, res.StatusCode, readBody(t, res))
			}
			res = do(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
			got := readBody(t, res)
			if tt.wantBody == "" {
				if res.StatusCode != 404 || !strings.Contains(got, "NoSuchKey") {
					t.Errorf("GET after delete: %d %q, want 404 NoSuchKey", res.StatusCode, got)
				}
				return
			}
			if got != tt.wantBody || res.Header.Get("X-Cache") != xCacheMiss {
				t.Errorf("GET after write: %q X-Cache %q, want %q MISS", got, res.Header.Get("X-Cache"), tt.wantBody)
			}
		})
	}
}

// TestNoStaleFill holds a GET miss inside the backend while a PUT goes
// through the proxy; the old bytes the miss then returns must not be
// cached.
func TestNoStaleFill(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("old")
	p, srv := newTestProxy(t, backend, nil)

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		first := false
		once.Do(func() { first = true })
		if first {
			close(entered)
			<-release
			w.Header().Set("Content-Length", "3")
			w.Write([]byte("old"))
			return true
		}
		return false
	}
	done := make(chan string)
	go func() {
		res := do(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
		b, _ := io.ReadAll(res.Body)
		done <- string(b)
	}()
	<-entered
	if res := do(t, "PUT", srv.URL+"/bkt/k", []byte("new"), testSecret); res.StatusCode != 200 {
		t.Fatalf("PUT: %d", res.StatusCode)
	}
	close(release)
	if got := <-done; got != "old" {
		t.Fatalf("racing GET got %q, want old", got)
	}
	p.cache.Wait()
	res := do(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
	if got := readBody(t, res); got != "new" {
		t.Errorf("GET after PUT returned %q (X-Cache %s), want new", got, res.Header.Get("X-Cache"))
	}
}

// TestBackendCutsBody: a backend that sends an object's headers and then
// cuts its body, on each way a GET is relayed (a shared fill, a stream of
// unknown length, a large object block by block, a bypass). Cut before the
// first byte, the client gets 502 BadGateway; cut after bytes reached it,
// a broken body, never one that looks complete; the bytes sent before a
// stall reach the client while the backend waits. Either way the next GET
// has every byte. Both front ends: the lean loop and net/http's server.
func TestBackendCutsBody(t *testing.T) {
	obj := bytes.Repeat([]byte("x"), 100<<10)
	sum := sha256.Sum256(obj)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	for _, way := range []struct {
		name   string
		length bool   // the backend sends a Content-Length
		query  string // of the GETs
		xcache string // of the GET after the cut
		mod    func(*Config)
	}{
		{name: "shared fill", length: true, xcache: xCacheMiss},
		{name: "length unknown", xcache: xCacheMiss},
		{name: "large", length: true, xcache: xCacheMiss, mod: func(c *Config) {
			c.CacheMaxObjectBytes = 2 * testBlock
			c.CacheBlockBytes = testBlock
			c.CachePrefetchBlocks = -1
		}},
		{name: "bypassed", length: true, query: "?partNumber=1", xcache: "BYPASS; reason=part-not-cacheable"},
		{name: "bypassed, length unknown", query: "?partNumber=1", xcache: "BYPASS; reason=part-not-cacheable"},
	} {
		for _, c := range []struct {
			server string
			before bool
		}{{"lean", true}, {"lean", false}, {"net/http", true}, {"net/http", false}} {
			before := c.before
			name := way.name + "/" + c.server + "/after bytes"
			if before {
				name = way.name + "/" + c.server + "/before any byte"
			}
			t.Run(name, func(t *testing.T) {
				fake, backend := newFakeS3(t)
				fake.objects["/bkt/k"] = obj
				p, lean := newTestProxy(t, backend, way.mod)
				url := lean.URL
				if c.server == "net/http" {
					hs := httptest.NewServer(p)
					t.Cleanup(hs.Close)
					url = hs.URL
				}
				received := make(chan struct{}) // the client has bytes of the body
				var once sync.Once
				fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
					cut := false
					if r.Method == http.MethodGet {
						once.Do(func() { cut = true })
					}
					w.Header().Set("ETag", etag)
					if !cut {
						// Ranges too: the large object's blocks.
						http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(obj))
						return true
					}
					if way.length {
						w.Header().Set("Content-Length", strconv.Itoa(len(obj)))
					}
					w.WriteHeader(http.StatusOK)
					if !before {
						// Less than the lean front end batches: it must
						// still reach the client while the backend waits.
						w.Write(obj[:10<<10])
					}
					w.(http.Flusher).Flush()
					if !before {
						select {
						case <-received:
						case <-r.Context().Done():
						}
					}
					panic(http.ErrAbortHandler)
				}
				res := do(t, "GET", url+"/bkt/k"+way.query, nil, testSecret)
				switch {
				case before:
					body := readBody(t, res)
					if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "<Code>BadGateway</Code>") {
						t.Errorf("GET cut before any byte: %d %s, want 502 BadGateway", res.StatusCode, body)
					}
				default:
					first := make(chan error, 1)
					go func() {
						_, err := io.ReadFull(res.Body, make([]byte, 1))
						first <- err
					}()
					select {
					case err := <-first:
						if err != nil {
							t.Fatalf("GET cut after bytes: reading its first byte: %v", err)
						}
					case <-time.After(10 * time.Second): // a bound on failure, not a synchronisation
						t.Fatal("GET cut after bytes: no byte reached the client while the backend waited")
					}
					close(received)
					if _, err := io.ReadAll(res.Body); err == nil {
						t.Errorf("GET cut after bytes: the body ended with no error, want one")
					}
				}
				p.cache.Wait()
				res = do(t, "GET", url+"/bkt/k"+way.query, nil, testSecret)
				if got := readBody(t, res); got != string(obj) || res.Header.Get("X-Cache") != way.xcache {
					t.Errorf("GET after the cut: %d bytes X-Cache %q, want %d, %s", len(got), res.Header.Get("X-Cache"), len(obj), way.xcache)
				}
			})
		}
	}
}

// TestBackendStallsBeforeBody: a backend that sends its header and then
// nothing past BackendTimeout gets the client 504 GatewayTimeout, on a
// miss and a bypassed read, on both front ends: the status line waits for
// the first byte, also past the pass-through's periodic flush.
func TestBackendStallsBeforeBody(t *testing.T) {
	obj := []byte("0123456789")
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = obj
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(obj)))
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-stop:
		case <-r.Context().Done():
		}
		return true
	}
	p, lean := newTestProxy(t, backend, func(c *Config) { c.BackendTimeout = 3 * relayFlushInterval })
	hs := httptest.NewServer(p)
	t.Cleanup(hs.Close)
	for _, url := range []string{lean.URL, hs.URL} {
		for _, query := range []string{"", "?partNumber=1"} {
			res, err := send(t, "GET", url+"/bkt/k"+query, nil, testSecret)
			if err != nil {
				t.Errorf("GET %s: %v, want 504", query, err)
				continue
			}
			if body := readBody(t, res); res.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, "<Code>GatewayTimeout</Code>") {
				t.Errorf("GET %s: %d %s, want 504 GatewayTimeout", query, res.StatusCode, body)
			}
		}
	}
}

// TestBackendCutsErrorBody: a backend that cuts the S3 error body it
// answers a write with, which the proxy reads whole to give it the
// request's id, gets the client 502 BadGateway, on both front ends.
func TestBackendCutsErrorBody(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.onPut = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Content-Length", "200")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "<Error><Code>InternalError</Code>")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	p, lean := newTestProxy(t, backend, nil)
	hs := httptest.NewServer(p)
	t.Cleanup(hs.Close)
	for _, url := range []string{lean.URL, hs.URL} {
		res := do(t, "PUT", url+"/bkt/k", []byte("body"), testSecret)
		if body := readBody(t, res); res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "<Code>BadGateway</Code>") {
			t.Errorf("%s: %d %s, want 502 BadGateway", url, res.StatusCode, body)
		}
	}
}

func TestBypassAndErrors(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("0123456789")
	_, srv := newTestProxy(t, backend, nil)

	t.Run("a part number bypasses, saying why", func(t *testing.T) {
		res := do(t, "GET", srv.URL+"/bkt/k?partNumber=0", nil, testSecret)
		if got, want := res.Header.Get("X-Cache"), "BYPASS; reason=query-partNumber"; got != want {
			t.Errorf("X-Cache %q, want %q", got, want)
		}
	})
	t.Run("missing key is a relayed 404", func(t *testing.T) {
		res := do(t, "GET", srv.URL+"/bkt/nope", nil, testSecret)
		if body := readBody(t, res); res.StatusCode != 404 || !strings.Contains(body, "NoSuchKey") {
			t.Errorf("%d %s, want 404 NoSuchKey", res.StatusCode, body)
		}
	})
	t.Run("invalid bucket name", func(t *testing.T) {
		res := do(t, "GET", srv.URL+"/B_ad/k", nil, testSecret)
		if body := readBody(t, res); res.StatusCode != 400 || !strings.Contains(body, "InvalidBucketName") {
			t.Errorf("%d %s, want 400 InvalidBucketName", res.StatusCode, body)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		res, err := http.Get(srv.URL + "/bkt/k")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if body := readBody(t, res); res.StatusCode != 403 || !strings.Contains(body, "AccessDenied") {
			t.Errorf("%d %s, want 403 AccessDenied", res.StatusCode, body)
		}
	})
}

func TestBackendDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	_, srv := newTestProxy(t, dead, func(c *Config) { c.BackendTimeout = 2 * time.Second })
	for _, path := range []string{"/bkt/k", "/bkt?list-type=2", "/-/readyz"} {
		t.Run(path, func(t *testing.T) {
			res := do(t, "GET", srv.URL+path, nil, testSecret)
			body := readBody(t, res)
			if res.StatusCode != 503 || !strings.Contains(body, "<Code>ServiceUnavailable</Code>") {
				t.Errorf("%d %s, want 503 ServiceUnavailable", res.StatusCode, body)
			}
		})
	}
}

// TestBackendStallsMidBody: a backend that sends half a body and stops is
// cut off after BackendTimeout; the client sees a broken response and
// nothing is cached.
func TestBackendStallsMidBody(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("0123456789")
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	var once sync.Once
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		stall := false
		once.Do(func() { stall = true })
		if !stall {
			return false
		}
		w.Header().Set("Content-Length", "10")
		w.Write([]byte("01234"))
		w.(http.Flusher).Flush()
		select {
		case <-stop:
		case <-r.Context().Done():
		}
		return true
	}
	p, srv := newTestProxy(t, backend, func(c *Config) { c.BackendTimeout = 200 * time.Millisecond })
	// The abort may come before or after the response headers reach the
	// client; either way the client must see an error, not a short body.
	res, err := send(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
	if err == nil {
		_, err = io.ReadAll(res.Body)
	}
	if err == nil {
		t.Fatal("GET of a stalled body: no error, want one")
	}
	p.cache.Wait()
	res = do(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
	if got := readBody(t, res); got != "0123456789" || res.Header.Get("X-Cache") != xCacheMiss {
		t.Errorf("GET after stall: %q X-Cache %q, want full body, MISS", got, res.Header.Get("X-Cache"))
	}
}

// TestClientStallsMidBody: an upload whose client stops sending gets
// 400 RequestTimeout after ClientIdleTimeout, and the object is not written.
func TestClientStallsMidBody(t *testing.T) {
	fake, backend := newFakeS3(t)
	_, srv := newTestProxy(t, backend, func(c *Config) { c.ClientIdleTimeout = 200 * time.Millisecond })

	req, err := http.NewRequest("PUT", srv.URL+"/bkt/stalled", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 100
	signRequest(t, req, "UNSIGNED-PAYLOAD", testSecret)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	req.Body = pr
	go pw.Write([]byte("only ten b"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if body := readBody(t, res); res.StatusCode != 400 || !strings.Contains(body, "<Code>RequestTimeout</Code>") {
		t.Errorf("stalled upload: %d %s, want 400 RequestTimeout", res.StatusCode, body)
	}
	fake.mu.Lock()
	_, written := fake.objects["/bkt/stalled"]
	fake.mu.Unlock()
	if written {
		t.Error("a stalled upload was stored")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// signRequest signs req for the proxy as testKey with secret, as
// aws-sdk-go-v2 would.
func signRequest(t testing.TB, req *http.Request, payloadHash, secret string) {
	t.Helper()
	signAs(t, req, payloadHash, testKey, secret)
}

// newTestSigner returns a signer that signs the way S3 clients do (no
// double escaping of the path). Each signature gets a fresh one: the SDK
// signer caches derived keys by access key, so a shared one would sign a
// "wrong secret" request with the right key.
func newTestSigner() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

// signAs signs req for the proxy with access and secret.
func signAs(t testing.TB, req *http.Request, payloadHash, access, secret string) {
	t.Helper()
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	err := newTestSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: access, SecretAccessKey: secret},
		req, payloadHash, "s3", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
}
