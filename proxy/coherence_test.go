package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/s3cache/s3cache/proxy/internal/coherence/coherencetest"
)

// newReplicas starts n proxies in front of one backend, sharing redis.
func newReplicas(t *testing.T, n int, backend *httptest.Server, redis *coherencetest.Redis, mod func(*Config)) []string {
	t.Helper()
	urls := make([]string, n)
	for i := range urls {
		_, srv := newTestProxy(t, backend, func(c *Config) {
			c.RedisURL = redis.URL()
			c.RedisTimeout = 100 * time.Millisecond
			c.AdminToken = testAdminToken
			if mod != nil {
				mod(c)
			}
		})
		urls[i] = srv.URL
		waitRedisState(t, srv.URL, "ok")
	}
	return urls
}

// get reads url through a proxy and returns the body and X-Cache.
func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	res := do(t, "GET", url, nil, testSecret)
	body := readBody(t, res)
	return res.StatusCode, body, res.Header.Get("X-Cache")
}

func TestReplicasInvalidateEachOther(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("v1")
	redis := coherencetest.StartRedis(t)
	r := newReplicas(t, 2, backend, redis, nil)
	a, b := r[0], r[1]

	for _, want := range []string{xCacheMiss, xCacheHit} {
		if code, body, x := get(t, b+"/bkt/k"); code != 200 || body != "v1" || x != want {
			t.Fatalf("GET through B: %d %q %s, want 200 v1 %s", code, body, x, want)
		}
	}
	// A write through A: B's entry must not be served once A answered.
	if res := do(t, "PUT", a+"/bkt/k", []byte("v2"), testSecret); res.StatusCode != 200 {
		t.Fatalf("PUT through A: %d", res.StatusCode)
	}
	if code, body, x := get(t, b+"/bkt/k"); code != 200 || body != "v2" || x != xCacheMiss {
		t.Fatalf("GET through B after A's write: %d %q %s, want 200 v2 MISS", code, body, x)
	}
	if _, body, x := get(t, b+"/bkt/k"); body != "v2" || x != xCacheHit {
		t.Fatalf("second GET through B: %q %s, want v2 HIT", body, x)
	}
	// A DELETE through B; A had cached v2.
	get(t, a+"/bkt/k")
	if _, _, x := get(t, a+"/bkt/k"); x != xCacheHit {
		t.Fatalf("A did not cache: X-Cache %s", x)
	}
	if res := do(t, "DELETE", b+"/bkt/k", nil, testSecret); res.StatusCode != 204 {
		t.Fatalf("DELETE through B: %d", res.StatusCode)
	}
	if code, _, _ := get(t, a+"/bkt/k"); code != 404 {
		t.Fatalf("GET through A after B's delete: %d, want 404", code)
	}

	// A purge through one replica's admin API reaches the other.
	fake.mu.Lock()
	fake.objects["/bkt/p/x"] = []byte("p1")
	fake.mu.Unlock()
	get(t, b+"/bkt/p/x")
	fake.mu.Lock()
	fake.objects["/bkt/p/x"] = []byte("p2") // changed behind the proxies' backs
	fake.mu.Unlock()
	if _, body, x := get(t, b+"/bkt/p/x"); body != "p1" || x != xCacheHit {
		t.Fatalf("B before purge: %q %s, want p1 HIT", body, x)
	}
	if res, body := adminDo(t, "bearer:"+testAdminToken, "POST", a+"/-/admin/purge", `{"prefixes":[{"bucket":"bkt","prefix":"p/"}]}`); res.StatusCode != 200 {
		t.Fatalf("purge through A: %d %s", res.StatusCode, body)
	}
	start := time.Now()
	for i := 0; ; i++ {
		if _, body, _ := get(t, b+"/bkt/p/x"); body == "p2" {
			if i > 0 {
				t.Errorf("B after A's purge: stale for %d reads, %v", i, time.Since(start))
			}
			break
		}
	}
}

