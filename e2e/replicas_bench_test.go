package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The scale-out benchmark's load.
const (
	benchWrites       = 200             // writes whose invalidation delay is measured
	benchReadKeys     = 64              // 4 KiB objects read under load
	benchReaders      = 16              // concurrent readers
	benchReadDuration = 3 * time.Second // one round of reads per configuration
	benchReadRounds   = 3               // rounds, interleaved Redis on / off
	benchSharedKeys   = 48              // 64 KiB objects read through every replica
	benchSharedEach   = 4               // readers per replica
	benchTimeout      = 5 * time.Minute
)

// BenchmarkReplicas measures what coherence through Redis costs and what
// the shared tier saves, in one run whatever b.N:
//
//   - invalidation: a write acknowledged by replica A, then GETs through
//     replica B, which held the old version in its cache, until B serves
//     the new bytes — the delay from the acknowledgement to the new bytes,
//     p50 and p99 over benchWrites writes, and how many stale reads B
//     served meanwhile (any is a failure). For scale, the same delay on a
//     single proxy without Redis, written and read through the same
//     process, and the write latency with Redis on and off.
//   - read: GET latency (p50, p99) and requests/s of cached 4 KiB objects
//     through one proxy under benchReaders concurrent readers, Redis on
//     and off, rounds interleaved.
//   - shared tier: three replicas reading the same benchSharedKeys objects
//     (64 KiB, each replica every key once, concurrently): backend GETs,
//     from the replicas' s3cache_backend_requests_total, with CACHE_L2=redis
//     and without.
//
// Run it as
//
//	go test -run '^$' -bench Replicas -benchtime=1x ./e2e
//
// and read the table it logs. Numbers are ratios and percentiles of one
// run on one machine; nothing is asserted on time.
func BenchmarkReplicas(b *testing.B) {
	ctx, cancel := context.WithTimeout(b.Context(), benchTimeout)
	defer cancel()
	redis := startRedis(b)
	on := map[string]string{"REDIS_URL": redis.URL()}
	backend := backendAddr(b)
	a := startProxy(b, proxyOptions{Backend: backend, Env: on}).endpoint()
	bb := startProxy(b, proxyOptions{Backend: backend, Env: on}).endpoint()
	alone := startProxy(b, proxyOptions{Backend: backend}).endpoint()
	bucket := benchBucket(b, ctx, a)

	var rows [][3]string
	row := func(what, withRedis, without string) { rows = append(rows, [3]string{what, withRedis, without}) }
	b.ResetTimer()

	// Invalidation delay.
	cross, err := benchInvalidation(ctx, a, bb, bucket, "invalidate/cross")
	if err != nil {
		b.Fatalf("write through A, read through B: %v", err)
	}
	local, err := benchInvalidation(ctx, alone, alone, bucket, "invalidate/local")
	if err != nil {
		b.Fatalf("write and read through one proxy without Redis: %v", err)
	}
	if cross.stale > 0 || local.stale > 0 {
		b.Errorf("stale reads after the write was acknowledged: %d through B (Redis), %d through the proxy alone", cross.stale, local.stale)
	}
	b.ReportMetric(ms(percentile(cross.delay, 50)), "invalidation-p50-ms")
	b.ReportMetric(ms(percentile(cross.delay, 99)), "invalidation-p99-ms")
	row("write acknowledged → new bytes served, p50 / p99 (B had the old version cached)",
		fmt.Sprintf("%.2f / %.2f ms (A writes, B reads)", ms(percentile(cross.delay, 50)), ms(percentile(cross.delay, 99))),
		fmt.Sprintf("%.2f / %.2f ms (one proxy writes and reads)", ms(percentile(local.delay, 50)), ms(percentile(local.delay, 99))))
	row("stale reads after the acknowledgement", fmt.Sprint(cross.stale), fmt.Sprint(local.stale))
	row("PutObject (8 KiB) latency, p50 / p99",
		fmt.Sprintf("%.2f / %.2f ms", ms(percentile(cross.put, 50)), ms(percentile(cross.put, 99))),
		fmt.Sprintf("%.2f / %.2f ms", ms(percentile(local.put, 50)), ms(percentile(local.put, 99))))

	// Read latency under load.
	onLoad, offLoad, err := benchReads(ctx, bb, alone, bucket)
	if err != nil {
		b.Fatalf("reads under load: %v", err)
	}
	b.ReportMetric(ms(percentile(onLoad.lat, 50)), "read-p50-ms-redis")
	b.ReportMetric(ms(percentile(onLoad.lat, 99)), "read-p99-ms-redis")
	b.ReportMetric(ms(percentile(offLoad.lat, 50)), "read-p50-ms-alone")
	b.ReportMetric(ms(percentile(offLoad.lat, 99)), "read-p99-ms-alone")
	row(fmt.Sprintf("cached 4 KiB GET under %d concurrent readers, p50 / p99", benchReaders),
		fmt.Sprintf("%.2f / %.2f ms", ms(percentile(onLoad.lat, 50)), ms(percentile(onLoad.lat, 99))),
		fmt.Sprintf("%.2f / %.2f ms", ms(percentile(offLoad.lat, 50)), ms(percentile(offLoad.lat, 99))))
	row("… requests/s (same load)", fmt.Sprintf("%.0f", onLoad.rate()), fmt.Sprintf("%.0f", offLoad.rate()))

	// Backend GETs saved by the shared tier.
	withL2, err := benchShared(b, ctx, redis.URL(), true)
	if err != nil {
		b.Fatalf("three replicas with CACHE_L2=redis: %v", err)
	}
	redis2 := startRedis(b) // a fresh Redis, so nothing is shared from the first set
	withoutL2, err := benchShared(b, ctx, redis2.URL(), false)
	if err != nil {
		b.Fatalf("three replicas without a shared tier: %v", err)
	}
	b.StopTimer()
	b.ReportMetric(withL2, "backend-GETs-shared-tier")
	b.ReportMetric(withoutL2, "backend-GETs-no-shared-tier")
	row(fmt.Sprintf("backend GETs, 3 replicas each reading the same %d objects of 64 KiB", benchSharedKeys),
		fmt.Sprintf("%.0f with CACHE_L2=redis (%.2f per object)", withL2, withL2/benchSharedKeys),
		fmt.Sprintf("%.0f without (%.2f per object)", withoutL2, withoutL2/benchSharedKeys))

	var t strings.Builder
	fmt.Fprintf(&t, "\n| | with Redis | without |\n| --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&t, "| %s | %s | %s |\n", r[0], r[1], r[2])
	}
	b.Log(t.String())
}

