package proxy

import (
	"net/http"
	"testing"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/proxy/internal/zcodec/zcodectest"
)

// newCompressBenchHit returns a proxy holding body (served as text/plain,
// which is compressible) at /bkt/obj, with CACHE_COMPRESS set to compress,
// a signed GET for it, and its entry.
func newCompressBenchHit(tb testing.TB, body []byte, compress string) (*Proxy, *http.Request, *cache.Entry) {
	tb.Helper()
	fake, backend := newFakeS3(tb)
	fake.objects["/bkt/obj"] = body
	p, err := New(Config{Endpoint: backend.Listener.Addr().String(), AccessKey: testKey, SecretKey: testSecret,
		Logger: discardLogger(), CacheCompress: compress})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	req := func() *http.Request {
		r, _ := http.NewRequest("GET", "http://proxy/bkt/obj", nil)
		signRequest(tb, r, "UNSIGNED-PAYLOAD", testSecret)
		return r
	}
	p.ServeHTTP(&discardWriter{h: http.Header{}}, req()) // fill
	p.cache.Wait()
	e, ok := p.cache.Get("bkt", "obj", cache.Key("bkt", "obj", ""))
	if !ok {
		tb.Fatal("the filling GET stored nothing")
	}
	return p, req(), e
}

// BenchmarkCompressHit serves whole-object hits of each body and size with
// CACHE_COMPRESS off and zstd. Besides ns/op (per hit) it reports the
// entry's compression ratio and the body bytes compression saves.
//
//	go test -run '^$' -bench Compress -benchmem ./proxy
func BenchmarkCompressHit(b *testing.B) {
	for _, body := range zcodectest.Bodies {
		for _, sz := range zcodectest.Sizes {
			data := body.Gen(sz.Size)
			for _, compress := range []string{"off", "zstd"} {
				b.Run(body.Name+"/"+sz.Name+"/"+compress, func(b *testing.B) {
					p, req, e := newCompressBenchHit(b, data, compress)
					w := &discardWriter{h: http.Header{}}
					b.SetBytes(int64(len(data)))
					b.ReportAllocs()
					for b.Loop() {
						clear(w.h)
						p.ServeHTTP(w, req)
					}
					if got := w.h.Get("X-Cache"); got != xCacheHit {
						b.Fatalf("X-Cache %q, want HIT", got)
					}
					b.ReportMetric(float64(e.Len())/float64(len(e.Body)), "ratio")
					b.ReportMetric(float64(e.Len()-len(e.Body)), "saved-B")
				})
			}
		}
	}
}
