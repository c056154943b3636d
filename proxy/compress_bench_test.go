package proxy

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/s3cache/s3cache/cache"
)

// compressBodies are the bodies of the compression benchmarks: text-like
// formats as they are found in buckets, and random bytes, which do not
// compress. All are generated deterministically.
var compressBodies = []struct {
	name string
	gen  func(size int) []byte
}{
	{"json", jsonBody},
	{"csv", csvBody},
	{"log", logBody},
	{"random", randomBody},
}

var compressSizes = []struct {
	name string
	size int
}{{"4KiB", 4 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}}

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
	for _, body := range compressBodies {
		for _, sz := range compressSizes {
			data := body.gen(sz.size)
			for _, compress := range []string{"off", "zstd"} {
				b.Run(body.name+"/"+sz.name+"/"+compress, func(b *testing.B) {
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

// BenchmarkCompressCodec measures the codec alone, per body: encodeBody
// (what a fill pays once, and what the shared tier pays per store) and
// decodeBody (what each hit of a compressed entry pays, in memory or from
// the shared tier).
func BenchmarkCompressCodec(b *testing.B) {
	h := http.Header{"Content-Type": {"text/plain"}}
	for _, body := range compressBodies {
		for _, sz := range compressSizes {
			data := body.gen(sz.size)
			stored, encoded := encodeBody(h, data)
			b.Run(body.name+"/"+sz.name+"/encode", func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					encodeBody(h, data)
				}
				b.ReportMetric(float64(len(data))/float64(len(stored)), "ratio")
			})
			if !encoded {
				continue
			}
			b.Run(body.name+"/"+sz.name+"/decode", func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				buf := make([]byte, 0, len(data))
				for b.Loop() {
					if _, err := decodeInto(stored, len(data), buf); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(data))/float64(len(stored)), "ratio")
				b.ReportMetric(float64(len(data)-len(stored)), "saved-B")
			})
		}
	}
}

// TestCompressBenchBodies keeps the benchmarks honest: the text bodies
// compress, the random one does not, and all have the size asked for.
func TestCompressBenchBodies(t *testing.T) {
	h := http.Header{"Content-Type": {"text/plain"}}
	for _, body := range compressBodies {
		for _, sz := range compressSizes {
			t.Run(body.name+"/"+strconv.Itoa(sz.size), func(t *testing.T) {
				data := body.gen(sz.size)
				if len(data) < sz.size || len(data) > sz.size+512 {
					t.Errorf("%d bytes, want about %d", len(data), sz.size)
				}
				_, encoded := encodeBody(h, data)
				if want := body.name != "random"; encoded != want {
					t.Errorf("encoded = %v, want %v", encoded, want)
				}
			})
		}
	}
}
