package proxy

import (
	"context"
	"encoding/xml"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// s3ErrorBody is an S3 error body as a client parses it.
type s3ErrorBody struct {
	Code             string
	Message          string
	RequestID        string `xml:"RequestId"`
	Region           string
	RangeRequested   string
	ActualObjectSize string
	Size             string
	MaxSizeAllowed   string
}

func parseErrorBody(t *testing.T, body string) s3ErrorBody {
	t.Helper()
	var e s3ErrorBody
	if err := xml.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e
}

// TestInvalidRangeAnswer: wherever the proxy itself answers 416 (a hit, a
// miss answered from the fill, an object cached in blocks), the answer is
// S3's: InvalidRange with RangeRequested and ActualObjectSize, the
// Content-Range "bytes */size", and a RequestId that is the header's.
func TestInvalidRangeAnswer(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/small"] = []byte("0123456789")
	_, srv := newTestProxy(t, backend, nil)
	blocks, blockBackend := newRangeS3(t)
	large := randomBytes(1, 3*testBlock+5)
	blocks.put("/bkt/large", large)
	_, blockSrv := newBlockProxy(t, blockBackend, -1)
	// The block path learns the object's size from a first read.
	if res, _, err := getRange(t, blockSrv.URL+"/bkt/large", "bytes=0-0"); err != nil || res.StatusCode != http.StatusPartialContent {
		t.Fatalf("first range of the large object: %v %v", res, err)
	}

	tests := []struct {
		name, url, rangeSpec string
		size                 int
		xcache               string
	}{
		{"miss", srv.URL + "/bkt/small", "bytes=10-", 10, xCacheMiss},
		{"hit", srv.URL + "/bkt/small", "bytes=100-200", 10, xCacheHit},
		{"suffix of nothing on a hit", srv.URL + "/bkt/small", "bytes=-0", 10, xCacheHit},
		{"blocks", blockSrv.URL + "/bkt/large", "bytes=99999-", len(large), xCacheHit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.xcache == xCacheHit {
				// The miss's fill is stored after its answer went out.
				waitFor(t, "the object to be cached", func() bool {
					res, _, err := getRange(t, tt.url, "")
					return err == nil && res.Header.Get("X-Cache") == xCacheHit
				})
			}
			res, body, err := getRange(t, tt.url, tt.rangeSpec)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusRequestedRangeNotSatisfiable {
				t.Fatalf("status %d, want 416; body %q", res.StatusCode, body)
			}
			size := strconv.Itoa(tt.size)
			if got, want := res.Header.Get("Content-Range"), "bytes */"+size; got != want {
				t.Errorf("Content-Range %q, want %q", got, want)
			}
			if got := res.Header.Get("X-Cache"); got != tt.xcache {
				t.Errorf("X-Cache %q, want %q", got, tt.xcache)
			}
			e := parseErrorBody(t, string(body))
			want := s3ErrorBody{Code: "InvalidRange", Message: "The requested range is not satisfiable",
				RequestID: res.Header.Get("X-Amz-Request-Id"), RangeRequested: tt.rangeSpec, ActualObjectSize: size}
			if e != want || want.RequestID == "" {
				t.Errorf("error body %+v, want %+v", e, want)
			}
		})
	}
}

// TestRegionErrorAnswer: a request signed for another region is told the
// region to sign for, as S3 tells it: in the message and in a Region
// element, under the code S3 uses for the header and for a presigned URL.
func TestRegionErrorAnswer(t *testing.T) {
	_, backend := newFakeS3(t)
	_, srv := newTestProxy(t, backend, func(c *Config) { c.Region = "eu-central-1" })
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	header := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/bkt/k", nil)
		req.Header.Set("X-Amz-Content-Sha256", emptyPayloadHash)
		if err := newTestSigner().SignHTTP(context.Background(), creds, req, emptyPayloadHash, "s3", "us-west-2", time.Now()); err != nil {
			t.Fatal(err)
		}
		return req
	}
	presigned := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/bkt/k?X-Amz-Expires=900", nil)
		u, _, err := newTestSigner().PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-west-2", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		req, _ = http.NewRequest(http.MethodGet, u, nil)
		return req
	}
	tests := []struct {
		name  string
		req   func() *http.Request
		code  string
		start string
	}{
		{"header", header, "AuthorizationHeaderMalformed", "The authorization header is malformed"},
		{"presigned", presigned, "AuthorizationQueryParametersError", "Error parsing the X-Amz-Credential parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := http.DefaultClient.Do(tt.req())
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, res)
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", res.StatusCode)
			}
			got := parseErrorBody(t, body)
			want := s3ErrorBody{Code: tt.code, Message: tt.start + "; the region 'us-west-2' is wrong; expecting 'eu-central-1'",
				RequestID: res.Header.Get("X-Amz-Request-Id"), Region: "eu-central-1"}
			if got != want {
				t.Errorf("error body %+v, want %+v", got, want)
			}
		})
	}
}
