package sigv4

import (
	"errors"
	"hash/crc64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The examples of the AWS documentation, "Signature Calculations for the
// Authorization Header" (S3 API reference, sig-v4-header-based-auth,
// sigv4-query-string-auth, sigv4-streaming, sigv4-streaming-trailers).
const (
	docAccessKey = "AKIAIOSFODNN7EXAMPLE"
	docSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	docDate      = "20130524T000000Z"
	docScope     = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
)

var docNow = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func docVerifier() *Verifier {
	return &Verifier{
		Credentials: StaticCredentials{docAccessKey: docSecret},
		Now:         func() time.Time { return docNow },
	}
}

func docAuth(signedHeaders, sig string) string {
	return "AWS4-HMAC-SHA256 Credential=" + docScope + ",SignedHeaders=" + signedHeaders + ",Signature=" + sig
}

// docChunkedBody is the body of the "PUT Object, multiple chunks" example.
func docChunkedBody() string {
	return "10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n" +
		strings.Repeat("a", 65536) + "\r\n" +
		"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n" +
		strings.Repeat("a", 1024) + "\r\n" +
		"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"
}

func docChunkedRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPut, "http://s3.amazonaws.com/examplebucket/chunkObject.txt", strings.NewReader(body))
	r.Host = "s3.amazonaws.com"
	r.Header.Set("X-Amz-Date", docDate)
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", streamingSigned)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("Content-Length", "66824")
	r.Header.Set("Authorization", docAuth("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
		"4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"))
	return r
}

// docTrailerBody is the "PUT Object, multiple chunks with trailers" example;
// leadingBlank selects the document's framing (empty line before the
// trailers, none after) over the SDKs' (none before, one after).
func docTrailerBody(leadingBlank bool) string {
	b := "10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n" +
		strings.Repeat("a", 65536) + "\r\n" +
		"400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n" +
		strings.Repeat("a", 1024) + "\r\n" +
		"0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n"
	trailers := "x-amz-checksum-crc32c:sOO8/Q==\r\n" +
		"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n"
	if leadingBlank {
		return b + "\r\n" + trailers
	}
	return b + trailers + "\r\n"
}

func docTrailerRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPut, "http://s3.amazonaws.com/examplebucket/chunkObject.txt", strings.NewReader(body))
	r.Host = "s3.amazonaws.com"
	r.Header.Set("X-Amz-Date", docDate)
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", streamingSignedTrailer)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32c")
	r.Header.Set("Authorization", docAuth("content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
		"106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"))
	return r
}

