package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
)

// replicaNames name the replicas of a set in reports, in order.
var replicaNames = []string{"A", "B", "C", "D"}

// replicaGet is one GET of a replica test: what the client saw.
type replicaGet struct {
	Status int
	Body   []byte
	Code   string // S3 error code of a failed GET
	XCache string
	Err    error // no answer, or a body cut short
}

// replicaReader GETs one key through one replica with one client library.
// Its get may run on any goroutine, one call at a time.
type replicaReader struct {
	replica string // A, B, ...
	via     string // the client library
	get     func(ctx context.Context) replicaGet
}

func (r replicaReader) String() string { return r.via + " on " + r.replica }

// replicaReaders returns one reader of bucket/key per client library
// (aws-sdk-go-v2, minio-go, a signed net/http request) for endpoint e.
func replicaReaders(t *testing.T, name string, e endpoint, bucket, key string) []replicaReader {
	sdk := sdkClient(e)
	mc, rec := minioClient(t, e)
	return []replicaReader{
		{name, "aws-sdk-go-v2", func(ctx context.Context) replicaGet {
			out, err := sdk.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
			if err != nil {
				status, code, h := sdkErr(err)
				if status == 0 {
					return replicaGet{Err: err}
				}
				return replicaGet{Status: status, Code: code, XCache: h.Get("X-Cache")}
			}
			defer out.Body.Close()
			body, err := io.ReadAll(out.Body)
			return replicaGet{Status: 200, Body: body, XCache: rawHeader(out.ResultMetadata).Get("X-Cache"), Err: err}
		}},
		{name, "minio-go", func(ctx context.Context) replicaGet {
			o, err := mc.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
			var body []byte
			if err == nil {
				body, err = io.ReadAll(o)
				o.Close()
			}
			xc := rec.lastHeader().Get("X-Cache")
			if er := minio.ToErrorResponse(err); er.StatusCode != 0 {
				return replicaGet{Status: er.StatusCode, Code: er.Code, XCache: xc}
			}
			return replicaGet{Status: 200, Body: body, XCache: xc, Err: err}
		}},
		{name, "net/http", func(ctx context.Context) replicaGet {
			req, err := signedRequestCtx(ctx, e, http.MethodGet, objectURL(e, bucket, key))
			if err != nil {
				return replicaGet{Err: err}
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				return replicaGet{Err: err}
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			g := replicaGet{Status: resp.StatusCode, Body: body, XCache: resp.Header.Get("X-Cache"), Err: err}
			if g.Status != 200 {
				g.Code, g.Body = xmlCode(body), nil
			}
			return g
		}},
	}
}

// signedRequestCtx is signedRequest without a body, for any goroutine.
func signedRequestCtx(ctx context.Context, e endpoint, method, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	req.Header.Set("X-Amz-Content-Sha256", emptyHash)
	creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: e.Secret}
	return req, v4.NewSigner().SignHTTP(ctx, creds, req, emptyHash, "s3", testRegion, time.Now())
}

// describe returns a short account of g for failure messages.
func (g replicaGet) describe() string {
	if g.Err != nil {
		return "error: " + g.Err.Error()
	}
	if g.Status != 200 {
		return fmt.Sprintf("status %d %s (X-Cache %q)", g.Status, g.Code, g.XCache)
	}
	return fmt.Sprintf("200, %d bytes %.40q (X-Cache %q)", len(g.Body), g.Body, g.XCache)
}

