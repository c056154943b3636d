package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestTrailerBodyRoundTrip encodes payloads of awkward lengths with their
// trailers, checks the length was predicted exactly, and decodes the
// result with the inbound decoder, which verifies every checksum.
func TestTrailerBodyRoundTrip(t *testing.T) {
	sizes := []int{0, 1, trailerChunkSize - 1, trailerChunkSize, trailerChunkSize + 1, 3*trailerChunkSize + 17}
	trailerSets := [][]string{
		{"x-amz-checksum-crc32"},
		{"x-amz-checksum-crc64nvme", "x-amz-checksum-sha256"},
		{"x-amz-checksum-crc32c", "x-amz-checksum-sha1"},
	}
	for _, n := range sizes {
		for _, names := range trailerSets {
			payload := testPayload(n)
			// What the client sent, verified on the way in.
			var parts []string
			for _, name := range names {
				alg := strings.TrimPrefix(name, checksumPrefix)
				parts = append(parts, checksumTrailer(alg, newChecksum(name), payload))
			}
			in := unsignedCase(payload, 8000, parts...)
			got := &Trailers{names: names}
			in.cfg.verified = got
			decoded := newChunkedBody(io.NopCloser(bytes.NewReader(in.body)), in.cfg)

			enc := newTrailerBody(decoded, int64(n), got)
			wire, err := readAllStep(enc, 4093)
			if err != nil {
				t.Fatalf("%d bytes, %v: encoding: %v", n, names, err)
			}
			// Read with buffers larger than a chunk, the same bytes.
			again := newChunkedBody(io.NopCloser(bytes.NewReader(in.body)), in.cfg)
			if wide, err := readAllStep(newTrailerBody(again, int64(n), got), trailerChunkSize+4096); err != nil || !bytes.Equal(wide, wire) {
				t.Fatalf("%d bytes, %v: read in wide buffers: %d bytes, %v; in narrow ones %d", n, names, len(wide), err, len(wire))
			}
			if want := encodedLength(int64(n), names); int64(len(wire)) != want {
				t.Fatalf("%d bytes, %v: encoded %d bytes, predicted %d", n, names, len(wire), want)
			}
			out := chunkedConfig{decodedLength: int64(n), trailer: true, trailers: names}
			back, err := readAllStep(newChunkedBody(io.NopCloser(bytes.NewReader(wire)), out), 1000)
			if err != nil {
				t.Fatalf("%d bytes, %v: decoding what was sent: %v\n%q", n, names, err, tail(wire))
			}
			if !bytes.Equal(back, payload) {
				t.Fatalf("%d bytes, %v: payload changed on the way", n, names)
			}
		}
	}
}

func tail(b []byte) []byte {
	return b[max(0, len(b)-120):]
}

func TestTrailerBodyFailures(t *testing.T) {
	names := []string{"x-amz-checksum-crc32"}
	verified := &Trailers{names: names, values: []string{"AAAAAA=="}}
	tests := []struct {
		name string
		src  []byte
		n    int64
		tr   *Trailers
		want error
	}{
		{"short source", []byte("abc"), 4, verified, ErrIncompleteBody},
		{"long source", []byte("abcde"), 4, verified, ErrBodyTooLong},
		{"trailers never verified", []byte("abcd"), 4, &Trailers{names: names}, ErrMalformedChunk},
	}
	for _, tt := range tests {
		b := newTrailerBody(io.NopCloser(bytes.NewReader(tt.src)), tt.n, tt.tr)
		_, err := io.ReadAll(b)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestTransportForwardsTrailers sends a decoded payload with the client's
// trailers through Transport to a backend that verifies SigV4 and the
// checksum: the backend must see aws-chunked with the same trailer.
func TestTransportForwardsTrailers(t *testing.T) {
	srv, ch := backendServer(t)
	tr := &Transport{AccessKey: backendAccessKey, SecretKey: backendSecret, Region: "eu-central-1"}
	for _, n := range []int{0, 5, 200_000} {
		payload := testPayload(n)
		sum := crc32.ChecksumIEEE(payload)
		value := base64.StdEncoding.EncodeToString([]byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)})
		trailers := &Trailers{names: []string{"x-amz-checksum-crc32"}, values: []string{value}}
		ctx := WithTrailers(context.Background(), trailers)
		var body io.Reader = http.NoBody
		if n > 0 {
			body = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL+"/bucket/k", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("X-Amz-Sdk-Checksum-Algorithm", "CRC32")
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		resp.Body.Close()
		seen := <-ch
		if seen.err != nil {
			t.Fatalf("%d bytes: backend verification: %v", n, seen.err)
		}
		if !bytes.Equal(seen.body, payload) {
			t.Errorf("%d bytes: backend got %d different bytes", n, len(seen.body))
		}
		for k, want := range map[string]string{
			"X-Amz-Content-Sha256":         streamingUnsignedTrailer,
			"X-Amz-Trailer":                "x-amz-checksum-crc32",
			"Content-Encoding":             "aws-chunked,gzip",
			"X-Amz-Sdk-Checksum-Algorithm": "CRC32",
		} {
			if got := seen.header.Get(k); got != want {
				t.Errorf("%d bytes: backend %s = %q, want %q", n, k, got, want)
			}
		}
	}
}

// TestVerifiedTrailers checks that a verified upload exposes its trailer
// values only once the body is read, and as the checksum it computed.
func TestVerifiedTrailers(t *testing.T) {
	payload := testPayload(1000)
	c := unsignedCase(payload, 300, checksumTrailer("sha256", sha256.New(), payload))
	got := &Trailers{names: c.cfg.trailers}
	c.cfg.verified = got
	body := newChunkedBody(io.NopCloser(bytes.NewReader(c.body)), c.cfg)
	if _, ok := got.Values(); ok {
		t.Fatal("values known before the body was read")
	}
	if _, err := io.ReadAll(body); err != nil {
		t.Fatal(err)
	}
	values, ok := got.Values()
	sum := sha256.Sum256(payload)
	if !ok || len(values) != 1 || values[0] != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("Values() = %q, %v", values, ok)
	}
}