// benchBucket creates a bucket through e.
func benchBucket(b *testing.B, ctx context.Context, e endpoint) string {
	b.Helper()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	bucket := "e2e-bench-replicas-" + hex.EncodeToString(rnd[:])
	if _, err := sdkClient(e).CreateBucket(ctx, createBucketInput(bucket)); err != nil {
		b.Fatalf("CreateBucket %q via %s: %v", bucket, e.URL, err)
	}
	return bucket
}

// invalidationRun is what benchInvalidation measured.
type invalidationRun struct {
	delay []time.Duration // acknowledgement → a GET through the reader returned the new bytes
	put   []time.Duration // write latency
	stale int             // GETs after the acknowledgement that returned older bytes
}

// benchInvalidation writes benchWrites versions of key through w; before
// each it GETs through r until r answers from its cache (HIT), and after
// each it GETs through r until the new bytes come back.
func benchInvalidation(ctx context.Context, w, r endpoint, bucket, key string) (invalidationRun, error) {
	var run invalidationRun
	sdk := sdkClient(w)
	version := func(i int) []byte {
		return fmt.Appendf(nil, "version %04d\n%s", i, bytes.Repeat([]byte{'v'}, 8<<10))
	}
	put := func(body []byte) error {
		_, err := sdk.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: bytes.NewReader(body)})
		return err
	}
	if err := put(version(0)); err != nil {
		return run, err
	}
	url := objectURL(r, bucket, key)
	for i := 1; i <= benchWrites; i++ {
		old, cur := version(i-1), version(i)
		for {
			g, err := benchGet(ctx, r, url)
			if err != nil {
				return run, err
			}
			if !bytes.Equal(g.Body, old) {
				return run, fmt.Errorf("write %d: before it, GET returned %.20q (X-Cache %q), want %.20q", i, g.Body, g.Header.Get("X-Cache"), old)
			}
			if g.Header.Get("X-Cache") == "HIT" {
				break
			}
		}
		start := time.Now()
		if err := put(cur); err != nil {
			return run, err
		}
		ack := time.Now()
		run.put = append(run.put, ack.Sub(start))
		for {
			g, err := benchGet(ctx, r, url)
			if err != nil {
				return run, err
			}
			if bytes.Equal(g.Body, cur) {
				run.delay = append(run.delay, time.Since(ack))
				break
			}
			run.stale++
			if time.Since(ack) > consistencyWait {
				return run, fmt.Errorf("write %d: GETs still return older bytes %v after the write returned (%d stale reads)",
					i, consistencyWait, run.stale)
			}
		}
	}
	return run, nil
}