// holdCached GETs bucket/key through e until the answer is a HIT: e then
// holds want in its cache. Every answer on the way must be want.
func holdCached(t *testing.T, name string, e endpoint, bucket, key string, want []byte) {
	t.Helper()
	err := poll(t.Context(), consistencyWait, func(context.Context) error {
		r := signedGet(t, e, bucket, key)
		if r.Status != 200 || !bytes.Equal(r.Body, want) {
			t.Fatalf("GET %s through %s before the write: status %d, %.40q (X-Cache %q); want 200 with %.40q",
				key, name, r.Status, r.Body, r.Header.Get("X-Cache"), want)
		}
		if xc := r.Header.Get("X-Cache"); xc != "HIT" {
			return fmt.Errorf("X-Cache %q", xc)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s never answered a GET of %s from its cache: %v", name, key, err)
	}
}

// TestReplicaWriteInvalidatesEveryReplica writes one key through replica A
// a hundred times and, after each write returns, reads it through B and C
// at once with every client library, twice each: every read must return
// the new bytes. Before each write B and C are made to hold the old
// version (a GET answered HIT), so a replica that missed the write's
// invalidation would serve it. The writes are PutObject (aws-sdk-go-v2,
// minio-go) and CopyObject.
func TestReplicaWriteInvalidatesEveryReplica(t *testing.T) {
	t.Parallel()
	const rounds = 100
	rs := startReplicas(t, 3, nil)
	es := rs.endpoints()
	a := es[0]
	bucket := newBucket(t, a)
	const key = "coherent/object.bin"
	version := func(i int) []byte {
		return fmt.Appendf(nil, "version %03d of %s\n%s", i, key, bytes.Repeat([]byte{byte('a' + i%26)}, 8<<10))
	}
	putBytes(t, a, bucket, key, version(0))

	var readers []replicaReader
	for i, e := range es[1:] {
		readers = append(readers, replicaReaders(t, replicaNames[i+1], e, bucket, key)...)
	}
	sdkA := sdkClient(a)
	minioA, _ := minioClient(t, a)
	writes := []struct {
		name  string
		write func(ctx context.Context, body []byte) error
	}{
		{"PutObject (aws-sdk-go-v2)", func(ctx context.Context, body []byte) error {
			_, err := sdkA.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: bytes.NewReader(body)})
			return err
		}},
		{"PutObject (minio-go)", func(ctx context.Context, body []byte) error {
			_, err := minioA.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
			return err
		}},
		{"CopyObject (aws-sdk-go-v2)", func(ctx context.Context, body []byte) error {
			// The source is another key, which no reader has cached.
			src := key + ".src"
			if _, err := sdkA.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &src, Body: bytes.NewReader(body)}); err != nil {
				return err
			}
			_, err := sdkA.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String(key),
				CopySource: aws.String(bucket + "/" + src)})
			return err
		}},
	}

	primed := 0               // HITs of the old version, one per reading replica per round
	after := map[string]int{} // X-Cache of the reads after the writes
	for i := 1; i <= rounds; i++ {
		old, cur := version(i-1), version(i)
		for j, e := range es[1:] {
			holdCached(t, replicaNames[j+1], e, bucket, key, old)
			primed++
		}
		w := writes[i%len(writes)]
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		if err := w.write(ctx, cur); err != nil {
			cancel()
			t.Fatalf("round %d: %s through A: %v", i, w.name, err)
		}
		// The write has returned: from now on every read sees it.
		got := make([][2]replicaGet, len(readers))
		var wg sync.WaitGroup
		for k, r := range readers {
			wg.Go(func() {
				for n := range got[k] {
					got[k][n] = r.get(ctx)
				}
			})
		}
		wg.Wait()
		cancel()
		for k, r := range readers {
			for n, g := range got[k] {
				after[g.XCache]++
				if g.Err != nil || g.Status != 200 || !bytes.Equal(g.Body, cur) {
					t.Errorf("round %d, after %s through A returned: read %d by %s: %s; want 200 with %.40q",
						i, w.name, n+1, r, g.describe(), cur)
				}
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d writes through A; %d HITs of the old version on B and C before them; X-Cache of the %d reads after them: %v",
		rounds, primed, rounds*len(readers)*2, after)
	if n := rs.relay.count(http.MethodPut, bucket, key); n < rounds*2/3 {
		t.Errorf("backend saw %d PUTs of the key, want at least %d", n, rounds*2/3)
	}
}

// TestReplicaDeleteBucketInvalidatesEveryReplica caches objects on A and
// C, removes them on the backend behind every replica's back (A and C
// still serve them from their caches), then deletes the bucket through B:
// A and C must now answer 404 for each of them.
func TestReplicaDeleteBucketInvalidatesEveryReplica(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 3, nil)
	es := rs.endpoints()
	a, b, c := es[0], es[1], es[2]
	bucket := newBucket(t, a)
	keys := []string{"gone/one.txt", "gone/two.bin", "gone/dir/three"}
	body := func(k string) []byte { return []byte("bytes of " + k) }
	for _, k := range keys {
		putBytes(t, a, bucket, k, body(k))
	}
	cached := []struct {
		name string
		e    endpoint
	}{{"A", a}, {"C", c}}
	for _, r := range cached {
		for _, k := range keys {
			holdCached(t, r.name, r.e, bucket, k, body(k))
		}
	}

	direct := sdkClient(directBackend(t))
	for _, k := range keys {
		if _, err := direct.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)}); err != nil {
			t.Fatalf("DeleteObject %s on the backend directly: %v", k, err)
		}
	}
	// Nobody heard of that: the replicas still serve their copies, which
	// only the DeleteBucket below may take away.
	for _, r := range cached {
		for _, k := range keys {
			g := signedGet(t, r.e, bucket, k)
			if g.Status != 200 || !bytes.Equal(g.Body, body(k)) || g.Header.Get("X-Cache") != "HIT" {
				t.Fatalf("GET %s through %s after it was removed out of band: status %d, X-Cache %q; want the cached copy (HIT), else the test proves nothing",
					k, r.name, g.Status, g.Header.Get("X-Cache"))
			}
		}
	}

	del := curl(t, append(sigv4(b), "-X", "DELETE", b.URL+"/"+bucket)...)
	if del.Status != http.StatusNoContent {
		t.Fatalf("DeleteBucket through B (curl): status %d, body %s; want 204", del.Status, del.Body)
	}
	for i, e := range es {
		for _, k := range keys {
			for _, r := range replicaReaders(t, replicaNames[i], e, bucket, k) {
				g := r.get(t.Context())
				if g.Err != nil || g.Status != 404 || (g.Code != "NoSuchBucket" && g.Code != "NoSuchKey") {
					t.Errorf("GET %s by %s after DeleteBucket through B: %s; want 404 NoSuchBucket (or NoSuchKey)", k, r, g.describe())
				}
			}
			req := signedRequest(t, e, http.MethodHead, objectURL(e, bucket, k), nil)
			h, err := httpDo(t, req)
			if err != nil || h.Status != 404 {
				t.Errorf("HEAD %s through %s after DeleteBucket through B: status %d, err %v; want 404", k, replicaNames[i], h.Status, err)
			}
		}
	}
}

