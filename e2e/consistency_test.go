package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Bounds of the consistency tests: a held request reaching the relay, an
// entry of CACHE_TTL=1s expiring, a group of requests being sent.
const (
	consistencyWait = 30 * time.Second
	expiryWait      = 10 * time.Second
)

// waitGroupWithin waits for wg up to d and reports whether it finished.
func waitGroupWithin(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// signedGet GETs bucket/key through e with a signed plain request: unlike
// the SDK, it shows any status as it is.
func signedGet(t *testing.T, e endpoint, bucket, key string) httpResult {
	t.Helper()
	r, err := httpDo(t, signedRequest(t, e, http.MethodGet, objectURL(e, bucket, key), nil))
	if err != nil {
		t.Fatalf("GET %s/%s: %v", bucket, key, err)
	}
	return r
}

// TestCoalescing fires 100 concurrent GETs of one uncached 1 MiB object
// while the relay holds the backend's answer, and releases it only once
// every request was sent: all get the whole object, and the backend sees
// one GET. (Any request the proxy handles after the fill is a hit, so the
// count is 1 however the requests are scheduled.)
func TestCoalescing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	const key = "coalesce/one-mib.bin"
	body := randomBytes(t, 1<<20)
	putBytes(t, e, bucket, key, body)
	want := sha256.Sum256(body)
	hold := h.relay.holdGETs(t, "/"+bucket+"/"+key)

	const n = 100
	tr := &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: n}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Timeout: 2 * time.Minute, Transport: tr}

	type result struct {
		status int
		xcache string
		size   int
		sum    [sha256.Size]byte
		err    error
	}
	results := make([]result, n)
	var sent, done sync.WaitGroup
	sent.Add(n)
	for i := range n {
		req := signedRequest(t, e, http.MethodGet, objectURL(e, bucket, key), nil)
		var once sync.Once
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(sent.Done) },
		}))
		done.Go(func() {
			defer once.Do(sent.Done) // a request that failed before it was written
			resp, err := client.Do(req)
			if err != nil {
				results[i].err = err
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			results[i] = result{status: resp.StatusCode, xcache: resp.Header.Get("X-Cache"),
				size: len(got), sum: sha256.Sum256(got), err: err}
		})
	}
	if !waitGroupWithin(&sent, consistencyWait) {
		t.Errorf("not all %d GETs were sent within %v", n, consistencyWait)
	}
	if err := poll(t.Context(), consistencyWait, func(context.Context) error {
		if hold.holding() == 0 {
			return errors.New("the relay holds no answer for the key")
		}
		return nil
	}); err != nil {
		t.Errorf("the fill's GET never reached the backend: %v", err)
	}
	hold.release()
	done.Wait() // each request is bounded by the client's timeout

	xcache := map[string]int{}
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("GET #%d: %v", i, r.err)
		case r.status != 200 || r.size != len(body) || r.sum != want:
			t.Errorf("GET #%d: status %d, %d bytes (sha256 match %v); want 200 with the %d stored",
				i, r.status, r.size, r.sum == want, len(body))
		}
		xcache[r.xcache]++
	}
	t.Logf("X-Cache of the %d concurrent GETs: %v", n, xcache)
	if got := h.relay.count(http.MethodGet, bucket, key); got != 1 {
		t.Errorf("backend saw %d GETs of the key, want 1 (one fill shared by all)", got)
	}
	g := sdkGet(t, e, bucket, key)
	if g.Status != 200 || !bytes.Equal(g.Body, body) {
		t.Errorf("GET after the fill: status %d, %d bytes; want 200 with the %d stored", g.Status, len(g.Body), len(body))
	}
	wantXCache(t, "GET after the fill", g.Header, "HIT")
}