func TestKnownAnswers(t *testing.T) {
	tests := []struct {
		name        string
		build       func() *http.Request
		wantBody    string
		wantHash    string
		wantLength  int64
		wantPresign bool
	}{
		{
			name: "GET object with range",
			build: func() *http.Request {
				r := httptest.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com/test.txt", nil)
				r.Header.Set("Range", "bytes=0-9")
				r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
				r.Header.Set("X-Amz-Date", docDate)
				r.Header.Set("Authorization", docAuth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
				return r
			},
			wantHash: emptySHA256,
		},
		{
			name: "PUT object with signed payload",
			build: func() *http.Request {
				r := httptest.NewRequest(http.MethodPut, "http://examplebucket.s3.amazonaws.com/test$file.text", strings.NewReader("Welcome to Amazon S3."))
				r.Header.Set("Date", "Fri, 24 May 2013 00:00:00 GMT")
				r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
				r.Header.Set("X-Amz-Content-Sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
				r.Header.Set("X-Amz-Date", docDate)
				r.Header.Set("Authorization", docAuth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
				return r
			},
			wantBody:   "Welcome to Amazon S3.",
			wantHash:   "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
			wantLength: 21,
		},
		{
			name: "GET bucket lifecycle",
			build: func() *http.Request {
				r := httptest.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com/?lifecycle", nil)
				r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
				r.Header.Set("X-Amz-Date", docDate)
				r.Header.Set("Authorization", docAuth("host;x-amz-content-sha256;x-amz-date", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"))
				return r
			},
			wantHash: emptySHA256,
		},
		{
			name: "GET bucket list objects",
			build: func() *http.Request {
				r := httptest.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J", nil)
				r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
				r.Header.Set("X-Amz-Date", docDate)
				r.Header.Set("Authorization", docAuth("host;x-amz-content-sha256;x-amz-date", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"))
				return r
			},
			wantHash: emptySHA256,
		},
		{
			name: "presigned GET object",
			build: func() *http.Request {
				return httptest.NewRequest(http.MethodGet, "http://examplebucket.s3.amazonaws.com/test.txt"+
					"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"+
					"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"+
					"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404", nil)
			},
			wantHash:    unsignedPayload,
			wantPresign: true,
		},
		{
			name:       "PUT object in signed chunks",
			build:      func() *http.Request { return docChunkedRequest(docChunkedBody()) },
			wantBody:   strings.Repeat("a", 66560),
			wantHash:   unsignedPayload,
			wantLength: 66560,
		},
		{
			name:       "PUT object in signed chunks with signed trailer, document framing",
			build:      func() *http.Request { return docTrailerRequest(docTrailerBody(true)) },
			wantBody:   strings.Repeat("a", 66560),
			wantHash:   unsignedPayload,
			wantLength: 66560,
		},
		{
			name:       "PUT object in signed chunks with signed trailer, SDK framing",
			build:      func() *http.Request { return docTrailerRequest(docTrailerBody(false)) },
			wantBody:   strings.Repeat("a", 66560),
			wantHash:   unsignedPayload,
			wantLength: 66560,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := docVerifier().Verify(tt.build())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.AccessKey != docAccessKey || res.Presigned != tt.wantPresign {
				t.Errorf("got access key %q presigned %v, want %q %v", res.AccessKey, res.Presigned, docAccessKey, tt.wantPresign)
			}
			if res.PayloadHash != tt.wantHash {
				t.Errorf("PayloadHash = %q, want %q", res.PayloadHash, tt.wantHash)
			}
			if res.ContentLength != tt.wantLength {
				t.Errorf("ContentLength = %d, want %d", res.ContentLength, tt.wantLength)
			}
			got, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatalf("reading body: %v", err)
			}
			if string(got) != tt.wantBody {
				t.Errorf("body = %d bytes, want %d", len(got), len(tt.wantBody))
			}
		})
	}
}

func TestKnownAnswersTampered(t *testing.T) {
	tests := []struct {
		name  string
		build func() *http.Request
		want  error
	}{
		{"chunk data flipped", func() *http.Request {
			b := []byte(docChunkedBody())
			b[200] = 'b'
			return docChunkedRequest(string(b))
		}, ErrSignatureMismatch},
		{"trailer checksum changed", func() *http.Request {
			return docTrailerRequest(strings.Replace(docTrailerBody(false), "sOO8/Q==", "AAAAAA==", 1))
		}, ErrSignatureMismatch},
		{"trailer signature changed", func() *http.Request {
			return docTrailerRequest(strings.Replace(docTrailerBody(false), "d81f82fc", "d81f82fd", 1))
		}, ErrSignatureMismatch},
		{"final chunk signature changed", func() *http.Request {
			return docChunkedRequest(strings.Replace(docChunkedBody(), "b6c6ea8a", "b6c6ea8b", 1))
		}, ErrSignatureMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := docVerifier().Verify(tt.build())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			_, err = io.ReadAll(res.Body)
			if !errors.Is(err, tt.want) {
				t.Errorf("reading body: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSigningKeyKnownAnswer(t *testing.T) {
	// From the AWS General Reference "Examples of how to derive a signing key".
	got := deriveSigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
	const want = "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
	if h := hexString(got); h != want {
		t.Errorf("signing key = %s, want %s", h, want)
	}
}

func TestCRC64NVMECheckValue(t *testing.T) {
	// CRC-64/NVME check value over "123456789".
	h := crc64.New(crc64NVMETable)
	h.Write([]byte("123456789"))
	if got, want := h.Sum64(), uint64(0xae8b14860a799888); got != want {
		t.Errorf("crc64nvme(123456789) = %#x, want %#x", got, want)
	}
}
