package proxy

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
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
