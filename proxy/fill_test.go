package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing the test after a generous
// bound. It waits on an observable state, not a guessed duration.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// holdingBackend returns a fake S3 whose first GET of the object sends
// the first half of the body, then waits for release before the rest.
// release is safe to call more than once; the test's cleanup calls it too,
// so a failing test never leaves the backend handler blocked.
func holdingBackend(t *testing.T, body []byte) (fake *fakeS3, backend *httptest.Server, firstHalf chan struct{}, release func()) {
	fake, backend = newFakeS3(t)
	fake.objects["/bkt/k"] = body
	firstHalf = make(chan struct{})
	released := make(chan struct{})
	var releaseOnce sync.Once
	release = func() { releaseOnce.Do(func() { close(released) }) }
	t.Cleanup(release)
	var once sync.Once
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet {
			return false
		}
		first := false
		once.Do(func() { first = true })
		if !first {
			return false
		}
		sum := sha256.Sum256(body)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`) // as the fake's own answers
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		close(firstHalf)
		<-released
		w.Write(body[len(body)/2:])
		return true
	}
	return fake, backend, firstHalf, release
}

// TestCoalescing sends N concurrent misses for one object: the backend
// sees one GET, every client gets the whole body, and the followers get
// the first bytes before the backend sent the rest.
func TestCoalescing(t *testing.T) {
	const n = 50
	body := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	fake, backend, firstHalf, release := holdingBackend(t, body)
	p, srv := newTestProxy(t, backend, nil)

	type result struct {
		body   []byte
		xcache string
		err    error
	}
	results := make(chan result, n)
	get := func(gotFirstHalf chan<- struct{}) {
		res, err := send(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
		if err != nil {
			results <- result{err: err}
			return
		}
		half := make([]byte, len(body)/2)
		if _, err := io.ReadFull(res.Body, half); err != nil {
			results <- result{err: err}
			return
		}
		if gotFirstHalf != nil {
			close(gotFirstHalf)
		}
		rest, err := io.ReadAll(res.Body)
		results <- result{append(half, rest...), res.Header.Get("X-Cache"), err}
	}
	go get(nil)
	<-firstHalf // the leader's request is in the backend, half sent
	followerHalf := make(chan struct{})
	go get(followerHalf)
	for range n - 2 {
		go get(nil)
	}
	waitFor(t, "followers to join", func() bool { return p.flights.joined.Load() == n-1 })
	// A follower reads the first half while the backend still holds the
	// second: the body is streamed as it arrives.
	<-followerHalf
	release()
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatalf("GET: %v", r.err)
		}
		if !bytes.Equal(r.body, body) || r.xcache != xCacheMiss {
			t.Errorf("GET: %d bytes X-Cache %q, want %d bytes MISS", len(r.body), r.xcache, len(body))
		}
	}
	if got := fake.getCount("/bkt/k"); got != 1 {
		t.Errorf("backend GETs = %d, want 1", got)
	}
	res := do(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
	if got := readBody(t, res); got != string(body) || res.Header.Get("X-Cache") != xCacheHit {
		t.Errorf("GET after the fill: X-Cache %q, want HIT with the body", res.Header.Get("X-Cache"))
	}
}

// TestPartGETsShareOneRead: the concurrent part GETs of a download (a
// Range and If-Match each, as s3transfer and the SDK download managers
// send them) of a cold object share one backend read, and each gets its
// part as the backend would send it.
func TestPartGETsShareOneRead(t *testing.T) {
	const parts = 8
	body := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	fake, backend, firstHalf, release := holdingBackend(t, body)
	p, srv := newTestProxy(t, backend, nil)
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"` // as the fake computes it
	partSize := len(body) / parts

	type result struct {
		i      int
		status int
		body   []byte
		cr     string
		err    error
	}
	results := make(chan result, parts)
	get := func(i int) {
		start := i * partSize
		req, err := http.NewRequest("GET", srv.URL+"/bkt/k", nil)
		if err != nil {
			results <- result{i: i, err: err}
			return
		}
		req.Header.Set("Range", "bytes="+strconv.Itoa(start)+"-"+strconv.Itoa(start+partSize-1))
		req.Header.Set("If-Match", etag)
		signRequest(t, req, emptyPayloadHash, testSecret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			results <- result{i: i, err: err}
			return
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		results <- result{i, res.StatusCode, b, res.Header.Get("Content-Range"), err}
	}
	go get(0)
	<-firstHalf // the first part's miss is in the backend
	for i := 1; i < parts; i++ {
		go get(i)
	}
	waitFor(t, "the other parts to join", func() bool { return p.flights.joined.Load() == parts-1 })
	release()
	for range parts {
		r := <-results
		start := r.i * partSize
		wantCR := "bytes " + strconv.Itoa(start) + "-" + strconv.Itoa(start+partSize-1) + "/" + strconv.Itoa(len(body))
		if r.err != nil || r.status != 206 || r.cr != wantCR || !bytes.Equal(r.body, body[start:start+partSize]) {
			t.Errorf("part %d: %v %d %q, %d bytes; want 206 %q with its bytes", r.i, r.err, r.status, r.cr, len(r.body), wantCR)
		}
	}
	if got := fake.getCount("/bkt/k"); got != 1 {
		t.Errorf("backend GETs = %d, want 1", got)
	}
	res := do(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
	if got := readBody(t, res); got != string(body) || res.Header.Get("X-Cache") != xCacheHit {
		t.Errorf("GET after the download: X-Cache %q, want HIT with the body", res.Header.Get("X-Cache"))
	}
}

// TestLeaderLeaves: the client whose miss started the fill goes away; the
// fill completes for a follower and is cached.
func TestLeaderLeaves(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 64<<10)
	fake, backend, firstHalf, release := holdingBackend(t, body)
	p, srv := newTestProxy(t, backend, nil)

	ctx, cancelLeader := context.WithCancel(context.Background())
	leaderDone := make(chan struct{})
	go func() {
		defer close(leaderDone)
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/bkt/k", nil)
		signRequest(t, req, emptyPayloadHash, testSecret)
		if res, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}()
	<-firstHalf
	follower := make(chan []byte)
	go func() {
		res, err := send(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
		if err != nil {
			follower <- nil
			return
		}
		b, _ := io.ReadAll(res.Body)
		follower <- b
	}()
	waitFor(t, "the follower to join", func() bool { return p.flights.joined.Load() == 1 })
	cancelLeader()
	<-leaderDone
	release()
	if got := <-follower; !bytes.Equal(got, body) {
		t.Fatalf("follower got %d bytes, want %d", len(got), len(body))
	}
	res := do(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
	if got := readBody(t, res); got != string(body) || res.Header.Get("X-Cache") != xCacheHit {
		t.Errorf("GET after the leader left: X-Cache %q, want HIT", res.Header.Get("X-Cache"))
	}
	if got := fake.getCount("/bkt/k"); got != 1 {
		t.Errorf("backend GETs = %d, want 1", got)
	}
}

// TestNoJoinAfterWrite: a miss that arrives after a PUT returned must not
// join a fill that began before the PUT; it fetches the new bytes.
func TestNoJoinAfterWrite(t *testing.T) {
	old := bytes.Repeat([]byte("o"), 64<<10)
	fake, backend, firstHalf, release := holdingBackend(t, old)
	_, srv := newTestProxy(t, backend, nil)

	leader := make(chan []byte, 1)
	go func() {
		res, err := send(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
		if err != nil {
			leader <- nil
			return
		}
		b, _ := io.ReadAll(res.Body)
		leader <- b
	}()
	<-firstHalf
	if res := do(t, "PUT", srv.URL+"/bkt/k", []byte("new"), testSecret); res.StatusCode != 200 {
		t.Fatalf("PUT: %d", res.StatusCode)
	}
	after := make(chan string, 1)
	go func() {
		res, err := send(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
		if err != nil {
			after <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		after <- string(b)
	}()
	select {
	case got := <-after:
		if got != "new" {
			t.Errorf("GET after PUT = %.20q, want new", got)
		}
	case <-time.After(10 * time.Second):
		t.Error("GET after PUT waited for the fill that began before the PUT")
	}
	release()
	if got := <-leader; !bytes.Equal(got, old) {
		t.Errorf("the GET that raced the PUT got %d bytes, want the %d old ones", len(got), len(old))
	}
	if got := fake.getCount("/bkt/k"); got != 2 {
		t.Errorf("backend GETs = %d, want 2", got)
	}
}

// TestRangeMiss: a range miss on an object the cache keeps fetches the
// whole object once, answers the range from it and fills the cache; on a
// larger object the range is relayed.
func TestRangeMiss(t *testing.T) {
	fake, backend := newFakeS3(t)
	small := []byte("0123456789abcdef")
	large := bytes.Repeat([]byte("L"), 4096)
	fake.objects["/bkt/small"] = small
	fake.objects["/bkt/large"] = large
	var mu sync.Mutex
	var ranges []string // Range headers the backend saw
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet {
			return false
		}
		mu.Lock()
		ranges = append(ranges, r.URL.Path+" "+r.Header.Get("Range"))
		mu.Unlock()
		if r.URL.Path == "/bkt/large" && r.Header.Get("Range") == "bytes=10-19" {
			w.Header().Set("Content-Range", "bytes 10-19/4096")
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(large[10:20])
			return true
		}
		return false
	}
	_, srv := newTestProxy(t, backend, func(c *Config) { c.CacheMaxObjectBytes = 1024 })
	get := func(path, rangeSpec string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rangeSpec != "" {
			req.Header.Set("Range", rangeSpec)
		}
		signRequest(t, req, emptyPayloadHash, testSecret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res, readBody(t, res)
	}

	res, body := get("/bkt/small", "bytes=2-5")
	if res.StatusCode != 206 || body != "2345" || res.Header.Get("Content-Range") != "bytes 2-5/16" || res.Header.Get("X-Cache") != xCacheMiss {
		t.Errorf("range miss on a small object: %d %q %q X-Cache %q, want 206 2345 bytes 2-5/16 MISS",
			res.StatusCode, body, res.Header.Get("Content-Range"), res.Header.Get("X-Cache"))
	}
	// The range may be answered before the fill is stored; this GET then
	// joins the fill. The backend GETs checked below stay at one.
	res, body = get("/bkt/small", "")
	if xc := res.Header.Get("X-Cache"); body != string(small) || xc != xCacheHit && xc != xCacheMiss {
		t.Errorf("GET after the range miss: %q X-Cache %q, want the object", body, xc)
	}
	waitFor(t, "the fill to be stored", func() bool {
		res, _ := get("/bkt/small", "")
		return res.Header.Get("X-Cache") == xCacheHit
	})
	res, _ = get("/bkt/small", "bytes=99-")
	if res.StatusCode != 416 {
		t.Errorf("unsatisfiable range on a hit: %d, want 416", res.StatusCode)
	}

	// A larger object is cached in blocks: the HEAD stores its
	// description, then its one block is fetched with a ranged GET.
	for _, want := range []string{xCacheMiss, xCacheHit} {
		res, body = get("/bkt/large", "bytes=10-19")
		if res.StatusCode != 206 || body != string(large[10:20]) || res.Header.Get("X-Cache") != want {
			t.Errorf("range of a large object: %d %q X-Cache %q, want 206, 10 bytes, %s", res.StatusCode, body, res.Header.Get("X-Cache"), want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// Each range miss learnt the object's size with a HEAD first: the
	// small one is fetched whole, the large one's block alone.
	want := []string{"/bkt/small ", "/bkt/large bytes=0-4095"}
	if strings.Join(ranges, "|") != strings.Join(want, "|") {
		t.Errorf("backend GETs %q, want %q", ranges, want)
	}
}
