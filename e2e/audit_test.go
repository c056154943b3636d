package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// auditRecord is one line of AUDIT_LOG.
type auditRecord struct {
	Time      string  `json:"time"`
	RequestID string  `json:"request_id"`
	Principal string  `json:"principal"`
	SourceIP  string  `json:"source_ip"`
	Operation string  `json:"operation"`
	Bucket    string  `json:"bucket"`
	Key       string  `json:"key"`
	Status    int     `json:"status"`
	BytesIn   int64   `json:"bytes_in"`
	BytesOut  int64   `json:"bytes_out"`
	Cache     string  `json:"cache"`
	LatencyMS float64 `json:"latency_ms"`
}

// TestAuditLog runs the proxy with AUDIT_LOG=<file> (and debug logging)
// and a few aws-sdk-go-v2 requests, a presigned GET among them: each has
// its line, named by its S3 operation; neither the file nor the proxy's
// output contains the secret key or the presigned URL's signature.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	h := newHarness(t, map[string]string{"AUDIT_LOG": path, "LOG_LEVEL": "debug"})
	e := h.endpoint()
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	c := sdkClient(e)
	bucket := newBucket(t, e)
	key := "audit/o.txt"
	body := []byte("audited bytes")
	putBytes(t, e, bucket, key, body)
	for _, want := range []string{"MISS", "HIT"} {
		if g := sdkGet(t, e, bucket, key); g.Status != 200 {
			t.Fatalf("GET: %d %s", g.Status, g.Code)
		} else {
			wantXCache(t, "GET", g.Header, want)
		}
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	pre, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(pre.URL)
	if err != nil {
		t.Fatal(err)
	}
	sig := u.Query().Get("X-Amz-Signature")
	if len(sig) != 64 {
		t.Fatalf("presigned URL without a signature: %s", pre.URL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pre.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := httpDo(t, req); err != nil || r.Status != 200 || !bytes.Equal(r.Body, body) {
		t.Fatalf("presigned GET: %v %d %q", err, r.Status, r.Body)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
	if g := sdkGet(t, e.withKeys(testAccess, "not-the-secret"), bucket, key); g.Status != http.StatusForbidden {
		t.Fatalf("forged GET: %d, want 403", g.Status)
	}
	probe := wantStatus(e.URL+"/-/healthz", 200) // ops: no line
	if err := probe(ctx); err != nil {
		t.Fatal(err)
	}

	wantOps := []string{"CreateBucket", "PutObject", "GetObject", "GetObject", "HeadObject", "ListObjectsV2",
		"GetObject", "DeleteObject", ""}
	var recs []auditRecord
	// A line is written as its request ends, which may be just after the
	// client has the answer: wait for all of them.
	err = poll(ctx, 10*time.Second, func(context.Context) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		recs = recs[:0]
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			var r auditRecord
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return fmt.Errorf("audit line %q: %w", line, err)
			}
			recs = append(recs, r)
		}
		if len(recs) < len(wantOps) {
			return fmt.Errorf("%d audit lines, want %d", len(recs), len(wantOps))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var gotOps []string
	for _, r := range recs {
		gotOps = append(gotOps, r.Operation)
		if r.SourceIP != "127.0.0.1" || r.RequestID == "" || r.Status == 0 {
			t.Errorf("audit line %+v: want source_ip 127.0.0.1, a request id and a status", r)
		}
		if _, err := time.Parse(time.RFC3339, r.Time); err != nil {
			t.Errorf("audit line %+v: time: %v", r, err)
		}
		switch {
		case r.Status == http.StatusForbidden:
			if r.Principal != "" {
				t.Errorf("forged request audited as %q, want \"\" (not authenticated)", r.Principal)
			}
		case r.Principal != testAccess:
			t.Errorf("audit line %+v: principal %q, want %q", r, r.Principal, testAccess)
		}
		if r.Operation == "PutObject" && (r.Key != key || r.BytesIn < int64(len(body)) || r.Status != 200) {
			t.Errorf("PutObject line %+v: want key %q, bytes_in ≥ %d", r, key, len(body))
		}
		if r.Operation == "GetObject" && r.Status == 200 && (r.Bucket != bucket || r.Key != key || r.BytesOut != int64(len(body))) {
			t.Errorf("GetObject line %+v: want %s/%s, bytes_out %d", r, bucket, key, len(body))
		}
	}
	slices.Sort(gotOps)
	slices.Sort(wantOps)
	if !slices.Equal(gotOps, wantOps) {
		t.Errorf("audited operations %q, want %q", gotOps, wantOps)
	}
	caches := map[string]int{}
	for _, r := range recs {
		if r.Operation == "GetObject" {
			caches[r.Cache]++
		}
	}
	if caches["MISS"] != 1 || caches["HIT"] != 2 { // the presigned GET is a hit
		t.Errorf("GetObject cache results %v, want one MISS and two HITs", caches)
	}

	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for what, out := range map[string]string{"the audit log": string(file), "the proxy's output": h.proxy.output()} {
		for _, s := range []string{testSecret, sig, "X-Amz-Signature", "X-Amz-Credential"} {
			if strings.Contains(out, s) {
				t.Errorf("%s contains %q", what, s)
			}
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v, %v; want 0600", fi.Mode(), err)
	}
}