func TestReplicasRedisDown(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("v1")
	redis := coherencetest.StartRedis(t)
	r := newReplicas(t, 2, backend, redis, nil)
	a, b := r[0], r[1]
	get(t, b+"/bkt/k")
	if _, _, x := get(t, b+"/bkt/k"); x != xCacheHit {
		t.Fatalf("B did not cache: %s", x)
	}

	redis.Stop()
	waitRedisState(t, a, "unreachable")
	waitRedisState(t, b, "unreachable")
	// B can no longer hear of writes: its entry is revalidated.
	before := fake.getCount("/bkt/k")
	if code, body, x := get(t, b+"/bkt/k"); code != 200 || body != "v1" || x != xCacheRevalidated {
		t.Fatalf("GET through B with Redis down: %d %q %s, want 200 v1 REVALIDATED", code, body, x)
	}
	if fake.getCount("/bkt/k") != before+1 {
		t.Fatalf("backend saw %d GETs, want %d", fake.getCount("/bkt/k"), before+1)
	}
	// Writes still go through, and B never serves what they replaced.
	if res := do(t, "PUT", a+"/bkt/k", []byte("v2"), testSecret); res.StatusCode != 200 {
		t.Fatalf("PUT through A with Redis down: %d", res.StatusCode)
	}
	for range 2 {
		if _, body, x := get(t, b+"/bkt/k"); body != "v2" || x == xCacheHit {
			t.Fatalf("GET through B after A's write, Redis down: %q %s, want v2 and no HIT", body, x)
		}
	}
	res := do(t, "GET", b+"/-/metrics", nil, testSecret)
	if m := readBody(t, res); !strings.Contains(m, "s3cache_redis_up 0\n") {
		t.Errorf("metrics with Redis down lack s3cache_redis_up 0")
	}

	redis.Start()
	waitRedisState(t, a, "ok")
	waitRedisState(t, b, "ok")
	get(t, b+"/bkt/k")
	if _, body, x := get(t, b+"/bkt/k"); body != "v2" || x != xCacheHit {
		t.Fatalf("B after Redis came back: %q %s, want v2 HIT", body, x)
	}
	if res := do(t, "PUT", a+"/bkt/k", []byte("v3"), testSecret); res.StatusCode != 200 {
		t.Fatalf("PUT through A: %d", res.StatusCode)
	}
	if _, body, _ := get(t, b+"/bkt/k"); body != "v3" {
		t.Fatalf("B after A's write, Redis back: %q, want v3", body)
	}
	res = do(t, "GET", b+"/-/metrics", nil, testSecret)
	if m := readBody(t, res); !strings.Contains(m, "s3cache_redis_up 1\n") {
		t.Errorf("metrics with Redis back lack s3cache_redis_up 1")
	}
}

// A fill on one replica while a write through another is in flight is
// neither stored nor shared.
func TestReplicaFillDuringRemoteWrite(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("v1")
	redis := coherencetest.StartRedis(t)
	r := newReplicas(t, 2, backend, redis, nil)
	a, b := r[0], r[1]

	finish := holdPut(t, fake, a+"/bkt/k", []byte("v2"))
	for range 2 {
		if _, _, x := get(t, b+"/bkt/k"); x != xCacheMiss {
			t.Fatalf("GET through B during A's write: X-Cache %s, want MISS (not stored)", x)
		}
	}
	if code := finish(); code != 200 {
		t.Fatalf("PUT through A: %d", code)
	}
	if _, body, _ := get(t, b+"/bkt/k"); body != "v2" {
		t.Fatalf("B after the write: %q, want v2", body)
	}
}

// TestReplicaUnknownWriteOutcome: a PUT through replica A whose whole
// body reached a backend that did not answer in time may still be
// committed, so the key stays uncacheable on every replica, not only on A:
// B's reads are fetched each time and none is a hit.
func TestReplicaUnknownWriteOutcome(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("old")
	release := make(chan struct{})
	fake.onPut = func(w http.ResponseWriter, r *http.Request) { <-release }
	t.Cleanup(func() { close(release) })
	redis := coherencetest.StartRedis(t)
	r := newReplicas(t, 2, backend, redis, func(c *Config) { c.BackendTimeout = 300 * time.Millisecond })
	a, b := r[0], r[1]

	res := do(t, "PUT", a+"/bkt/k", []byte("new"), testSecret)
	if res.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("PUT through A to a backend that does not answer: %d, want 504", res.StatusCode)
	}
	before := fake.getCount("/bkt/k")
	for i := range 3 {
		if _, body, x := get(t, b+"/bkt/k"); x == xCacheHit {
			t.Fatalf("GET %d through B after A's write of unknown outcome: a hit of %q", i, body)
		}
	}
	if n := fake.getCount("/bkt/k") - before; n != 3 {
		t.Errorf("the backend saw %d GETs of the key for 3 reads through B, want 3: nothing may be cached", n)
	}
}

// REDIS_URL may list the nodes of a Redis Cluster: generations, the
// tracking of them and the shared tier work across its slots.
func TestReplicasRedisCluster(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("v1")
	nodes := coherencetest.StartCluster(t)
	var r []string
	for range 2 {
		_, srv := newTestProxy(t, backend, func(c *Config) {
			c.RedisURL = strings.Join(nodes, ",")
			c.RedisTimeout = 200 * time.Millisecond
			c.CacheL2 = "redis"
		})
		waitRedisState(t, srv.URL, "ok")
		r = append(r, srv.URL)
	}
	a, b := r[0], r[1]
	for i, step := range []struct{ url, want, x string }{
		{a, "v1", xCacheMiss}, {b, "v1", xCacheShared}, {b, "v1", xCacheHit},
	} {
		if _, body, x := get(t, step.url+"/bkt/k"); body != step.want || x != step.x {
			t.Fatalf("read %d: %q %s, want %q %s", i, body, x, step.want, step.x)
		}
	}
	if res := do(t, "PUT", a+"/bkt/k", []byte("v2"), testSecret); res.StatusCode != 200 {
		t.Fatalf("PUT through A: %d", res.StatusCode)
	}
	if _, body, x := get(t, b+"/bkt/k"); body != "v2" || x != xCacheMiss {
		t.Fatalf("B after A's write: %q %s, want v2 MISS", body, x)
	}
	if n := fake.getCount("/bkt/k"); n != 2 {
		t.Errorf("backend saw %d GETs, want 2 (one per version)", n)
	}
}

