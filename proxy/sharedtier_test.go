package proxy

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/s3cache/s3cache/proxy/internal/coherence/coherencetest"
)

func TestSharedTier(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("v1")
	redis := coherencetest.StartRedis(t)
	r := newReplicas(t, 3, backend, redis, func(c *Config) { c.CacheL2 = "redis" })
	a, b, c := r[0], r[1], r[2]

	if _, body, x := get(t, a+"/bkt/k"); body != "v1" || x != xCacheMiss {
		t.Fatalf("A: %q %s, want v1 MISS", body, x)
	}
	// A's client can have the whole body before A stored it in Redis.
	waitFor(t, "A's value in the shared tier", func() bool {
		return metricValue(readBody(t, do(t, "GET", a+"/-/metrics", nil, testSecret)), "s3cache_l2_stores_total") == 1
	})
	for i, want := range []string{xCacheShared, xCacheHit} {
		if _, body, x := get(t, b+"/bkt/k"); body != "v1" || x != want {
			t.Fatalf("B read %d: %q %s, want v1 %s", i, body, x, want)
		}
	}
	if n := fake.getCount("/bkt/k"); n != 1 {
		t.Fatalf("backend saw %d GETs, want 1: B's miss was not filled from the shared tier", n)
	}
	// A write through C: no replica may fill from the old value.
	if res := do(t, "PUT", c+"/bkt/k", []byte("v2"), testSecret); res.StatusCode != 200 {
		t.Fatalf("PUT through C: %d", res.StatusCode)
	}
	if _, body, x := get(t, b+"/bkt/k"); body != "v2" || x != xCacheMiss {
		t.Fatalf("B after C's write: %q %s, want v2 MISS", body, x)
	}
	waitFor(t, "B's value in the shared tier", func() bool {
		return metricValue(readBody(t, do(t, "GET", b+"/-/metrics", nil, testSecret)), "s3cache_l2_stores_total") == 1
	})
	if _, body, x := get(t, a+"/bkt/k"); body != "v2" || x != xCacheShared {
		t.Fatalf("A after B's fill: %q %s, want v2 SHARED", body, x)
	}
	res := do(t, "GET", a+"/-/metrics", nil, testSecret)
	if m := readBody(t, res); !strings.Contains(m, `s3cache_cache_requests_total{result="shared"} 1`) ||
		!strings.Contains(m, `s3cache_l2_lookups_total{result="hit"} 1`) {
		t.Errorf("A's metrics lack one shared read and one shared hit")
	}
}

func TestSharedTierCoalescesAcrossReplicas(t *testing.T) {
	fake, backend := newFakeS3(t)
	body := bytes.Repeat([]byte(`{"k":"v"},`), 2000) // compressible
	fake.objects["/bkt/j"] = body
	redis := coherencetest.StartRedis(t)
	// Waiters look again only when Redis reports the value or the lock
	// changed: with their timers this long, nothing else wakes them.
	r := newReplicas(t, 3, backend, redis, func(c *Config) {
		c.CacheL2 = "redis"
		c.CacheL2LockTTL = 5 * time.Minute
		c.sharedTierPoll = time.Minute
	})

	// The backend holds its first GET until every replica has a reader
	// waiting: the others must wait for the one fetch.
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		once.Do(func() { close(held); <-release })
		return false
	}
	const perReplica = 3
	var wg sync.WaitGroup
	results := make(chan string, 3*perReplica)
	for _, u := range r {
		for range perReplica {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := send(t, "GET", u+"/bkt/j", nil, testSecret)
				if err != nil {
					results <- "error " + err.Error()
					return
				}
				b := readBody(t, res)
				if b != string(body) {
					results <- "wrong body"
					return
				}
				results <- res.Header.Get("X-Cache")
			}()
		}
	}
	<-held
	// Every replica but the fetching one must be waiting for the shared
	// fill lock before the fetch is let go.
	waitFor(t, "the other replicas to wait for the fill lock", func() bool {
		var waiting float64
		for _, u := range r {
			res := do(t, "GET", u+"/-/metrics", nil, testSecret)
			waiting += metricValue(readBody(t, res), "s3cache_l2_lock_waiting")
		}
		return waiting == float64(len(r)-1)
	})
	close(release)
	wg.Wait()
	close(results)
	count := map[string]int{}
	for x := range results {
		count[x]++
	}
	if n := fake.getCount("/bkt/j"); n != 1 {
		t.Errorf("backend saw %d GETs for %d concurrent reads over 3 replicas, want 1", n, 3*perReplica)
	}
	if count[xCacheMiss] != perReplica || count[xCacheShared] != 2*perReplica {
		t.Errorf("X-Cache counts %v, want %d MISS (the fetching replica) and %d SHARED", count, perReplica, 2*perReplica)
	}
	var stores, saved, woken float64
	for _, u := range r {
		res := do(t, "GET", u+"/-/metrics", nil, testSecret)
		m := readBody(t, res)
		stores += metricValue(m, "s3cache_l2_stores_total")
		saved += metricValue(m, "s3cache_l2_compression_saved_bytes_total")
		woken += metricValue(m, `s3cache_l2_lock_wakeups_total{cause="redis"}`)
	}
	if woken != float64(len(r)-1) {
		t.Errorf("%v waiting replicas were woken by Redis's report of the stored value, want %d", woken, len(r)-1)
	}
	if stores != 1 || saved <= float64(len(body))/2 {
		t.Errorf("replicas stored %v values saving %v bytes, want 1 value compressed to under half its %d bytes", stores, saved, len(body))
	}
}

// metricValue returns the value of an unlabelled sample in a scrape, 0 if
// absent.
func metricValue(scrape, name string) float64 {
	for _, l := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// A fill lock whose holder died lapses: the waiting replica fetches for
// itself instead of hanging.
func TestSharedTierLockHolderDies(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("v1")
	redis := coherencetest.StartRedis(t)
	r := newReplicas(t, 1, backend, redis, func(c *Config) { c.CacheL2 = "redis"; c.CacheL2LockTTL = 5 * time.Second })
	cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{redis.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// A replica that took the lock and died: nothing will release it
	// before it lapses.
	if err := cl.Do(context.Background(), cl.B().Set().Key(DefaultRedisPrefix+"l:bkt/k").Value("dead").Px(300*time.Millisecond).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if code, body, x := get(t, r[0]+"/bkt/k"); code != 200 || body != "v1" || x != xCacheMiss {
		t.Fatalf("GET behind a dead replica's lock: %d %q %s, want 200 v1 MISS", code, body, x)
	}
	res := do(t, "GET", r[0]+"/-/metrics", nil, testSecret)
	if m := readBody(t, res); !strings.Contains(m, `s3cache_l2_lock_waits_total{outcome="fetched"} 1`) {
		t.Errorf("metrics lack one wait that ended in a fetch")
	}
	// Its fill stored the value for the others.
	if n, err := cl.Do(context.Background(), cl.B().Exists().Key(DefaultRedisPrefix+"v:bkt/k").Build()).AsInt64(); err != nil || n != 1 {
		t.Fatalf("no value stored after the fetch: %d, %v", n, err)
	}
	other := newReplicas(t, 1, backend, redis, func(c *Config) { c.CacheL2 = "redis" })
	if code, body, x := get(t, other[0]+"/bkt/k"); code != 200 || body != "v1" || x != xCacheShared {
		t.Fatalf("GET through another replica: %d %q %s, want 200 v1 SHARED", code, body, x)
	}
	if n := fake.getCount("/bkt/k"); n != 1 {
		t.Errorf("backend saw %d GETs, want 1: the stored value was not used", n)
	}
}
