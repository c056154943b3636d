package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// faultTimeout is BACKEND_TIMEOUT in the fault tests; faultMargin bounds
// the rest (a loaded 2-core machine, a -race binary).
const (
	faultTimeout = 2 * time.Second
	faultMargin  = 10 * time.Second
)

// TestBackendFaults checks the proxy's answers when the backend refuses
// connections, never answers, or cuts a body halfway.
func TestBackendFaults(t *testing.T) {
	t.Parallel()
	env := map[string]string{"BACKEND_TIMEOUT": faultTimeout.String()}

	unavailable := []struct {
		name string
		// start returns the proxy's endpoint, and the relay before the
		// backend if there is one.
		start func(t *testing.T) (endpoint, *relay)
	}{
		{"connection refused", func(t *testing.T) (endpoint, *relay) {
			closed, err := freeAddr() // nothing listens there
			if err != nil {
				t.Fatal(err)
			}
			return startProxy(t, proxyOptions{Backend: closed, Env: env, Ready: "/-/healthz"}).endpoint(), nil
		}},
		{"no answer", func(t *testing.T) (endpoint, *relay) {
			r := newRelay(t, backendAddr(t))
			p := startProxy(t, proxyOptions{Backend: r.Addr(), Env: env})
			r.hang.Store(true)
			return p.endpoint(), r
		}},
	}
	for _, tc := range unavailable {
		t.Run(tc.name, func(t *testing.T) {
			e, relay := tc.start(t)
			url := objectURL(e, "some-bucket", "some/key")
			// A plain GET; the reads whose miss first sends a HEAD of the
			// proxy's own: a HEAD, a range and a part; and an upload, which
			// waits for the trailer probe (see UPLOAD_FRAMING) before it is
			// sent itself.
			for _, read := range []struct {
				name string
				args []string
			}{
				{"GET", []string{url}},
				{"HEAD", []string{"-I", url}},
				{"range GET", []string{"-H", "Range: bytes=0-9", url}},
				{"part GET", []string{url + "?partNumber=1"}},
				{"PUT", []string{"-X", "PUT", "--data-binary", "some bytes", url}},
			} {
				start := time.Now()
				r := curl(t, append(sigv4(e), read.args...)...)
				elapsed := time.Since(start)
				if r.Status != 502 && r.Status != 503 && r.Status != 504 {
					t.Errorf("%s: status %d, want 502, 503 or 504; body %q", read.name, r.Status, r.Body)
				}
				if read.name != "HEAD" && r.xmlCode() == "" {
					t.Errorf("%s: body %q, want an S3 XML error", read.name, r.Body)
				}
				if limit := faultTimeout + faultMargin; elapsed > limit {
					t.Errorf("%s took %v, want under BACKEND_TIMEOUT + margin = %v", read.name, elapsed, limit)
				}
			}
			if relay != nil {
				// The probe and the upload reached the backend, which
				// answered neither.
				probes := 0
				for _, rec := range relay.records() {
					if rec.Method == http.MethodPut && strings.HasPrefix(rec.Path, "/some-bucket/.s3cache-trailer-probe-") {
						probes++
					}
				}
				if puts := relay.count(http.MethodPut, "some-bucket", "some/key"); probes != 1 || puts != 1 {
					t.Errorf("the backend saw %d trailer probes and %d uploads, want 1 and 1", probes, puts)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), faultTimeout+faultMargin)
			defer cancel()
			if got, err := statusOf(ctx, e.URL+"/-/readyz"); err != nil || got != http.StatusServiceUnavailable {
				t.Errorf("/-/readyz: status %d, error %v; want 503", got, err)
			}
		})
	}

	t.Run("body cut halfway", func(t *testing.T) {
		h := newHarness(t, env)
		e := h.endpoint()
		bucket := newBucket(t, e)
		const key = "cut/me.bin"
		body := randomBytes(t, 1<<20)
		putBytes(t, e, bucket, key, body)

		h.relay.cutPath.Store("/" + bucket + "/" + key)
		resp, err := httpClient.Do(signedRequest(t, e, http.MethodGet, objectURL(e, bucket, key), nil))
		if err == nil {
			got, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == 200 && bytes.Equal(got, body) {
				t.Fatalf("GET with the body cut at the backend returned the full object")
			}
			if rerr == nil && resp.StatusCode == 200 {
				t.Errorf("GET with the body cut: %d of %d bytes and no error; a truncated 200 must fail", len(got), len(body))
			}
		}
		h.relay.cutPath.Store("")

		var filled int
		for _, want := range []string{"MISS", "HIT"} {
			g := sdkGet(t, e, bucket, key)
			if g.Status != 200 || !bytes.Equal(g.Body, body) {
				t.Fatalf("GET after the cut: status %d, %d bytes; want the %d stored", g.Status, len(g.Body), len(body))
			}
			wantXCache(t, "GET after the cut", g.Header, want)
			if want == "MISS" {
				filled = h.relay.count(http.MethodGet, bucket, key)
			}
		}
		if n := h.relay.count(http.MethodGet, bucket, key); n != filled {
			t.Errorf("backend saw %d GETs after the refill, want %d (the HIT must not reach it)", n, filled)
		}
	})
}