// A write in flight while Redis restarts empty is marked again before the
// replicas trust Redis, and leaves no mark behind once it ends: the object
// is cacheable again everywhere.
func TestReplicaWriteAcrossRedisRestart(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("v1")
	redis := coherencetest.StartRedis(t)
	r := newReplicas(t, 2, backend, redis, nil)
	a, b := r[0], r[1]

	finish := holdPut(t, fake, a+"/bkt/k", []byte("v2"))
	redis.Stop()
	waitRedisState(t, a, "unreachable")
	redis.Start() // empty: the write's mark is gone
	waitRedisState(t, a, "ok")
	waitRedisState(t, b, "ok")
	// A marked its write again before trusting Redis: B stores nothing.
	for range 2 {
		if _, _, x := get(t, b+"/bkt/k"); x != xCacheMiss {
			t.Fatalf("GET through B while A's write is in flight: X-Cache %s, want MISS", x)
		}
	}
	if code := finish(); code != 200 {
		t.Fatalf("PUT through A: %d", code)
	}
	cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{redis.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitFor(t, "A's marks to be gone", func() bool {
		m, err := cl.Do(context.Background(), cl.B().Hgetall().Key(DefaultRedisPrefix+"o:bkt/k").Build()).AsStrMap()
		if err != nil {
			return false
		}
		for f := range m {
			if strings.HasPrefix(f, "w:") {
				return false
			}
		}
		return true
	})
	get(t, b+"/bkt/k")
	if _, body, x := get(t, b+"/bkt/k"); body != "v2" || x != xCacheHit {
		t.Fatalf("B after the write: %q %s, want v2 HIT", body, x)
	}
}

// rediss:// with REDIS_CA_FILE: the replicas reach a TLS-only Redis whose
// certificate they verify, and stay coherent through it; without the CA
// they refuse it and keep revalidating.
func TestReplicasRedisTLS(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("v1")
	tlsArgs, roots := coherencetest.TLSFiles(t, t.TempDir())
	redis := coherencetest.StartRedisTLS(t, tlsArgs)
	tlsURL := "rediss://" + redis.Addr
	var r []string
	for range 2 {
		_, srv := newTestProxy(t, backend, func(c *Config) {
			c.RedisURL, c.RedisRootCAs, c.RedisTimeout = tlsURL, roots, 100*time.Millisecond
		})
		waitRedisState(t, srv.URL, "ok")
		r = append(r, srv.URL)
	}
	get(t, r[1]+"/bkt/k")
	if _, _, x := get(t, r[1]+"/bkt/k"); x != xCacheHit {
		t.Fatalf("B did not cache: %s", x)
	}
	if res := do(t, "PUT", r[0]+"/bkt/k", []byte("v2"), testSecret); res.StatusCode != 200 {
		t.Fatalf("PUT through A: %d", res.StatusCode)
	}
	if _, body, _ := get(t, r[1]+"/bkt/k"); body != "v2" {
		t.Fatalf("B after A's write over TLS Redis: %q, want v2", body)
	}

	// Not trusting the certificate: Redis is unreachable for this replica.
	_, untrusting := newTestProxy(t, backend, func(c *Config) { c.RedisURL, c.RedisTimeout = tlsURL, 100*time.Millisecond })
	waitFor(t, "the certificate to be refused", func() bool {
		res := do(t, "GET", untrusting.URL+"/-/metrics", nil, testSecret)
		m := readBody(t, res)
		return strings.Contains(m, "s3cache_redis_up 0\n") && !strings.Contains(m, "s3cache_redis_errors_total 0\n")
	})
	get(t, untrusting.URL+"/bkt/k")
	if _, _, x := get(t, untrusting.URL+"/bkt/k"); x == xCacheHit {
		t.Fatalf("a replica that cannot verify Redis served a hit")
	}
}

// holdPut sends a PUT of body to url and returns once the backend holds
// it, before storing it. finish lets it go on and returns the PUT's
// status (0 if it failed).
func holdPut(t *testing.T, fake *fakeS3, url string, body []byte) (finish func() int) {
	t.Helper()
	held, release := make(chan struct{}), make(chan struct{})
	fake.onPut = func(w http.ResponseWriter, r *http.Request) {
		close(held)
		<-release
	}
	done := make(chan int)
	go func() {
		res, err := send(t, "PUT", url, body, testSecret)
		if err != nil {
			done <- 0
			return
		}
		done <- res.StatusCode
	}()
	<-held
	return func() int {
		close(release)
		return <-done
	}
}