// TestNoStaleFill races a cache fill against a write: the relay holds the
// backend's answer to the fill's GET (the old object) until a write
// through the proxy has returned. The held GET may get the old bytes — it
// began before the write — but they must not be stored: later GETs see
// the write.
func TestNoStaleFill(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	c := sdkClient(e)
	ctx := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		t.Cleanup(cancel)
		return ctx
	}
	newBody := func(key string) []byte { return []byte("new bytes of " + key + strings.Repeat(".", 4096)) }

	tests := []struct {
		name    string
		prepare func(t *testing.T, key string) func() error // before the held GET; returns the write
		deleted bool                                        // the write removes the key
	}{
		{"PutObject", func(t *testing.T, key string) func() error {
			return func() error {
				_, err := c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(newBody(key))})
				return err
			}
		}, false},
		{"DeleteObject", func(t *testing.T, key string) func() error {
			return func() error {
				_, err := c.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key})
				return err
			}
		}, true},
		{"CopyObject", func(t *testing.T, key string) func() error {
			src := key + ".src"
			putBytes(t, e, bucket, src, newBody(key))
			return func() error {
				_, err := c.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: &bucket, Key: &key,
					CopySource: aws.String(bucket + "/" + src)})
				return err
			}
		}, false},
		{"CompleteMultipartUpload", func(t *testing.T, key string) func() error {
			up, err := c.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
			if err != nil {
				t.Fatalf("CreateMultipartUpload: %v", err)
			}
			part, err := c.UploadPart(ctx(t), &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
				PartNumber: aws.Int32(1), Body: bytes.NewReader(newBody(key))})
			if err != nil {
				t.Fatalf("UploadPart: %v", err)
			}
			return func() error {
				_, err := c.CompleteMultipartUpload(ctx(t), &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key,
					UploadId: up.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{
						Parts: []s3types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
				return err
			}
		}, false},
		{"DeleteObjects", func(t *testing.T, key string) func() error {
			other := key + ".other"
			putBytes(t, e, bucket, other, []byte("another key"))
			return func() error {
				out, err := c.DeleteObjects(ctx(t), &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &s3types.Delete{
					Objects: []s3types.ObjectIdentifier{{Key: aws.String(other)}, {Key: aws.String(key)}}}})
				if err == nil && (len(out.Errors) != 0 || len(out.Deleted) != 2) {
					err = fmt.Errorf("%d deleted, errors %+v", len(out.Deleted), out.Errors)
				}
				return err
			}
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "race/" + tc.name
			old := []byte("old bytes of " + key)
			putBytes(t, e, bucket, key, old)
			write := tc.prepare(t, key)

			hold := h.relay.holdGETs(t, "/"+bucket+"/"+key)
			held := make(chan httpResult, 1)
			req := signedRequest(t, e, http.MethodGet, objectURL(e, bucket, key), nil)
			go func() {
				r, err := httpDo(t, req)
				if err != nil {
					r = httpResult{Body: []byte(err.Error())}
				}
				held <- r
			}()
			if err := poll(t.Context(), consistencyWait, func(context.Context) error {
				if hold.holding() == 0 {
					return errors.New("the relay holds no answer for the key")
				}
				return nil
			}); err != nil {
				t.Fatalf("the fill's GET never reached the backend: %v", err)
			}
			if err := write(); err != nil {
				t.Fatalf("%s while a fill was in flight: %v", tc.name, err)
			}
			hold.release()
			r := <-held // bounded by the client's timeout
			if r.Status != 200 || !bytes.Equal(r.Body, old) {
				t.Errorf("held GET: status %d, body %.80q; want 200 with the old bytes (it began before the write)", r.Status, r.Body)
			}

			// The first GET after the write must not be a hit of the held
			// fill; the second shows what the cache holds after it.
			for i := range 2 {
				g := sdkGet(t, e, bucket, key)
				what := fmt.Sprintf("GET #%d after %s", i+1, tc.name)
				switch {
				case tc.deleted:
					if g.Status != 404 || g.Code != "NoSuchKey" {
						t.Errorf("%s: status %d %q, %d bytes (X-Cache %q); want 404 NoSuchKey",
							what, g.Status, g.Code, len(g.Body), g.Header.Get("X-Cache"))
					}
				case g.Status != 200 || !bytes.Equal(g.Body, newBody(key)):
					t.Errorf("%s: status %d, body %.80q (X-Cache %q); want 200 with the new bytes",
						what, g.Status, g.Body, g.Header.Get("X-Cache"))
				default:
					wantXCache(t, what, g.Header, []string{"MISS", "HIT"}[i])
				}
			}
			if n := h.relay.count(http.MethodGet, bucket, key); !tc.deleted && n != 2 {
				t.Errorf("backend saw %d GETs of the key, want 2 (the held fill and one refill)", n)
			}
		})
	}
}