// TestReadinessAnswersWithin2s: /-/readyz says 503 within 2 seconds, every
// time, when the backend refuses connections and when it never answers,
// with the suite's BACKEND_TIMEOUT of 20 s: one backend attempt per check,
// no retries, a short timeout of its own. It is 200 again once the backend
// answers.
func TestReadinessAnswersWithin2s(t *testing.T) {
	t.Parallel()
	// readyz asks once, with a client deadline of 2 s.
	readyz := func(t *testing.T, e endpoint) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		got, err := statusOf(ctx, e.URL+"/-/readyz")
		if err != nil {
			t.Fatalf("/-/readyz: %v; want an answer within 2s", err)
		}
		return got
	}
	// settle asks until readyz answers want (a result is reused for a
	// second), then keeps asking for 3.5 s, through several fresh checks:
	// every answer must come within 2 s and be want.
	settle := func(t *testing.T, e endpoint, want int) {
		t.Helper()
		tick := time.NewTicker(100 * time.Millisecond) // pacing, not synchronisation
		defer tick.Stop()
		deadline := time.Now().Add(faultMargin)
		for readyz(t, e) != want {
			if time.Now().After(deadline) {
				t.Fatalf("/-/readyz never answered %d", want)
			}
			<-tick.C
		}
		for end := time.Now().Add(3500 * time.Millisecond); time.Now().Before(end); <-tick.C {
			if got := readyz(t, e); got != want {
				t.Fatalf("/-/readyz: %d, want %d", got, want)
			}
		}
	}
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		closed, err := freeAddr() // nothing listens there
		if err != nil {
			t.Fatal(err)
		}
		settle(t, startProxy(t, proxyOptions{Backend: closed, Ready: "/-/healthz"}).endpoint(), http.StatusServiceUnavailable)
	})
	t.Run("no answer", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil)
		h.relay.hang.Store(true)
		settle(t, h.endpoint(), http.StatusServiceUnavailable)
		h.relay.hang.Store(false)
		settle(t, h.endpoint(), http.StatusOK)
	})
}

// TestCutBodyLogged: a body the backend cuts mid-stream breaks the
// client's answer and is logged at ERROR with the request id, bucket,
// key, the bytes sent and the bytes expected, on a miss (a fill), a
// bypassed read, an object cached in blocks and through /objects; the
// request line alone says status 200.
func TestCutBodyLogged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"LOG_FORMAT":             "json",
		"CACHE_MAX_OBJECT_BYTES": strconv.Itoa(1 << 20),
		"CACHE_BLOCK_BYTES":      strconv.Itoa(256 << 10),
	})
	e := h.endpoint()
	bucket := newBucket(t, e)
	tests := []struct {
		name, key, url string
		size           int
		header         map[string]string // sent unsigned
	}{
		{"fill", "fill.bin", objectURL(e, bucket, "fill.bin"), 512 << 10, nil},
		{"fill with an override", "override.bin", objectURL(e, bucket, "override.bin") + "?response-content-type=text%2Fplain", 512 << 10, nil},
		{"bypassed read", "bypass.bin", objectURL(e, bucket, "bypass.bin"), 512 << 10, map[string]string{"Range": "bytes=0-1,3-4"}},
		{"blocks", "large.bin", objectURL(e, bucket, "large.bin"), 3 << 20, nil},
		{"/objects", "objects.bin", objectsURL(e, bucket, "objects.bin"), 512 << 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			putBytes(t, e, bucket, tt.key, randomBytes(t, tt.size))
			h.relay.cutPath.Store("/" + bucket + "/" + tt.key)
			defer h.relay.cutPath.Store("")
			id := ""
			req := signedRequest(t, e, http.MethodGet, tt.url, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if resp, err := httpClient.Do(req); err == nil {
				id = resp.Header.Get("X-Amz-Request-Id")
				got, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if rerr == nil && resp.StatusCode == 200 {
					t.Fatalf("GET with the body cut: %d of %d bytes and no error", len(got), tt.size)
				}
			}
			var line struct {
				Level     string
				Msg       string
				RequestID string `json:"request_id"`
				Bucket    string
				Key       string
				Status    int
				Bytes     int64
				Expected  int64
			}
			err := poll(t.Context(), faultMargin, func(context.Context) error {
				for l := range strings.Lines(h.proxy.output()) {
					if strings.Contains(l, `"level":"ERROR"`) && strings.Contains(l, `"key":"`+tt.key+`"`) {
						return json.Unmarshal([]byte(l), &line)
					}
				}
				return errors.New("no ERROR line yet")
			})
			if err != nil {
				t.Fatalf("the cut is not logged as an error: %v\n%s", err, h.proxy.output())
			}
			if id != "" && line.RequestID != id || line.RequestID == "" || line.Bucket != bucket || line.Status != 200 ||
				line.Expected != int64(tt.size) || line.Bytes >= line.Expected {
				t.Errorf("ERROR line %+v; want request id %q, bucket %s, status 200, expected %d and fewer bytes sent", line, id, bucket, tt.size)
			}
		})
	}
}
