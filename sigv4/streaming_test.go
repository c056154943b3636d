package sigv4

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"testing"
)

// TestTransportChunkedUploads sends unsigned payloads of lengths around
// the chunk size through a Transport with ChunkedUploads: the backend (the
// package's own Verifier) sees signed aws-chunked bodies whose every chunk
// signature verifies, and reads back exactly the payload.
func TestTransportChunkedUploads(t *testing.T) {
	srv, ch := backendServer(t)
	tr := &Transport{AccessKey: backendAccessKey, SecretKey: backendSecret, Region: "eu-central-1", ChunkedUploads: true}
	for _, n := range []int{1, outChunkSize - 1, outChunkSize, outChunkSize + 1, 3*outChunkSize + 17} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			payload := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
			seen := sendPayload(t, tr, srv.URL, ch, http.MethodPut, "", payload, http.Header{"Content-Type": {"text/plain"}})
			if got := seen.header.Get("X-Amz-Content-Sha256"); got != streamingSigned {
				t.Errorf("x-amz-content-sha256 %q, want %q", got, streamingSigned)
			}
			if got := seen.header.Get("X-Amz-Decoded-Content-Length"); got != strconv.Itoa(n) {
				t.Errorf("x-amz-decoded-content-length %q, want %d", got, n)
			}
		})
	}
}

// sendPayload sends payload with method to bucket/key (and query) at url
// through tr, and returns what the backend server (backendServer) saw; it
// fails the test unless the backend verified the request and read exactly
// the payload.
func sendPayload(t *testing.T, tr *Transport, url string, ch <-chan backendSeen, method, query string, payload []byte, header http.Header) backendSeen {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), method, url+"/bucket/key"+query, io.NopCloser(bytes.NewReader(payload)))
	req.ContentLength = int64(len(payload))
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	seen := <-ch
	if seen.err != nil {
		t.Fatalf("backend: %v", seen.err)
	}
	if !bytes.Equal(seen.body, payload) {
		t.Fatalf("backend read %d bytes, not the %d-byte payload", len(seen.body), len(payload))
	}
	return seen
}

// TestTransportTrailerUploads: with TrailerUploads, an unsigned PutObject
// payload goes as unsigned aws-chunked with a CRC64NVME trailer that the
// backend (the package's own Verifier) verifies and that equals the
// standard library's CRC of the payload; a part of a multipart upload, a
// body with a checksum of its own and a POST keep the signed chunks.
func TestTransportTrailerUploads(t *testing.T) {
	srv, ch := backendServer(t)
	tr := &Transport{AccessKey: backendAccessKey, SecretKey: backendSecret, Region: "eu-central-1", ChunkedUploads: true, TrailerUploads: true}
	send := func(t *testing.T, method, query string, payload []byte, header http.Header) backendSeen {
		t.Helper()
		return sendPayload(t, tr, srv.URL, ch, method, query, payload, header)
	}
	for _, n := range []int{1, trailerChunkSize - 1, trailerChunkSize, trailerChunkSize + 1, 2*trailerChunkSize + 17} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			payload := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
			seen := send(t, http.MethodPut, "", payload, nil)
			if got := seen.header.Get("X-Amz-Content-Sha256"); got != streamingUnsignedTrailer {
				t.Errorf("x-amz-content-sha256 %q, want %q", got, streamingUnsignedTrailer)
			}
			sum := crc64.New(crc64NVMETable)
			sum.Write(payload)
			want := "x-amz-checksum-crc64nvme:" + base64.StdEncoding.EncodeToString(sum.Sum(nil))
			if len(seen.trailers) != 1 || seen.trailers[0] != want {
				t.Errorf("trailers %q, want [%s]", seen.trailers, want)
			}
		})
	}
	for _, tc := range []struct {
		name, method, query string
		header              http.Header
	}{
		{"UploadPart", http.MethodPut, "?partNumber=2&uploadId=abc", nil},
		{"a checksum of its own", http.MethodPut, "", http.Header{"X-Amz-Checksum-Crc32": {"NSRBwg=="}}},
		{"POST", http.MethodPost, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := []byte("abcdefgh")
			seen := send(t, tc.method, tc.query, payload, tc.header)
			if got := seen.header.Get("X-Amz-Content-Sha256"); got != streamingSigned {
				t.Errorf("x-amz-content-sha256 %q, want %q", got, streamingSigned)
			}
			if len(seen.trailers) != 0 {
				t.Errorf("trailers %q, want none", seen.trailers)
			}
		})
	}
}

// TestSignedChunkBodyAnyBuffer: the encoding is the same whatever the
// size of the buffers it is read with, from one byte to more than a chunk
// (a Read then returns a chunk's framing and data together).
func TestSignedChunkBodyAnyBuffer(t *testing.T) {
	key := deriveSigningKey(backendSecret, "20240301", "us-east-1", "s3")
	for _, n := range []int{0, 1, outChunkSize, 2*outChunkSize + 5} {
		var want []byte
		for _, step := range []int{1, 1000, outChunkSize + 7, 256 << 10} {
			payload := bytes.Repeat([]byte("xyz"), n/3+1)[:n]
			b := newSignedChunkBody(io.NopCloser(bytes.NewReader(payload)), int64(n), key,
				"20240301T000000Z", "20240301/us-east-1/s3/aws4_request", testSeed)
			got, err := readAllStep(b, step)
			if err != nil {
				t.Fatalf("%d bytes, step %d: %v", n, step, err)
			}
			if int64(len(got)) != signedEncodedLength(int64(n)) {
				t.Fatalf("%d bytes, step %d: %d bytes encoded, want %d", n, step, len(got), signedEncodedLength(int64(n)))
			}
			if want == nil {
				want = got
			} else if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes: read %d at a time, the encoding differs", n, step)
			}
		}
	}
}

// TestSignedChunkBodyNeverEndsEarly: a source shorter or longer than the
// declared length fails the body, and no final chunk is written, so the
// backend can never take what it got for the whole.
func TestSignedChunkBodyNeverEndsEarly(t *testing.T) {
	key := deriveSigningKey(backendSecret, "20240301", "us-east-1", "s3")
	for _, tc := range []struct {
		name    string
		declare int64
		have    int
		want    error
	}{
		{"short by one chunk", 3 * outChunkSize, 2 * outChunkSize, ErrIncompleteBody},
		{"short by a byte", outChunkSize + 10, outChunkSize + 9, ErrIncompleteBody},
		{"long by a byte", outChunkSize, outChunkSize + 1, ErrBodyTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newSignedChunkBody(io.NopCloser(bytes.NewReader(make([]byte, tc.have))), tc.declare, key,
				"20240301T000000Z", "20240301/us-east-1/s3/aws4_request", testSeed)
			out, err := io.ReadAll(b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if bytes.Contains(out, []byte("\r\n0;chunk-signature=")) {
				t.Errorf("a final chunk was written for a body that failed")
			}
		})
	}
	// And a complete one is exactly as long as declared.
	for _, n := range []int64{1, outChunkSize, 2*outChunkSize + 5} {
		b := newSignedChunkBody(io.NopCloser(bytes.NewReader(make([]byte, n))), n, key,
			"20240301T000000Z", "20240301/us-east-1/s3/aws4_request", testSeed)
		out, err := io.ReadAll(b)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(out)) != signedEncodedLength(n) {
			t.Errorf("%d payload bytes encoded as %d, signedEncodedLength says %d", n, len(out), signedEncodedLength(n))
		}
	}
}