// Bounds of the Redis outage test. The clients run on an operation
// budget granted around each transition, so that the history stays small
// enough to check whatever the machine's speed, and is spent where it
// matters: right after Redis dies and right after it is back.
const (
	outageClients = 6
	outageGrant   = 200              // operations granted at each step
	outageWait    = 10 * time.Second // a phase completing, replicas noticing
	outageBudget  = 40 * time.Second // the whole run, before the check
)

// TestReplicaRedisOutageLinearizable runs concurrent clients over three
// replicas — each operation through a replica picked at random, with the
// client libraries of TestLinearizability — while Redis is killed and
// started again, and checks the whole history for linearizability, one
// register per key. Alongside, fixed probes check that a replica holding
// an old version serves the new one right after a write through another
// replica, in the instant Redis dies as well as after it is back; that
// /-/readyz says "redis: unreachable" and s3cache_redis_up is 0 on every
// replica during the outage, and "redis: ok" and 1 after; that no GET is
// answered from an unchecked entry (HIT) during the outage; and that hits
// come back when Redis does.
func TestReplicaRedisOutageLinearizable(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 3, nil)
	es := rs.endpoints()
	bucket := newBucket(t, es[0])
	ctx, cancel := context.WithTimeout(t.Context(), outageBudget)
	defer cancel()
	for i, e := range es {
		if err := pollAnswer(ctx, outageWait, redisState(t, e, "ok", 1)); err != nil {
			t.Fatalf("replica %s with Redis up: %v", replicaNames[i], err)
		}
	}

	hist := &linHistory{start: time.Now()}
	budget := make(chan struct{}, 8*outageGrant) // one token per operation
	granted := 0
	grant := func() {
		for range outageGrant {
			budget <- struct{}{}
		}
		granted += outageGrant
	}
	var wg sync.WaitGroup
	for c := range outageClients {
		rng := rand.New(rand.NewPCG(7, uint64(c)))
		via := make([]*linClient, len(es))
		for r, e := range es {
			mc, rec := minioClient(t, e)
			via[r] = &linClient{t: t, id: c, e: e, bucket: bucket, h: hist, rng: rng,
				sdk: sdkClient(e), minio: mc, minioRec: rec, replica: replicaNames[r]}
		}
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-budget:
				case <-ctx.Done():
					return
				}
				via[rng.IntN(len(via))].step(fmt.Sprintf("c%d-w%d", c, i))
			}
		})
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	// spent waits until every operation granted so far is in the history
	// and, if hits, a GET since the last call was a HIT; it returns the
	// GETs since the last call by X-Cache.
	var seen0 map[string]int
	spent := func(name string, hits bool) map[string]int {
		t.Helper()
		var seen map[string]int
		err := poll(ctx, outageWait, func(context.Context) error {
			hist.mu.Lock()
			ops := len(hist.ops)
			seen = maps.Clone(hist.xcache)
			hist.mu.Unlock()
			for k := range seen {
				seen[k] -= seen0[k]
			}
			switch {
			case ops < granted:
				return fmt.Errorf("%d operations of %d granted", ops, granted)
			case hits && seen["HIT"] == 0:
				return fmt.Errorf("no GET was a HIT (%v)", seen)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for k, v := range seen {
			seen0[k] += v
		}
		t.Logf("%s: GETs by X-Cache %v", name, seen)
		return seen
	}
	seen0 = map[string]int{}
	probe := &replicaProbe{t: t, es: es, bucket: bucket, key: "probe/outage"}

	grant()
	spent("Redis up", true)
	probe.write(0)
	probe.holdEverywhere(0)
	grant()
	rs.redis.stop(syscall.SIGKILL)
	killed := time.Now()
	// At once, before any replica may have noticed: B and C hold version
	// 0, and A's write cannot reach them through Redis.
	probe.write(1)
	probe.readEverywhere(1, "right after Redis was killed")
	for i, e := range es {
		if err := pollAnswer(ctx, outageWait, redisState(t, e, "unreachable", 0)); err != nil {
			t.Fatalf("replica %s with Redis down: %v", replicaNames[i], err)
		}
	}
	t.Logf("every replica reported Redis unreachable %v after the kill", time.Since(killed).Round(time.Millisecond))
	// Now no entry is trusted: a GET that would hit is checked with the
	// backend.
	probe.readEverywhere(1, "during the outage")
	probe.noHits(1)
	probe.write(2)
	probe.readEverywhere(2, "during the outage")
	spent("Redis being killed", false)
	grant()
	down := spent("Redis down", false)

	grant()
	rs.redis.restart()
	restarted := time.Now()
	for i, e := range es {
		if err := pollAnswer(ctx, outageWait, redisState(t, e, "ok", 1)); err != nil {
			t.Fatalf("replica %s after Redis came back: %v", replicaNames[i], err)
		}
	}
	t.Logf("every replica reported Redis ok %v after the restart", time.Since(restarted).Round(time.Millisecond))
	probe.holdEverywhere(2) // hits again
	probe.write(3)
	probe.readEverywhere(3, "after Redis came back")
	spent("Redis coming back", false)
	grant()
	spent("Redis back", true)

	cancel()
	wg.Wait()
	if down["HIT"] > 0 {
		t.Errorf("%d GETs were answered HIT while every replica reported Redis unreachable: entries must not be trusted then", down["HIT"])
	}
	t.Logf("%d operations in %v, %d GETs of which %d hits, %d deletes answered NoSuchKey",
		len(hist.ops), time.Since(hist.start).Round(time.Millisecond), hist.gets, hist.hits, hist.racedDeletes)
	switch porcupine.CheckOperationsTimeout(registerModel, hist.ops, linCheckLimit) {
	case porcupine.Ok:
	case porcupine.Illegal:
		t.Errorf("history of %d operations over three replicas is not linearizable (Redis killed at %v, back at %v)\n%s",
			len(hist.ops), killed.Sub(hist.start), restarted.Sub(hist.start), explain(t, hist.ops))
	default:
		t.Errorf("checker gave up after %v on %d operations", linCheckLimit, len(hist.ops))
	}
}

// replicaProbe writes versions of one key through the first replica and
// reads them through all; it is for the test's goroutine.
type replicaProbe struct {
	t      *testing.T
	es     []endpoint
	bucket string
	key    string
}

func (p *replicaProbe) version(i int) []byte { return fmt.Appendf(nil, "probe version %d", i) }

func (p *replicaProbe) write(i int) {
	p.t.Helper()
	putBytes(p.t, p.es[0], p.bucket, p.key, p.version(i))
}

// holdEverywhere makes every replica other than the writer hold version i.
func (p *replicaProbe) holdEverywhere(i int) {
	p.t.Helper()
	for r, e := range p.es[1:] {
		holdCached(p.t, replicaNames[r+1], e, p.bucket, p.key, p.version(i))
	}
}

// readEverywhere GETs the key through every replica: each must be version i.
func (p *replicaProbe) readEverywhere(i int, when string) {
	p.t.Helper()
	for r, e := range p.es {
		g := signedGet(p.t, e, p.bucket, p.key)
		if g.Status != 200 || !bytes.Equal(g.Body, p.version(i)) {
			p.t.Errorf("GET of the probe through %s %s: status %d, %q (X-Cache %q); want %q, written through A",
				replicaNames[r], when, g.Status, g.Body, g.Header.Get("X-Cache"), p.version(i))
		}
	}
}

// noHits GETs the key through every replica twice: neither may be a HIT.
func (p *replicaProbe) noHits(i int) {
	p.t.Helper()
	for r, e := range p.es {
		for range 2 {
			g := signedGet(p.t, e, p.bucket, p.key)
			if xc := g.Header.Get("X-Cache"); xc == "HIT" || g.Status != 200 || !bytes.Equal(g.Body, p.version(i)) {
				p.t.Errorf("GET of the probe through %s with Redis unreachable: status %d, %q, X-Cache %q; want %q, REVALIDATED or MISS (no entry trusted)",
					replicaNames[r], g.Status, g.Body, xc, p.version(i))
			}
		}
	}
}

// TestReplicaSharedTierCoalesces runs three replicas with CACHE_L2=redis.
// Sixty concurrent GETs of an object no replica has read, spread over the
// three, while the backend's answer to the first fill is held until all
// were sent: all get the whole object and the backend sees one GET, by
// its own count and by the sum of the replicas' GetObject counters. Then
// a second object (compressible) read through A only is answered to B and
// C from the shared tier, X-Cache SHARED, with no backend GET, and from
// their own memory after that. Last, with nothing held: objects each read
// through the three replicas at once, one backend GET per object however
// the three race (one may take the fill lock just after another's fill
// stored the value and released it).
func TestReplicaSharedTierCoalesces(t *testing.T) {
	t.Parallel()
	rs := startReplicas(t, 3, map[string]string{
		"CACHE_L2": "redis",
		// Longer than the relay holds the first fill, on a slow machine.
		"CACHE_L2_LOCK_TTL": "30s",
	})
	es := rs.endpoints()
	bucket := newBucket(t, es[0])
	direct := directBackend(t)

	// Written on the backend directly: a write through a replica could
	// fill the shared tier itself, and nobody has read the key.
	const key = "shared/coalesced.bin"
	body := randomBytes(t, 256<<10)
	putBytes(t, direct, bucket, key, body)
	want := sha256.Sum256(body)
	getsBefore := backendGetObjects(t, es)
	hold := rs.relay.holdGETs(t, "/"+bucket+"/"+key)

	const n = 60
	tr := &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: n}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Timeout: 2 * time.Minute, Transport: tr}
	type result struct {
		replica int
		status  int
		xcache  string
		size    int
		sum     [sha256.Size]byte
		err     error
	}
	results := make([]result, n)
	var sent, done sync.WaitGroup
	sent.Add(n)
	for i := range n {
		r := i % len(es)
		req := signedRequest(t, es[r], http.MethodGet, objectURL(es[r], bucket, key), nil)
		var once sync.Once
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(sent.Done) },
		}))
		done.Go(func() {
			defer once.Do(sent.Done) // a request that failed before it was written
			results[i].replica = r
			resp, err := client.Do(req)
			if err != nil {
				results[i].err = err
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			results[i] = result{replica: r, status: resp.StatusCode, xcache: resp.Header.Get("X-Cache"),
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
		t.Errorf("no fill's GET reached the backend: %v", err)
	}
	hold.release()
	done.Wait() // each request is bounded by the client's timeout

	xcache := make([]map[string]int, len(es))
	for i := range xcache {
		xcache[i] = map[string]int{}
	}
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("GET #%d through %s: %v", i, replicaNames[r.replica], r.err)
		case r.status != 200 || r.size != len(body) || r.sum != want:
			t.Errorf("GET #%d through %s: status %d, %d bytes (sha256 match %v); want 200 with the %d stored",
				i, replicaNames[r.replica], r.status, r.size, r.sum == want, len(body))
		}
		xcache[r.replica][r.xcache]++
	}
	for i, m := range xcache {
		t.Logf("X-Cache of the %d concurrent GETs through %s: %v", n/len(es), replicaNames[i], m)
	}
	if got := rs.relay.count(http.MethodGet, bucket, key); got != 1 {
		t.Errorf("backend saw %d GETs of the key, want 1 (one fill shared by the three replicas)", got)
	}
	wantBackendGets(t, es, getsBefore, 1, "the coalesced GETs")

	// A second object, read through A only; B and C never read it.
	const key2 = "shared/read-once.txt"
	body2 := bytes.Repeat([]byte("a compressible line of text, the same every time\n"), 12<<10) // 600 KiB
	putBytes(t, direct, bucket, key2, body2)
	getsBefore = backendGetObjects(t, es)
	for i, wantXC := range []string{"MISS", "SHARED", "SHARED", "HIT", "HIT"} {
		r := i
		if i >= len(es) {
			r = i - 2 // B and C again: their own copies now
		}
		g := signedGet(t, es[r], bucket, key2)
		what := fmt.Sprintf("GET of %s through %s", key2, replicaNames[r])
		if g.Status != 200 || !bytes.Equal(g.Body, body2) {
			t.Errorf("%s: status %d, %d bytes; want 200 with the %d stored", what, g.Status, len(g.Body), len(body2))
		}
		wantXCache(t, what, g.Header, wantXC)
	}
	if got := rs.relay.count(http.MethodGet, bucket, key2); got != 1 {
		t.Errorf("backend saw %d GETs of %s, want 1 (A's miss; B and C from the shared tier)", got, key2)
	}
	wantBackendGets(t, es, getsBefore, 1, "reading "+key2+" through A, then B and C")

	const racing = 48
	small := randomBytes(t, 16<<10)
	for i := range racing {
		putBytes(t, direct, bucket, fmt.Sprintf("race/%02d", i), small)
	}
	getsBefore = backendGetObjects(t, es)
	for i := range racing {
		k := fmt.Sprintf("race/%02d", i)
		reqs := make([]*http.Request, len(es))
		for r, e := range es {
			reqs[r] = signedRequest(t, e, http.MethodGet, objectURL(e, bucket, k), nil)
		}
		got := make([]replicaGet, len(es))
		var wg sync.WaitGroup
		for r, req := range reqs {
			wg.Go(func() {
				resp, err := client.Do(req)
				if err != nil {
					got[r].Err = err
					return
				}
				defer resp.Body.Close()
				got[r].Body, got[r].Err = io.ReadAll(resp.Body)
				got[r].Status, got[r].XCache = resp.StatusCode, resp.Header.Get("X-Cache")
			})
		}
		wg.Wait()
		for r, g := range got {
			if g.Err != nil || g.Status != 200 || !bytes.Equal(g.Body, small) {
				t.Errorf("GET %s through %s, the three at once: %s; want 200 with the %d stored", k, replicaNames[r], g.describe(), len(small))
			}
		}
		if n := rs.relay.count(http.MethodGet, bucket, k); n != 1 {
			t.Errorf("GET %s through the three replicas at once: the backend saw %d GETs, want 1 (X-Cache %q, %q, %q)",
				k, n, got[0].XCache, got[1].XCache, got[2].XCache)
		}
	}
	wantBackendGets(t, es, getsBefore, racing, fmt.Sprintf("%d objects each read through the three replicas at once", racing))
}

// wantBackendGets checks that the replicas' GetObject counters, summed,
// grew by want since before. A counter is updated when the backend call
// ends, which may be just after the client read its answer: it polls
// until the sum reaches want, then checks it did not pass it.
func wantBackendGets(t *testing.T, es []endpoint, before, want float64, what string) {
	t.Helper()
	var got float64
	err := poll(t.Context(), consistencyWait, func(context.Context) error {
		got = backendGetObjects(t, es) - before
		if got < want {
			return fmt.Errorf("grew by %v", got)
		}
		return nil
	})
	if err != nil || got != want {
		t.Errorf("%s: s3cache_backend_requests_total{operation=\"GetObject\"} summed over the replicas grew by %v, want %v (%v)",
			what, got, want, err)
	}
}
