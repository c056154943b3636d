package sigv4

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// mutableCredentials is a credential store a test can change.
type mutableCredentials struct {
	mu      sync.Mutex
	secrets map[string]string
}

func (c *mutableCredentials) SecretKey(ak string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.secrets[ak]
	return s, ok
}

func (c *mutableCredentials) set(ak, secret string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets[ak] = secret
}

// TestPresignMemo repeats presigned requests, which the verifier answers
// from its memo of verified ones, and checks that the memo never accepts
// what the full verification would refuse: a rotated secret, an expired
// URL, a different value of a signed header, a changed query.
func TestPresignMemo(t *testing.T) {
	now := testNow
	creds := &mutableCredentials{secrets: map[string]string{testAccessKey: testSecret}}
	v := &Verifier{Credentials: creds, Now: func() time.Time { return now }}
	verify := func(u string, header http.Header) error {
		r, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.RequestURI = r.URL.RequestURI()
		r.Host = r.URL.Host
		for k, vs := range header {
			r.Header[k] = vs
		}
		_, err = v.Verify(r)
		return err
	}
	presigned := func(signedHeader string) string {
		req, _ := http.NewRequest(http.MethodGet, "http://proxy.test/bucket/"+awsPath("a key"), nil)
		if signedHeader != "" {
			req.Header.Set("X-Amz-Meta-Tag", signedHeader)
		}
		return sdkPresign(t, req, testAccessKey, testSecret, time.Hour, testNow)
	}

	u := presigned("")
	for i := range 3 {
		if err := verify(u, nil); err != nil {
			t.Fatalf("verification %d: %v", i+1, err)
		}
	}
	if len(v.memo.m) != 1 {
		t.Fatalf("memo holds %d entries, want 1", len(v.memo.m))
	}
	if err := verify(u+"&extra=1", nil); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("changed query: %v, want a signature mismatch", err)
	}

	// A signed header must carry the value it was signed with.
	signed := presigned("blue")
	if err := verify(signed, http.Header{"X-Amz-Meta-Tag": {"blue"}}); err != nil {
		t.Fatalf("signed header: %v", err)
	}
	if err := verify(signed, http.Header{"X-Amz-Meta-Tag": {"blue"}}); err != nil {
		t.Fatalf("signed header, again: %v", err)
	}
	if err := verify(signed, http.Header{"X-Amz-Meta-Tag": {"red"}}); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("signed header changed: %v, want a signature mismatch", err)
	}

	// Expiry is checked on every use.
	now = testNow.Add(2 * time.Hour)
	if err := verify(u, nil); !errors.Is(err, ErrRequestExpired) {
		t.Errorf("remembered URL after its expiry: %v, want ErrRequestExpired", err)
	}
	now = testNow

	// A rotated secret invalidates what was verified with the old one.
	creds.set(testAccessKey, "a-new-secret")
	if err := verify(u, nil); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("after the secret changed: %v, want a signature mismatch", err)
	}
}

func BenchmarkVerifyPresigned(b *testing.B) {
	v := testVerifier()
	req, _ := http.NewRequest(http.MethodGet, "http://proxy.test/bucket/"+awsPath("photos/cat.jpg"), nil)
	u := sdkPresign(b, req, testAccessKey, testSecret, time.Hour, testNow)
	r, _ := http.NewRequest(http.MethodGet, u, nil)
	r.RequestURI = r.URL.RequestURI()
	r.Host = r.URL.Host
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}