// benchClient is the benchmark's HTTP client: enough idle connections for
// every reader.
var benchClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: nil,
	DisableCompression: true, MaxIdleConnsPerHost: 64}}

// benchGet GETs url, signed for e, and wants 200.
func benchGet(ctx context.Context, e endpoint, url string) (httpResult, error) {
	req, err := signedRequestCtx(ctx, e, http.MethodGet, url)
	if err != nil {
		return httpResult{}, err
	}
	return benchDo(req)
}

func benchDo(req *http.Request) (httpResult, error) {
	resp, err := benchClient.Do(req)
	if err != nil {
		return httpResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: status %d: %.200s", req.URL.Path, resp.StatusCode, body)
	}
	return httpResult{Status: resp.StatusCode, Header: resp.Header, Body: body}, err
}

// presignedGets returns a presigned GET URL (valid two hours) per key.
func presignedGets(ctx context.Context, e endpoint, bucket string, keys []string) ([]string, error) {
	creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: e.Secret}
	urls := make([]string, len(keys))
	for i, k := range keys {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, objectURL(e, bucket, k)+"?X-Amz-Expires=7200", nil)
		if err != nil {
			return nil, err
		}
		if urls[i], _, err = v4.NewSigner().PresignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now()); err != nil {
			return nil, err
		}
	}
	return urls, nil
}

// readLoad is the latency of every GET of one configuration, and the time
// they took.
type readLoad struct {
	lat     []time.Duration
	elapsed time.Duration
}

func (l readLoad) rate() float64 { return float64(len(l.lat)) / l.elapsed.Seconds() }

// benchReads puts benchReadKeys objects through on, reads each through on
// and off until cached, then loads each with benchReaders readers for
// benchReadDuration per round, rounds interleaved.
func benchReads(ctx context.Context, on, off endpoint, bucket string) (readLoad, readLoad, error) {
	keys := make([]string, benchReadKeys)
	sdk := sdkClient(on)
	body := bytes.Repeat([]byte{'r'}, 4<<10)
	for i := range keys {
		keys[i] = fmt.Sprintf("read/%02d", i)
		if _, err := sdk.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &keys[i], Body: bytes.NewReader(body)}); err != nil {
			return readLoad{}, readLoad{}, err
		}
	}
	var loads [2]readLoad
	var urls [2][]string
	for c, e := range []endpoint{on, off} {
		var err error
		if urls[c], err = presignedGets(ctx, e, bucket, keys); err != nil {
			return readLoad{}, readLoad{}, err
		}
		for _, u := range urls[c] {
			for {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
				g, err := benchDo(req)
				if err != nil {
					return readLoad{}, readLoad{}, err
				}
				if g.Header.Get("X-Cache") == "HIT" {
					break
				}
			}
		}
	}
	for round := range benchReadRounds {
		for _, c := range []int{round % 2, 1 - round%2} {
			lat, elapsed, err := benchLoad(ctx, urls[c])
			if err != nil {
				return readLoad{}, readLoad{}, err
			}
			loads[c].lat = append(loads[c].lat, lat...)
			loads[c].elapsed += elapsed
		}
	}
	return loads[0], loads[1], nil
}

