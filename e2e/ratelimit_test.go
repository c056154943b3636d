package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestRateLimit runs the proxy with RATE_LIMIT=5 RATE_BURST=5 and sends a
// burst of 20 GETs of 20 different objects at once with aws-sdk-go-v2
// (retries off): about five get 200, the rest 503 SlowDown with
// Retry-After, and the backend sees a GET for each 200 only.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"RATE_LIMIT": "5", "RATE_BURST": "5"})
	// Set up through the backend directly, so as to leave the tokens.
	bucket := newBucket(t, h.backend())
	const n = 20
	for i := range n {
		putBytes(t, h.backend(), bucket, fmt.Sprint("k", i), []byte(fmt.Sprint("object ", i)))
	}

	type result struct {
		status     int
		code       string
		retryAfter string
	}
	results := make([]result, n)
	client := sdkClient(h.endpoint()) // RetryMaxAttempts: 1
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
			defer cancel()
			key := fmt.Sprint("k", i)
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
			if err != nil {
				status, code, hdr := sdkErr(err)
				results[i] = result{status: status, code: code, retryAfter: hdr.Get("Retry-After")}
				if status == 0 {
					t.Errorf("GET %s: %v", key, err)
				}
				return
			}
			out.Body.Close()
			results[i] = result{status: 200}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	allowed := 0
	for i, r := range results {
		switch r.status {
		case http.StatusOK:
			allowed++
		case http.StatusServiceUnavailable:
			if r.code != "SlowDown" {
				t.Errorf("GET k%d: 503 %q, want SlowDown", i, r.code)
			}
			if s, err := strconv.Atoi(r.retryAfter); err != nil || s < 1 {
				t.Errorf("GET k%d: Retry-After %q, want whole seconds, at least 1", i, r.retryAfter)
			}
		default:
			t.Errorf("GET k%d: %d %s, want 200 or 503 SlowDown", i, r.status, r.code)
		}
	}
	// The burst, plus what refilled while the requests were arriving.
	most := 5 + int(elapsed.Seconds()*5) + 1
	if allowed < 5 || allowed > most || allowed == n {
		t.Errorf("%d of %d GETs allowed in %v, want between 5 and %d", allowed, n, elapsed, most)
	}
	gets := 0
	for i := range n {
		gets += h.relay.count(http.MethodGet, bucket, fmt.Sprint("k", i))
	}
	if gets != allowed {
		t.Errorf("the backend saw %d GETs, want %d (one per allowed request, none for refused ones)", gets, allowed)
	}
	t.Logf("%d of %d allowed in %v", allowed, n, elapsed)
}
