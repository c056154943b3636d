package proxy

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/s3cache/s3cache/proxy/internal/coherence/coherencetest"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the proxy and not a recorder.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkServeHit measures a signed GET answered from the cache through
// the handler: verification, routing, lookup and writing the entry.
func BenchmarkServeHit(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10, 1 << 20} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			fake, backend := newFakeS3(b)
			fake.objects["/bkt/obj"] = make([]byte, size)
			cfg := Config{Endpoint: backend.Listener.Addr().String(), AccessKey: testKey, SecretKey: testSecret}
			cfg.Logger = discardLogger()
			p, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			req := httptest.NewRequest("GET", "http://proxy/bkt/obj", nil)
			signRequest(b, req, "UNSIGNED-PAYLOAD", testSecret)
			w := &discardWriter{h: http.Header{}}
			p.ServeHTTP(w, req) // fill
			p.cache.Wait()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clear(w.h)
				p.ServeHTTP(w, req)
			}
			if got := w.h.Get("X-Cache"); got != xCacheHit {
				b.Fatalf("X-Cache %q, want HIT", got)
			}
		})
	}
}

// presignedHit returns a proxy holding a size-byte object at /bkt/obj and a
// presigned GET for it, made with the AWS SDK's signer.
func presignedHit(tb testing.TB, size int) (*Proxy, *http.Request) {
	tb.Helper()
	p, _ := newBenchHit(tb, size, "", nil)
	req := httptest.NewRequest("GET", "http://proxy/bkt/obj?X-Amz-Expires=3600", nil)
	u, _, err := newTestSigner().PresignHTTP(req.Context(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret},
		req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return p, httptest.NewRequest("GET", u, nil)
}

// BenchmarkServeHitPresigned is BenchmarkServeHit with the same presigned
// URL every time, as a link shared by many clients is requested.
func BenchmarkServeHitPresigned(b *testing.B) {
	p, req := presignedHit(b, 4<<10)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		p.ServeHTTP(w, req)
	}
	if got := w.h.Get("X-Cache"); got != xCacheHit {
		b.Fatalf("X-Cache %q, want HIT", got)
	}
}

// The allocation budget of a hit through the handler, in bytes: what a
// header-signed and a presigned GET answered from the cache may allocate.
// Measured at about 440 and 405 bytes alone, and up to 600 bytes more
// with the package's other tests' goroutines about; the budget leaves
// room for that noise, not for a copy of anything object-sized.
const (
	hitAllocBudget          = 1536
	presignedHitAllocBudget = 1024
)

func TestHitAllocationBudget(t *testing.T) {
	p, req := newBenchHit(t, 64<<10, "", nil)
	pp, preq := presignedHit(t, 64<<10)
	for _, c := range []struct {
		name   string
		p      *Proxy
		req    *http.Request
		budget uint64
	}{{"header-signed", p, req, hitAllocBudget}, {"presigned", pp, preq, presignedHitAllocBudget}} {
		w := &discardWriter{h: http.Header{}}
		got := bytesPerRun(500, func() {
			clear(w.h)
			c.p.ServeHTTP(w, c.req)
		})
		if w.h.Get("X-Cache") != xCacheHit {
			t.Fatalf("%s: X-Cache %q, want HIT", c.name, w.h.Get("X-Cache"))
		}
		if got > c.budget {
			t.Errorf("%s hit allocates %d bytes, over its budget of %d", c.name, got, c.budget)
		}
	}
}

// BenchmarkServeHitCoherent compares a 4 KiB hit alone with the same hit
// on a replica of a coherent cache (REDIS_URL, a real redis-server): the
// difference is what settling the pushed invalidations costs per hit.
func BenchmarkServeHitCoherent(b *testing.B) {
	redis := coherencetest.StartRedis(b)
	for _, withRedis := range []bool{false, true} {
		name := "alone"
		if withRedis {
			name = "redis"
		}
		b.Run(name, func(b *testing.B) {
			fake, backend := newFakeS3(b)
			fake.objects["/bkt/obj"] = make([]byte, 4<<10)
			cfg := Config{Endpoint: backend.Listener.Addr().String(), AccessKey: testKey, SecretKey: testSecret, Logger: discardLogger()}
			if withRedis {
				cfg.RedisURL = redis.URL()
			}
			p, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			if withRedis {
				for p.gens.State() != "ok" {
					runtime.Gosched() // the first health check connects
				}
			}
			req := httptest.NewRequest("GET", "http://proxy/bkt/obj", nil)
			signRequest(b, req, "UNSIGNED-PAYLOAD", testSecret)
			w := &discardWriter{h: http.Header{}}
			p.ServeHTTP(w, req) // fill
			p.cache.Wait()
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				p.ServeHTTP(w, req)
			}
			if got := w.h.Get("X-Cache"); got != xCacheHit {
				b.Fatalf("X-Cache %q, want HIT", got)
			}
		})
	}
}