// TestRevalidation lets an entry expire (CACHE_TTL=1s) and checks that the
// next GET revalidates it with If-None-Match, which versitygw answers 304:
// X-Cache REVALIDATED, the same bytes, and no second full body fetched.
func TestRevalidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"CACHE_TTL": "1s"})
	e := h.endpoint()
	bucket := newBucket(t, e)
	const key = "revalidate/me.bin"
	path := "/" + bucket + "/" + key
	body := randomBytes(t, 64<<10)
	putBytes(t, e, bucket, key, body)

	miss := signedGet(t, e, bucket, key)
	hit := signedGet(t, e, bucket, key)
	for i, r := range []httpResult{miss, hit} {
		if r.Status != 200 || !bytes.Equal(r.Body, body) {
			t.Fatalf("GET #%d: status %d, %d bytes; want 200 with the %d stored", i+1, r.Status, len(r.Body), len(body))
		}
	}
	wantXCache(t, "first GET", miss.Header, "MISS")
	// On a loaded machine a second may pass between the two GETs; the entry
	// is then already revalidated, which is the behaviour under test too.
	if xc := hit.Header.Get("X-Cache"); xc != "HIT" && xc != "REVALIDATED" {
		t.Errorf("second GET: X-Cache = %q, want HIT (or REVALIDATED if the 1s TTL passed)", xc)
	}
	etag := miss.Header.Get("ETag")

	seen := map[string]int{}
	err := poll(t.Context(), expiryWait, func(context.Context) error {
		r := signedGet(t, e, bucket, key)
		xc := r.Header.Get("X-Cache")
		seen[xc]++
		if r.Status != 200 || !bytes.Equal(r.Body, body) {
			t.Fatalf("GET while waiting for expiry: status %d, %d bytes, X-Cache %q; want 200 with the %d stored",
				r.Status, len(r.Body), xc, len(body))
		}
		if xc != "REVALIDATED" {
			return fmt.Errorf("X-Cache %q", xc)
		}
		if r.Header.Get("ETag") != etag {
			t.Errorf("REVALIDATED answer: ETag %q, want %q", r.Header.Get("ETag"), etag)
		}
		return nil
	})
	t.Logf("X-Cache while polling: %v", seen)

	var conditional, full []relayRecord
	for _, rec := range h.relay.records() {
		if rec.Method != http.MethodGet || rec.Path != path {
			continue
		}
		if rec.Header.Get("If-None-Match") != "" {
			conditional = append(conditional, rec)
		}
		if rec.Status == http.StatusOK {
			full = append(full, rec)
		}
	}
	if err != nil {
		for _, rec := range conditional {
			if rec.Status == http.StatusOK {
				t.Errorf("versitygw answered a GET with If-None-Match: %q (the ETag %q) with 200, not 304",
					rec.Header.Get("If-None-Match"), etag)
			}
		}
		t.Fatalf("no GET was REVALIDATED: %v", err)
	}
	var answered304 bool
	for _, rec := range conditional {
		if rec.Header.Get("If-None-Match") != etag {
			t.Errorf("revalidating GET sent If-None-Match %q, want the ETag %q", rec.Header.Get("If-None-Match"), etag)
		}
		answered304 = answered304 || rec.Status == http.StatusNotModified
	}
	if !answered304 {
		t.Errorf("the backend saw no GET with If-None-Match answered 304; conditional GETs: %+v", conditional)
	}
	if len(full) > 2 {
		t.Errorf("backend sent %d full bodies of the key, want at most 2 (the fill, and a refill if polling missed the window)", len(full))
	}

	// The renewed entry is served without another full body.
	r := signedGet(t, e, bucket, key)
	if xc := r.Header.Get("X-Cache"); r.Status != 200 || !bytes.Equal(r.Body, body) || (xc != "HIT" && xc != "REVALIDATED") {
		t.Errorf("GET after revalidation: status %d, %d bytes, X-Cache %q; want 200, the same bytes, HIT (REVALIDATED if another second passed)",
			r.Status, len(r.Body), xc)
	}
	fullAfter := 0
	for _, rec := range h.relay.records() {
		if rec.Method == http.MethodGet && rec.Path == path && rec.Status == http.StatusOK {
			fullAfter++
		}
	}
	if fullAfter != len(full) {
		t.Errorf("the GET after revalidation fetched the full body again (%d full GETs, was %d)", fullAfter, len(full))
	}
}

