package sigv4

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func BenchmarkVerifyHeader(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com/test.txt", nil)
	r.Header.Set("Range", "bytes=0-9")
	r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	r.Header.Set("X-Amz-Date", docDate)
	r.Header.Set("Authorization", docAuth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
	v := docVerifier()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkChunked(b *testing.B, c chunkedCase) {
	buf := make([]byte, 32<<10)
	rd := bytes.NewReader(c.body)
	b.SetBytes(int64(len(c.payload)))
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(c.body)
		body := newChunkedBody(io.NopCloser(rd), c.cfg)
		for {
			_, err := body.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkChunkedDecode(b *testing.B) {
	p := testPayload(1 << 20)
	b.Run("signed 64KiB chunks", func(b *testing.B) { benchmarkChunked(b, signedCase(p, 64<<10)) })
	b.Run("signed with trailer", func(b *testing.B) { benchmarkChunked(b, signedCase(p, 64<<10, crc32Trailer(p))) })
	b.Run("unsigned trailer crc32", func(b *testing.B) { benchmarkChunked(b, unsignedCase(p, 64<<10, crc32Trailer(p))) })
}

func BenchmarkTransportSign(b *testing.B) {
	resp := &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}
	tr := &Transport{
		Base:      roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil }),
		AccessKey: backendAccessKey,
		SecretKey: backendSecret,
		Now:       func() time.Time { return testNow },
	}
	req, _ := http.NewRequest(http.MethodGet, "http://backend.example:9000/bucket/some/key.txt?versionId=abc", nil)
	req.Header.Set("Range", "bytes=0-1023")
	req.Header.Set("User-Agent", "s3cache")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.RoundTrip(req); err != nil {
			b.Fatal(err)
		}
	}
}
