package e2e

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestCompress runs the proxy with CACHE_COMPRESS=zstd, PUTs a JSON
// document and GETs it twice with the SDK: the same bytes come back both
// times, MISS then HIT, from one backend GET, and the metrics show the
// entry held compressed and the bytes that saved.
func TestCompress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"CACHE_COMPRESS": "zstd"})
	e := h.endpoint()
	bucket := newBucket(t, e)
	const key = "compress/items.json"
	var doc bytes.Buffer
	doc.WriteString("[")
	for i := 0; doc.Len() < 96<<10; i++ {
		if i > 0 {
			doc.WriteString(",")
		}
		fmt.Fprintf(&doc, `{"id":%d,"sku":"SKU-%07d","price":%d.%02d,"stock":%d,"warehouse":"wh-%d"}`, i, i*7919%10_000_000, i%500, i%100, i*31%1000, i%9)
	}
	doc.WriteString("]")
	body := doc.Bytes()
	putObject(t, e, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: bytes.NewReader(body), ContentType: aws.String("application/json")})

	for i, want := range []string{"MISS", "HIT"} {
		g := sdkGet(t, e, bucket, key)
		if g.Status != 200 || !bytes.Equal(g.Body, body) {
			t.Fatalf("GET #%d: status %d, %d bytes; want 200 with the %d bytes put", i+1, g.Status, len(g.Body), len(body))
		}
		wantXCache(t, fmt.Sprintf("GET #%d", i+1), g.Header, want)
		if got := g.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("GET #%d: Content-Type %q, want application/json", i+1, got)
		}
		if got := g.Header.Get("Content-Encoding"); got != "" {
			t.Errorf("GET #%d: Content-Encoding %q, want none: the client gets the object as put", i+1, got)
		}
	}
	if n := h.relay.count("GET", bucket, key); n != 1 {
		t.Errorf("backend saw %d GETs of the key, want 1", n)
	}
	m := scrapeMetrics(t, e)
	if got := m["s3cache_cache_compressed_entries"]; got != 1 {
		t.Errorf("s3cache_cache_compressed_entries = %v, want 1", got)
	}
	if saved := m["s3cache_cache_compression_saved_bytes"]; saved <= float64(len(body))/8 || saved >= float64(len(body)) {
		t.Errorf("s3cache_cache_compression_saved_bytes = %v, want more than an eighth of the %d body bytes, and less than all", saved, len(body))
	}
	if held := m["s3cache_cache_bytes"]; held >= float64(len(body)) {
		t.Errorf("s3cache_cache_bytes = %v, want less than the %d body bytes", held, len(body))
	}
}