// TestStaleIfError makes the backend answer 503 for keys whose entries
// expire (CACHE_TTL=1s). With CACHE_STALE_IF_ERROR the expired entry is
// served, marked stale; without, the backend's error is relayed. A key
// deleted through the proxy is never served stale.
func TestStaleIfError(t *testing.T) {
	t.Parallel()
	// wantUnavailable checks r is the relay's 503, relayed as received.
	wantUnavailable := func(t *testing.T, what string, r httpResult) {
		t.Helper()
		if r.Status != http.StatusServiceUnavailable || r.xmlCode() != "ServiceUnavailable" ||
			!bytes.Contains(r.Body, []byte("relay: failing on purpose")) {
			t.Errorf("%s: status %d, body %.200q; want the backend's 503 ServiceUnavailable as sent", what, r.Status, r.Body)
		}
	}
	// untilNotHit GETs key until the answer is not a HIT and returns it;
	// every HIT must be the stored bytes.
	untilNotHit := func(t *testing.T, e endpoint, bucket, key string, body []byte) httpResult {
		t.Helper()
		var last httpResult
		err := poll(t.Context(), expiryWait, func(context.Context) error {
			last = signedGet(t, e, bucket, key)
			if xc := last.Header.Get("X-Cache"); xc == "HIT" {
				if last.Status != 200 || !bytes.Equal(last.Body, body) {
					t.Fatalf("HIT: status %d, %d bytes; want 200 with the %d stored", last.Status, len(last.Body), len(body))
				}
				return errors.New("still a HIT")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("the entry of %s never expired: %v", key, err)
		}
		return last
	}
	// fill stores body at key and caches it.
	fill := func(t *testing.T, e endpoint, bucket, key string, body []byte) {
		t.Helper()
		putBytes(t, e, bucket, key, body)
		r := signedGet(t, e, bucket, key)
		if r.Status != 200 || !bytes.Equal(r.Body, body) {
			t.Fatalf("filling GET of %s: status %d, %d bytes", key, r.Status, len(r.Body))
		}
		wantXCache(t, "filling GET of "+key, r.Header, "MISS")
	}

	t.Run("CACHE_STALE_IF_ERROR=1h", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, map[string]string{"CACHE_TTL": "1s", "CACHE_STALE_IF_ERROR": "1h"})
		e := h.endpoint()
		bucket := newBucket(t, e)
		// Two deleted keys: one is asked for at once, the other only after
		// expiry. They are filled first, so their entries expire first.
		const kept, deleted, deletedLate = "stale/kept", "stale/deleted", "stale/deleted-late"
		body := []byte("bytes served stale")
		for _, k := range []string{deleted, deletedLate} {
			fill(t, e, bucket, k, []byte("bytes of "+k+", never to be served again"))
			if _, err := sdkClient(e).DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)}); err != nil {
				t.Fatalf("DeleteObject %s: %v", k, err)
			}
			h.relay.failGETs("/" + bucket + "/" + k)
		}
		fill(t, e, bucket, kept, body)
		h.relay.failGETs("/" + bucket + "/" + kept)

		wantUnavailable(t, "GET of a deleted key, backend failing", signedGet(t, e, bucket, deleted))

		r := untilNotHit(t, e, bucket, kept, body)
		if r.Status != 200 || !bytes.Equal(r.Body, body) {
			t.Fatalf("GET after expiry, backend failing: status %d, body %.200q; want 200 with the stored bytes", r.Status, r.Body)
		}
		wantXCache(t, "GET after expiry, backend failing", r.Header, "STALE")
		if w := r.Header.Get("Warning"); !strings.Contains(w, "110") {
			t.Errorf("STALE answer: Warning %q, want 110", w)
		}
		if n := h.relay.count(http.MethodGet, bucket, kept); n < 2 {
			t.Errorf("backend saw %d GETs of %s, want the fill and at least one failed revalidation", n, kept)
		}

		// By now the deleted keys' entries would have expired as well.
		for _, k := range []string{deleted, deletedLate} {
			wantUnavailable(t, "GET of deleted key "+k+" after expiry, backend failing", signedGet(t, e, bucket, k))
		}
	})

	t.Run("CACHE_STALE_IF_ERROR unset", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, map[string]string{"CACHE_TTL": "1s"})
		e := h.endpoint()
		bucket := newBucket(t, e)
		const key = "stale/not-served"
		body := []byte("bytes not served stale")
		fill(t, e, bucket, key, body)
		h.relay.failGETs("/" + bucket + "/" + key)

		r := untilNotHit(t, e, bucket, key, body)
		wantUnavailable(t, "GET after expiry, backend failing", r)
		if w := r.Header.Get("Warning"); w != "" {
			t.Errorf("error answer: Warning %q, want none", w)
		}
	})
}

