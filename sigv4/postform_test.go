package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"
)

func TestVerifyPostForm(t *testing.T) {
	const ak, secret = "AKIDPOST", "post-secret"
	v := &Verifier{Credentials: StaticCredentials{ak: secret}, Region: "eu-west-1"}
	policy := base64.StdEncoding.EncodeToString([]byte(`{"expiration":"2030-01-01T00:00:00Z","conditions":[]}`))
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), "20261203")
	k = mac(k, "eu-west-1")
	k = mac(k, "s3")
	k = mac(k, "aws4_request")
	sig4 := hex.EncodeToString(mac(k, policy))
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(policy))
	sig2 := base64.StdEncoding.EncodeToString(m.Sum(nil))

	good4 := PostForm{Policy: policy, Algorithm: "AWS4-HMAC-SHA256", Credential: ak + "/20261203/eu-west-1/s3/aws4_request", Date: "20261203T101010Z", Signature: sig4}
	good2 := PostForm{Policy: policy, AccessKeyID: ak, SignatureV2: sig2}
	for name, f := range map[string]PostForm{"v4": good4, "v2": good2} {
		if got, err := v.VerifyPostForm(&f); err != nil || got != ak {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	bad := []struct {
		name string
		mod  func(*PostForm)
		want error
	}{
		{"v4 signature of another policy", func(f *PostForm) { f.Policy += "=" }, ErrSignatureMismatch},
		{"v4 signature not hex", func(f *PostForm) { f.Signature = "zz" }, ErrSignatureMismatch},
		{"v4 unknown key", func(f *PostForm) { f.Credential = "NOPE/20261203/eu-west-1/s3/aws4_request" }, ErrInvalidAccessKeyID},
		{"v4 other region", func(f *PostForm) { f.Credential = ak + "/20261203/us-east-1/s3/aws4_request" }, ErrRegionMismatch},
		{"v4 date not the scope's", func(f *PostForm) { f.Date = "20261204T101010Z" }, ErrMalformedAuth},
		{"v4 other algorithm", func(f *PostForm) { f.Algorithm = "AWS4-HMAC-SHA1" }, ErrMalformedAuth},
		{"v4 no signature", func(f *PostForm) { f.Signature = "" }, ErrMissingAuth},
		{"no policy", func(f *PostForm) { f.Policy = "" }, ErrMissingAuth},
		{"both versions", func(f *PostForm) { f.AccessKeyID = ak }, ErrMalformedAuth},
	}
	for _, c := range bad {
		f := good4
		c.mod(&f)
		if _, err := v.VerifyPostForm(&f); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for name, f := range map[string]PostForm{
		"v2 wrong signature": {Policy: policy, AccessKeyID: ak, SignatureV2: base64.StdEncoding.EncodeToString([]byte("x"))},
		"v2 reversed":        {Policy: policy, AccessKeyID: ak, SignatureV2: string([]byte(sig2)[1:])},
	} {
		if _, err := v.VerifyPostForm(&f); !errors.Is(err, ErrSignatureMismatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
	f := PostForm{Policy: policy, AccessKeyID: "NOPE", SignatureV2: sig2}
	if _, err := v.VerifyPostForm(&f); !errors.Is(err, ErrInvalidAccessKeyID) {
		t.Errorf("v2 unknown key: %v", err)
	}
	f = PostForm{Policy: policy, AccessKeyID: ak}
	if _, err := v.VerifyPostForm(&f); !errors.Is(err, ErrMissingAuth) {
		t.Errorf("v2 no signature: %v", err)
	}
}
