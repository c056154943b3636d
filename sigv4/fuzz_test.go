package sigv4

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		docAuth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
		"AWS4-HMAC-SHA256 Credential=AK/20240301/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + testSeed,
		"AWS4-HMAC-SHA256 Credential=A/K/20240301/us-east-1/s3/aws4_request SignedHeaders=host Signature=" + testSeed,
		"AWS AK:sig",
		"AWS4-HMAC-SHA256 ",
		"AWS4-HMAC-SHA256 Credential=,,,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseAuthorization(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedAuth) && !errors.Is(err, ErrSignatureV2) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		// A signature of any other form than 64 hex digits is accepted
		// here and fails the comparison (SignatureDoesNotMatch).
		if a.signature == "" || !strings.Contains(";"+a.signedHeaders+";", ";host;") || a.scope.accessKey == "" {
			t.Fatalf("accepted inconsistent %+v", a)
		}
	})
}

func FuzzCredentialScope(f *testing.F) {
	for _, s := range []string{docScope, "AK/20240301/us-east-1/s3/aws4_request", "a/b/c", "//////", "AK/2024030/x/s3/aws4_request", "AK/20241301/x/s3/aws4_request"} {
		f.Add(s, "20130524T000000Z")
	}
	f.Fuzz(func(t *testing.T, cred, date string) {
		c, err := parseCredential(cred)
		if err == nil {
			if got := c.accessKey + "/" + c.String(); got != cred {
				t.Fatalf("credential %q round-trips to %q", cred, got)
			}
			if tm, err := time.Parse(scopeDateLayout, c.date); err != nil || tm.Format(scopeDateLayout) != c.date {
				t.Fatalf("accepted date %q, which the time package does not (%v)", c.date, err)
			}
		} else if !errors.Is(err, ErrMalformedAuth) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if len(date) >= 8 {
			d := date[:8]
			_, perr := time.Parse(scopeDateLayout, d)
			if got, want := checkScopeDate(d) == nil, perr == nil && allDigits(d); got != want {
				t.Fatalf("scope date %q accepted %v, the time package %v", d, got, want)
			}
		}
		if tm, err := parseAmzDate(date); err == nil {
			if got := tm.Format(amzDateLayout); got != date {
				t.Fatalf("date %q round-trips to %q", date, got)
			}
		}
	})
}

func FuzzCanonicalQuery(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "uploads", "prefix=a+b%20c&&x=", "%zz=%4", "X-Amz-Signature=x&a=%C3%BC", "a=2&a=1&a"} {
		f.Add(s, "/bucket/a//b/./c%20d+e")
	}
	f.Fuzz(func(t *testing.T, raw, path string) {
		once := string(appendCanonicalQuery(nil, raw, false))
		if twice := string(appendCanonicalQuery(nil, once, false)); twice != once {
			t.Fatalf("query %q: canonical %q is not a fixed point (%q)", raw, once, twice)
		}
		signed := string(appendCanonicalQuery(nil, raw, true))
		if strings.Contains("&"+signed, "&X-Amz-Signature=") {
			t.Fatalf("X-Amz-Signature kept in %q", signed)
		}
		u := string(appendCanonicalURI(nil, path))
		if again := string(appendCanonicalURI(nil, u)); again != u {
			t.Fatalf("path %q: canonical %q is not a fixed point (%q)", path, u, again)
		}
	})
}

func FuzzChunkedDecode(f *testing.F) {
	p := testPayload(300)
	s := signedCase(p, 100)
	st := signedCase(p, 64, crc32Trailer(p))
	u := unsignedCase(p, 128, crc32Trailer(p))
	f.Add(s.body, uint8(0), uint16(len(p)))
	f.Add(st.body, uint8(1), uint16(len(p)))
	f.Add(u.body, uint8(2), uint16(len(p)))
	f.Add([]byte("0\r\n\r\n"), uint8(2), uint16(0))
	f.Add([]byte("b\r\nhello world\r\n0\r\n\r\nx-amz-checksum-crc32:DUoRhQ==\r\n"), uint8(2), uint16(11))
	f.Fuzz(func(t *testing.T, body []byte, mode uint8, n uint16) {
		var cfg chunkedConfig
		switch mode % 3 {
		case 0:
			cfg = s.cfg
		case 1:
			cfg = st.cfg
		default:
			cfg = u.cfg
		}
		cfg.decodedLength = int64(n)
		for _, step := range []int{1, 4096} {
			dec := newChunkedBody(io.NopCloser(bytes.NewReader(body)), cfg)
			got, err := readAllStep(dec, step)
			if err == nil && int64(len(got)) != cfg.decodedLength {
				t.Fatalf("success with %d bytes, declared %d", len(got), cfg.decodedLength)
			}
			if err != nil && int64(len(got)) >= cfg.decodedLength && cfg.decodedLength > 0 {
				t.Fatalf("failed (%v) after handing out all %d bytes", err, len(got))
			}
		}
	})
}