// TestRangeMissFills: a range GET of an uncached object the cache keeps
// costs one whole-object GET at the backend, answers the range, and leaves
// the object cached; a range of a larger object is relayed as it is.
func TestRangeMissFills(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"CACHE_MAX_OBJECT_BYTES": "64KiB"})
	e := h.endpoint()
	bucket := newBucket(t, e)
	small, large := randomBytes(t, 32<<10), randomBytes(t, 256<<10)
	putBytes(t, e, bucket, "range/small", small)
	putBytes(t, e, bucket, "range/large", large)

	rangeGet := func(key, spec string) httpResult {
		t.Helper()
		req := signedRequest(t, e, http.MethodGet, objectURL(e, bucket, key), nil)
		req.Header.Set("Range", spec) // unsigned, like most clients' Range
		r, err := httpDo(t, req)
		if err != nil {
			t.Fatalf("GET %s Range %s: %v", key, spec, err)
		}
		return r
	}
	r := rangeGet("range/small", "bytes=100-1123")
	if r.Status != 206 || !bytes.Equal(r.Body, small[100:1124]) || r.Header.Get("Content-Range") != fmt.Sprintf("bytes 100-1123/%d", len(small)) {
		t.Errorf("range miss on a small object: %d, %d bytes, Content-Range %q; want 206 with bytes 100-1123", r.Status, len(r.Body), r.Header.Get("Content-Range"))
	}
	wantXCache(t, "range miss on a small object", r.Header, "MISS")
	g := signedGet(t, e, bucket, "range/small")
	if g.Status != 200 || !bytes.Equal(g.Body, small) {
		t.Errorf("GET after the range miss: %d, %d bytes", g.Status, len(g.Body))
	}
	// The range was answered as soon as its bytes arrived, perhaps before
	// the rest of the object: this GET is a HIT, or joins the fill still in
	// flight (MISS). Either way the backend saw one GET (below).
	if xc := g.Header.Get("X-Cache"); xc != "HIT" && xc != "MISS" {
		t.Errorf("GET after the range miss: X-Cache = %q, want HIT or MISS", xc)
	}
	for _, rec := range h.relay.records() {
		if rec.Path == "/"+bucket+"/range/small" && rec.Method == http.MethodGet && rec.Header.Get("Range") != "" {
			t.Errorf("the backend was asked for Range %q; want the whole object", rec.Header.Get("Range"))
		}
	}
	if n := h.relay.count(http.MethodGet, bucket, "range/small"); n != 1 {
		t.Errorf("backend GETs of the small object = %d, want 1", n)
	}

	// A larger object is cached in blocks: the range is answered from
	// them, fetched on the first read and cached for the second.
	for _, want := range []string{"MISS", "HIT"} {
		r = rangeGet("range/large", "bytes=1000-1999")
		if r.Status != 206 || !bytes.Equal(r.Body, large[1000:2000]) {
			t.Errorf("range of a large object: %d, %d bytes; want 206 with bytes 1000-1999", r.Status, len(r.Body))
		}
		wantXCache(t, "range of a large object", r.Header, want)
	}
}

// TestCacheBound writes and reads far more than CACHE_MAX_BYTES through the
// proxy and checks, from the outside, that the cache never held more than
// fits: in a second pass over the keys, each read once, a hit can only be
// an entry held when the pass began, so at most what fits (3 entries of
// 256 KiB in 1 MiB) can hit. Every read returns the right bytes.
func TestCacheBound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"CACHE_MAX_BYTES": "1MiB", "CACHE_MAX_OBJECT_BYTES": "512KiB"})
	e := h.endpoint()
	bucket := newBucket(t, e)
	const n, size, fits = 24, 256 << 10, 3 // 24 × 256 KiB = 6 MiB through a 1 MiB cache
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = randomBytes(t, size)
		putBytes(t, e, bucket, fmt.Sprintf("bound/%02d", i), bodies[i])
	}
	hits := 0
	for pass := range 2 {
		for i := range bodies {
			r := signedGet(t, e, bucket, fmt.Sprintf("bound/%02d", i))
			if r.Status != 200 || !bytes.Equal(r.Body, bodies[i]) {
				t.Fatalf("pass %d, GET %02d: status %d, %d bytes; want 200 with the %d stored", pass, i, r.Status, len(r.Body), size)
			}
			if pass == 1 && r.Header.Get("X-Cache") == "HIT" {
				hits++
			}
		}
	}
	t.Logf("second pass: %d hits of %d", hits, n)
	if hits > fits {
		t.Errorf("second pass: %d hits; a 1 MiB cache holds at most %d objects of 256 KiB", hits, fits)
	}
	// And the cache does cache: a small object read twice is a hit.
	putBytes(t, e, bucket, "bound/small", []byte("small"))
	signedGet(t, e, bucket, "bound/small")
	wantXCache(t, "second GET of a small object", signedGet(t, e, bucket, "bound/small").Header, "HIT")
}
