package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestAdminWarmAndPurge warms a prefix through the admin API with the
// bearer token: once the job reports done, GETs of the prefix are hits and
// the backend sees no GET of them; a prefix purge makes them miss again.
// The stats endpoint answers a curl --aws-sigv4 request of the (admin)
// S3_ACCESS_KEY user.
func TestAdminWarmAndPurge(t *testing.T) {
	t.Parallel()
	const token = "e2e-admin-token"
	h := newHarness(t, map[string]string{"ADMIN_TOKEN": token})
	e := h.endpoint()
	bucket := newBucket(t, e)
	keys := []string{"warm/a.txt", "warm/sub/b.txt", "cold/c.txt"}
	for _, k := range keys {
		putObject(t, e, &s3.PutObjectInput{Bucket: &bucket, Key: &k, Body: bytes.NewReader([]byte("body of " + k))})
	}
	bearer := []string{"-H", "Authorization: Bearer " + token}

	res := curl(t, append(bearer, "-X", "POST", "--data-binary",
		fmt.Sprintf(`[{"bucket":%q,"prefix":"warm/","max_bytes":1048576}]`, bucket), e.URL+"/-/admin/warm")...)
	if res.Status != http.StatusAccepted {
		t.Fatalf("POST /-/admin/warm: %d %s", res.Status, res.Body)
	}
	var job struct {
		State         string `json:"state"`
		ObjectsListed int    `json:"objects_listed"`
		ObjectsWarmed int    `json:"objects_warmed"`
		Errors        int    `json:"errors"`
	}
	err := poll(t.Context(), 30*time.Second, func(context.Context) error {
		res := curl(t, append(bearer, e.URL+"/-/admin/warm")...)
		var jobs []json.RawMessage
		if err := json.Unmarshal(res.Body, &jobs); err != nil || len(jobs) != 1 {
			return fmt.Errorf("GET /-/admin/warm: %d %s", res.Status, res.Body)
		}
		if err := json.Unmarshal(jobs[0], &job); err != nil {
			return err
		}
		if job.State != "done" {
			return fmt.Errorf("job %s", jobs[0])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if job.ObjectsListed != 2 || job.ObjectsWarmed != 2 || job.Errors != 0 {
		t.Errorf("job %+v, want 2 listed, 2 warmed, no errors", job)
	}
	warmed := map[string]int{}
	for _, k := range keys[:2] {
		warmed[k] = h.relay.count(http.MethodGet, bucket, k)
		r := curl(t, append(sigv4(e), objectURL(e, bucket, k))...)
		if r.Status != 200 || string(r.Body) != "body of "+k {
			t.Errorf("GET %s after warming: %d %q", k, r.Status, r.Body)
		}
		wantXCache(t, "GET "+k+" after warming", r.Header, "HIT")
		if n := h.relay.count(http.MethodGet, bucket, k); n != warmed[k] {
			t.Errorf("%s: the backend saw %d GETs after the warm, want none", k, n-warmed[k])
		}
	}

	stats := curl(t, append(sigv4(e), e.URL+"/-/admin/stats")...)
	if stats.Status != 200 || !bytes.Contains(stats.Body, []byte(`"top_keys"`)) {
		t.Errorf("GET /-/admin/stats signed by the admin user: %d %s", stats.Status, stats.Body)
	}
	if r := curl(t, e.URL+"/-/admin/stats"); r.Status != 403 || r.xmlCode() != "AccessDenied" {
		t.Errorf("unsigned GET /-/admin/stats: %d %s, want 403 AccessDenied", r.Status, r.Body)
	}

	res = curl(t, append(bearer, "-X", "POST", "--data-binary",
		fmt.Sprintf(`{"prefixes":[{"bucket":%q,"prefix":"warm/"}]}`, bucket), e.URL+"/-/admin/purge")...)
	var purged struct{ Removed int }
	if res.Status != 200 || json.Unmarshal(res.Body, &purged) != nil || purged.Removed != 2 {
		t.Fatalf("POST /-/admin/purge: %d %s, want 200 removed 2", res.Status, res.Body)
	}
	for _, k := range keys[:2] {
		r := curl(t, append(sigv4(e), objectURL(e, bucket, k))...)
		wantXCache(t, "GET "+k+" after the purge", r.Header, "MISS")
	}
}
