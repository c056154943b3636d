package sigv4

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// probeBackend is a backend that verifies every request as S3 does (the
// package's own Verifier, trailers included) and answers a request whose
// framing it refuses, or a wrong checksum, with an S3 error; how it treats
// trailers is up to the test.
type probeBackend struct {
	srv *httptest.Server
	// trailers is how the backend treats STREAMING-UNSIGNED-PAYLOAD-TRAILER:
	// "verify", "ignore" (takes any body with a 200, unchecked),
	// "refuse" (400 InvalidArgument) or "unavailable" (503 SlowDown).
	trailers atomic.Value

	mu   sync.Mutex
	seen []string // "METHOD path x-amz-content-sha256 status"
}

func newProbeBackend(t *testing.T, trailers string, now func() time.Time) *probeBackend {
	b := &probeBackend{}
	b.trailers.Store(trailers)
	v := &Verifier{Credentials: StaticCredentials{backendAccessKey: backendSecret}, Region: "eu-central-1", Now: now}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hash := r.Header.Get("X-Amz-Content-Sha256")
		status, code := http.StatusOK, ""
		switch mode := b.trailers.Load().(string); {
		case hash == streamingUnsignedTrailer && mode == "refuse":
			status, code = http.StatusBadRequest, "InvalidArgument"
		case hash == streamingUnsignedTrailer && mode == "unavailable":
			status, code = http.StatusServiceUnavailable, "SlowDown"
		case hash == streamingUnsignedTrailer && mode == "ignore":
			io.Copy(io.Discard, r.Body)
		default:
			res, err := v.Verify(r)
			if err == nil {
				_, err = io.Copy(io.Discard, res.Body)
			}
			switch {
			case errors.Is(err, ErrChecksumMismatch):
				status, code = http.StatusBadRequest, "BadDigest"
			case err != nil:
				status, code = http.StatusForbidden, "SignatureDoesNotMatch"
			}
		}
		b.mu.Lock()
		b.seen = append(b.seen, fmt.Sprintf("%s %s %s %d", r.Method, probeName(r.URL.Path), hash, status))
		b.mu.Unlock()
		if code != "" {
			w.WriteHeader(status)
			fmt.Fprintf(w, "<Error><Code>%s</Code></Error>", code)
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// probeName shows a probe's key, which is new each time, as "probe".
func probeName(path string) string {
	if i := strings.Index(path, ".s3cache-trailer-probe-"); i >= 0 {
		return path[:i] + "probe"
	}
	return path
}

// took returns the requests seen since the last call.
func (b *probeBackend) took() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.seen
	b.seen = nil
	return s
}

func putUnsigned(t *testing.T, tr *Transport, url string, payload []byte) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPut, url+"/bucket/key", io.NopCloser(bytes.NewReader(payload)))
	req.ContentLength = int64(len(payload))
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestProbeTrailers: with ProbeTrailers, the first unsigned PutObject is
// preceded by one probe whose trailer is wrong, and the uploads go with a
// CRC64NVME trailer only when the backend refused the probe as a checksum
// mismatch. A backend that refuses the framing, or takes the probe (which
// is then deleted), gets signed chunks for good; one that tells nothing
// gets them for a minute and is probed again after it.
func TestProbeTrailers(t *testing.T) {
	const (
		trailer = streamingUnsignedTrailer
		signed  = streamingSigned
	)
	payload := []byte("the upload")
	for _, tc := range []struct {
		mode    string
		want    []string // the backend's requests for two uploads
		taken   bool
		settled bool
	}{
		{"verify", []string{
			"PUT /bucket/probe " + trailer + " 400",
			"PUT /bucket/key " + trailer + " 200",
			"PUT /bucket/key " + trailer + " 200",
		}, true, true},
		{"refuse", []string{
			"PUT /bucket/probe " + trailer + " 400",
			"PUT /bucket/key " + signed + " 200",
			"PUT /bucket/key " + signed + " 200",
		}, false, true},
		{"ignore", []string{
			"PUT /bucket/probe " + trailer + " 200",
			"DELETE /bucket/probe UNSIGNED-PAYLOAD 200",
			"PUT /bucket/key " + signed + " 200",
			"PUT /bucket/key " + signed + " 200",
		}, false, true},
		{"unavailable", []string{
			"PUT /bucket/probe " + trailer + " 503",
			"PUT /bucket/key " + signed + " 200",
			"PUT /bucket/key " + signed + " 200",
		}, false, false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			b := newProbeBackend(t, tc.mode, nil)
			var probes []TrailerProbe
			tr := &Transport{AccessKey: backendAccessKey, SecretKey: backendSecret, Region: "eu-central-1",
				ChunkedUploads: true, ProbeTrailers: true, OnProbe: func(p TrailerProbe) { probes = append(probes, p) }}
			for range 2 {
				if got := putUnsigned(t, tr, b.srv.URL, payload); got != http.StatusOK {
					t.Fatalf("upload answered %d", got)
				}
			}
			if got := b.took(); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("the backend saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if len(probes) != 1 || probes[0].Taken != tc.taken || probes[0].Settled != tc.settled {
				t.Errorf("probes %+v, want one with Taken %v, Settled %v", probes, tc.taken, tc.settled)
			}
		})
	}

	t.Run("again after a minute", func(t *testing.T) {
		now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		b := newProbeBackend(t, "unavailable", clock)
		tr := &Transport{AccessKey: backendAccessKey, SecretKey: backendSecret, Region: "eu-central-1",
			ChunkedUploads: true, ProbeTrailers: true, Now: clock}
		putUnsigned(t, tr, b.srv.URL, payload)
		b.trailers.Store("verify")
		advance(probeRetry - time.Second)
		putUnsigned(t, tr, b.srv.URL, payload)
		advance(time.Second)
		putUnsigned(t, tr, b.srv.URL, payload)
		want := []string{
			"PUT /bucket/probe " + trailer + " 503",
			"PUT /bucket/key " + signed + " 200",
			"PUT /bucket/key " + signed + " 200",
			"PUT /bucket/probe " + trailer + " 400",
			"PUT /bucket/key " + trailer + " 200",
		}
		if got := b.took(); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("the backend saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("an upload whose client leaves stops waiting for the probe", func(t *testing.T) {
		entered, release := make(chan struct{}), make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if strings.Contains(r.URL.Path, ".s3cache-trailer-probe-") {
				close(entered)
				<-release
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, "<Error><Code>BadDigest</Code></Error>")
			}
		}))
		defer srv.Close()
		tr := &Transport{AccessKey: backendAccessKey, SecretKey: backendSecret, Region: "eu-central-1",
			ChunkedUploads: true, ProbeTrailers: true}
		first := make(chan int)
		go func() { first <- putUnsigned(t, tr, srv.URL, payload) }()
		<-entered // the first upload's probe is in flight, and held
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL+"/bucket/other", io.NopCloser(bytes.NewReader(payload)))
		req.ContentLength = int64(len(payload))
		left := make(chan error, 1)
		go func() {
			res, err := tr.RoundTrip(req)
			if err == nil {
				res.Body.Close()
			}
			left <- err
		}()
		select {
		case err := <-left:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("the upload whose client left: %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second): // a bound on failure, not a synchronisation
			t.Error("the upload whose client left still waits for the probe")
		}
		close(release)
		if got := <-first; got != http.StatusOK {
			t.Errorf("the first upload answered %d", got)
		}
	})
	t.Run("a probe that panics lets the uploads after it go", func(t *testing.T) {
		b := newProbeBackend(t, "verify", nil)
		tr := &Transport{AccessKey: backendAccessKey, SecretKey: backendSecret, Region: "eu-central-1",
			ChunkedUploads: true, ProbeTrailers: true, Base: panicOnProbe{http.DefaultTransport}}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("the probe's panic did not reach its upload")
				}
			}()
			putUnsigned(t, tr, b.srv.URL, payload)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound on failure
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, b.srv.URL+"/bucket/key", io.NopCloser(bytes.NewReader(payload)))
		req.ContentLength = int64(len(payload))
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("the upload after the probe's panic: %v (it waited for a probe that had ended)", err)
		}
		res.Body.Close()
		want := []string{"PUT /bucket/key " + signed + " 200"}
		if got := b.took(); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("the backend saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("concurrent first uploads wait for one probe", func(t *testing.T) {
		b := newProbeBackend(t, "verify", nil)
		tr := &Transport{AccessKey: backendAccessKey, SecretKey: backendSecret, Region: "eu-central-1",
			ChunkedUploads: true, ProbeTrailers: true}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if got := putUnsigned(t, tr, b.srv.URL, payload); got != http.StatusOK {
					t.Errorf("upload answered %d", got)
				}
			})
		}
		wg.Wait()
		var probes, trailered int
		for _, s := range b.took() {
			switch {
			case strings.HasPrefix(s, "PUT /bucket/probe "):
				probes++
			case s == "PUT /bucket/key "+trailer+" 200":
				trailered++
			}
		}
		if probes != 1 || trailered != 8 {
			t.Errorf("%d probes and %d uploads with a trailer, want 1 and 8", probes, trailered)
		}
	})
}

// panicOnProbe is a Base that panics on a trailer probe and sends
// everything else with its RoundTripper.
type panicOnProbe struct{ http.RoundTripper }

func (p panicOnProbe) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, ".s3cache-trailer-probe-") {
		panic("a probe that panics")
	}
	return p.RoundTripper.RoundTrip(r)
}