// benchLoad GETs urls at random with benchReaders readers for
// benchReadDuration and returns every GET's latency.
func benchLoad(ctx context.Context, urls []string) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lats := make([][]time.Duration, benchReaders)
	errs := make([]error, benchReaders)
	start := time.Now()
	end := start.Add(benchReadDuration)
	var wg sync.WaitGroup
	for i := range benchReaders {
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(uint64(i), 1))
			for time.Now().Before(end) {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, urls[rng.IntN(len(urls))], nil)
				if err != nil {
					errs[i] = err
					return
				}
				t0 := time.Now()
				if _, err := benchDo(req); err != nil {
					errs[i] = err
					cancel()
					return
				}
				lats[i] = append(lats[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, 0, err
		}
	}
	return slices.Concat(lats...), time.Since(start), nil
}

// benchShared starts three replicas on Redis url (with CACHE_L2=redis when
// l2), has each read the same benchSharedKeys objects once, concurrently,
// and returns how many GETs they sent the backend.
func benchShared(b *testing.B, ctx context.Context, url string, l2 bool) (float64, error) {
	env := map[string]string{"REDIS_URL": url}
	if l2 {
		env["CACHE_L2"] = "redis"
	}
	var es []endpoint
	for range 3 {
		es = append(es, startProxy(b, proxyOptions{Backend: backendAddr(b), Env: env}).endpoint())
	}
	bucket := benchBucket(b, ctx, es[0])
	keys := make([]string, benchSharedKeys)
	direct := sdkClient(directBackend(b))
	body := make([]byte, 64<<10)
	_, _ = rand.Read(body)
	for i := range keys {
		keys[i] = fmt.Sprintf("shared/%02d", i)
		if _, err := direct.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &keys[i], Body: bytes.NewReader(body)}); err != nil {
			return 0, err
		}
	}
	before := backendGetObjects(b, es)
	errs := make(chan error, len(es)*benchSharedEach)
	var wg sync.WaitGroup
	for r, e := range es {
		urls, err := presignedGets(ctx, e, bucket, keys)
		if err != nil {
			return 0, err
		}
		rng := mrand.New(mrand.NewPCG(uint64(r), 2))
		rng.Shuffle(len(urls), func(i, j int) { urls[i], urls[j] = urls[j], urls[i] })
		for w := range benchSharedEach {
			wg.Go(func() {
				for i := w; i < len(urls); i += benchSharedEach {
					req, err := http.NewRequestWithContext(ctx, http.MethodGet, urls[i], nil)
					if err == nil {
						var g httpResult
						if g, err = benchDo(req); err == nil && !bytes.Equal(g.Body, body) {
							err = fmt.Errorf("GET %s: %d bytes, not the %d stored", req.URL.Path, len(g.Body), len(body))
						}
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return 0, err
	}
	// Counters are updated when each backend call ends, which may be just
	// after its client read the answer: wait until two scrapes agree.
	var gets float64
	err := poll(ctx, 10*time.Second, func(context.Context) error {
		prev := gets
		gets = backendGetObjects(b, es) - before
		if gets < benchSharedKeys || gets != prev {
			return fmt.Errorf("backend GETs %v, then %v", prev, gets)
		}
		return nil
	})
	return gets, err
}

// percentile returns the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
