package sigv4

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"strings"
	"testing"
)

const testSeed = "abababababababababababababababababababababababababababababababab"

func testPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// chunkedCase builds a body and the decoder configuration that matches it.
type chunkedCase struct {
	payload []byte
	body    []byte
	cfg     chunkedConfig
}

func signedCase(payload []byte, chunkSize int, trailers ...string) chunkedCase {
	s := newChainSigner(testSecret, testNow, testSeed)
	s.trailer = len(trailers) > 0
	cfg := chunkedConfig{
		decodedLength: int64(len(payload)),
		signed:        true,
		key:           s.key,
		amzDate:       s.amzDate,
		scope:         s.scope,
		seed:          testSeed,
	}
	if len(trailers) > 0 {
		cfg.trailer, cfg.signedTrailer = true, true
		for _, tr := range trailers {
			name, _, _ := strings.Cut(tr, ":")
			cfg.trailers = append(cfg.trailers, name)
		}
	}
	return chunkedCase{payload, encodeChunked(payload, chunkSize, s, trailers...), cfg}
}

func unsignedCase(payload []byte, chunkSize int, trailers ...string) chunkedCase {
	cfg := chunkedConfig{decodedLength: int64(len(payload)), trailer: true}
	for _, tr := range trailers {
		name, _, _ := strings.Cut(tr, ":")
		cfg.trailers = append(cfg.trailers, name)
	}
	body := encodeChunked(payload, chunkSize, nil, trailers...)
	return chunkedCase{payload, body, cfg}
}

func (c chunkedCase) decode(step int) ([]byte, error) {
	body := newChunkedBody(io.NopCloser(&stepReader{bytes.NewReader(c.body), 1 << 30}), c.cfg)
	return readAllStep(body, step)
}

func checksumTrailer(alg string, h hash.Hash, payload []byte) string {
	h.Write(payload)
	return "x-amz-checksum-" + alg + ":" + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func TestChunkedDecode(t *testing.T) {
	p := testPayload(200_000)
	tests := []struct {
		name string
		c    chunkedCase
	}{
		{"signed", signedCase(p, 65536)},
		{"signed small chunks", signedCase(p[:1000], 7)},
		{"signed one byte", signedCase(p[:1], 8192)},
		{"signed empty", signedCase(nil, 8192)},
		{"signed with trailer", signedCase(p, 65536, crc32Trailer(p))},
		{"signed empty with trailer", signedCase(nil, 65536, crc32Trailer(nil))},
		{"unsigned trailer crc32", unsignedCase(p, 65536, crc32Trailer(p))},
		{"unsigned trailer crc32c", unsignedCase(p, 65536, checksumTrailer("crc32c", crc32.New(crc32cTable), p))},
		{"unsigned trailer crc64nvme", unsignedCase(p, 65536, checksumTrailer("crc64nvme", crc64.New(crc64NVMETable), p))},
		{"unsigned trailer sha1", unsignedCase(p, 65536, checksumTrailer("sha1", sha1.New(), p))},
		{"unsigned trailer sha256", unsignedCase(p, 65536, checksumTrailer("sha256", sha256.New(), p))},
		{"unsigned no trailer", unsignedCase(p, 3000)},
		{"unsigned empty", unsignedCase(nil, 3000, crc32Trailer(nil))},
		{"unsigned one byte", unsignedCase(p[:1], 3000, crc32Trailer(p[:1]))},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 3, 4096, 1 << 20} {
			t.Run(fmt.Sprintf("%s/step %d", tt.name, step), func(t *testing.T) {
				got, err := tt.c.decode(step)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !bytes.Equal(got, tt.c.payload) {
					t.Fatalf("got %d bytes, want %d (equal prefix: %v)", len(got), len(tt.c.payload), bytes.HasPrefix(tt.c.payload, got))
				}
			})
		}
	}
}

// TestChunkedFraming covers the trailer framings real clients send.
func TestChunkedFraming(t *testing.T) {
	p := []byte("hello world")
	crc := crc32Trailer(p)
	tests := []struct {
		name string
		body string
		want error
	}{
		{"sdk", "b\r\nhello world\r\n0\r\n" + crc + "\r\n\r\n", nil},
		{"minio-go bare LF", "b\r\nhello world\r\n0\r\n" + crc + "\n\r\n\r\n", nil},
		{"leading empty line", "b\r\nhello world\r\n0\r\n\r\n" + crc + "\r\n", nil},
		{"chunk extension ignored", "b;foo=bar\r\nhello world\r\n0\r\n" + crc + "\r\n\r\n", nil},
		{"missing final CRLF", "b\r\nhello world\r\n0\r\n" + crc + "\r\n", ErrMalformedChunk},
		{"trailer not terminated", "b\r\nhello world\r\n0\r\n" + crc, ErrMalformedChunk},
		{"bad checksum", "b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", ErrChecksumMismatch},
		{"checksum not base64", "b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:!!\r\n\r\n", ErrChecksumMismatch},
		{"missing trailer", "b\r\nhello world\r\n0\r\n\r\n", ErrMalformedChunk},
		{"undeclared trailer", "b\r\nhello world\r\n0\r\n" + crc + "\r\nx-amz-checksum-sha1:AAAA\r\n\r\n", ErrBodyTooLong},
		{"repeated trailer", "b\r\nhello world\r\n0\r\n\r\n" + crc + "\r\n" + crc + "\r\n", ErrBodyTooLong},
		{"unexpected trailer signature", "b\r\nhello world\r\n0\r\n" + crc + "\r\nx-amz-trailer-signature:" + testSeed + "\r\n\r\n", ErrBodyTooLong},
		{"data after the end", "b\r\nhello world\r\n0\r\n" + crc + "\r\n\r\nX", ErrMalformedChunk},
		{"truncated data", "b\r\nhello wor", ErrIncompleteBody},
		{"no CRLF after data", "b\r\nhello worldXX0\r\n", ErrMalformedChunk},
		{"bad hex size", "zz\r\nhello world\r\n", ErrMalformedChunk},
		{"negative size", "-b\r\nhello world\r\n", ErrMalformedChunk},
		{"empty size", "\r\nhello world\r\n", ErrMalformedChunk},
		{"huge size", "7fffffffffff\r\nhello world\r\n", ErrMalformedChunk},
		{"header LF only", "b\nhello world\r\n", ErrMalformedChunk},
		{"header line too long", "b;" + strings.Repeat("x", 5000) + "\r\nhello world\r\n", ErrMalformedChunk},
		{"longer than declared", "c\r\nhello world!\r\n0\r\n" + crc + "\r\n\r\n", ErrBodyTooLong},
		{"shorter than declared", "a\r\nhello worl\r\n0\r\n" + crc + "\r\n\r\n", ErrIncompleteBody},
		{"empty body", "", ErrIncompleteBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := chunkedCase{payload: p, body: []byte(tt.body), cfg: chunkedConfig{decodedLength: 11, trailer: true, trailers: []string{"x-amz-checksum-crc32"}}}
			for _, step := range []int{1, 4096} {
				got, err := c.decode(step)
				if !errors.Is(err, tt.want) {
					t.Fatalf("step %d: got %v, want %v", step, err, tt.want)
				}
				if tt.want == nil && !bytes.Equal(got, p) {
					t.Fatalf("step %d: got %q", step, got)
				}
				if tt.want != nil && len(got) >= len(p) {
					t.Fatalf("step %d: handed out all %d bytes before failing", step, len(got))
				}
			}
		})
	}
}

func TestChunkedSignedFailures(t *testing.T) {
	p := testPayload(150_000)
	good := signedCase(p, 65536)
	trailed := signedCase(p, 65536, crc32Trailer(p))
	mutate := func(c chunkedCase, f func([]byte) []byte) chunkedCase {
		c.body = f(bytes.Clone(c.body))
		return c
	}
	firstData := bytes.Index(good.body, []byte("\r\n")) + 2
	tests := []struct {
		name string
		c    chunkedCase
		want error
	}{
		{"bad chunk signature", mutate(good, func(b []byte) []byte { b[25] = flipHex(b[25]); return b }), ErrSignatureMismatch},
		{"flipped data byte", mutate(good, func(b []byte) []byte { b[firstData+100] ^= 0x20; return b }), ErrSignatureMismatch},
		{"flipped last data byte", mutate(good, func(b []byte) []byte {
			end := bytes.LastIndex(b, []byte("\r\n0;")) - 1
			b[end] ^= 0x20
			return b
		}), ErrSignatureMismatch},
		{"chunks reordered", func() chunkedCase {
			c := signedCase(bytes.Repeat([]byte("ab"), 100), 50)
			parts := bytes.SplitAfter(c.body, []byte("\r\n"))
			// parts: hdr, data, hdr, data, ...: swap the first two chunks.
			swapped := append(append(append([]byte{}, parts[2]...), parts[3]...), append(append([]byte{}, parts[0]...), parts[1]...)...)
			c.body = append(swapped, bytes.Join(parts[4:], nil)...)
			return c
		}(), ErrSignatureMismatch},
		{"missing chunk signature", mutate(good, func(b []byte) []byte {
			return bytes.Replace(b, []byte(";chunk-signature="), []byte(";chunk-signaturX="), 1)
		}), ErrMalformedChunk},
		{"final chunk signature", mutate(good, func(b []byte) []byte {
			i := bytes.LastIndex(b, []byte("0;chunk-signature=")) + 20
			b[i] = flipHex(b[i])
			return b
		}), ErrSignatureMismatch},
		{"truncated in data", mutate(good, func(b []byte) []byte { return b[:firstData+1000] }), ErrIncompleteBody},
		{"truncated before final chunk", mutate(good, func(b []byte) []byte { return b[:bytes.LastIndex(b, []byte("0;chunk"))] }), ErrIncompleteBody},
		{"missing final CRLF", mutate(good, func(b []byte) []byte { return b[:len(b)-2] }), ErrMalformedChunk},
		{"extra bytes", mutate(good, func(b []byte) []byte { return append(b, "extra"...) }), ErrBodyTooLong},
		{"declared too short", func() chunkedCase { c := good; c.cfg.decodedLength--; return c }(), ErrBodyTooLong},
		{"declared too long", func() chunkedCase { c := good; c.cfg.decodedLength++; return c }(), ErrIncompleteBody},
		{"wrong seed", func() chunkedCase { c := good; c.cfg.seed = strings.Repeat("cd", 32); return c }(), ErrSignatureMismatch},
		{"trailer checksum changed", mutate(trailed, func(b []byte) []byte {
			i := bytes.Index(b, []byte("x-amz-checksum-crc32:")) + len("x-amz-checksum-crc32:")
			b[i] ^= 1
			return b
		}), ErrSignatureMismatch},
		{"trailer signature changed", mutate(trailed, func(b []byte) []byte {
			i := bytes.Index(b, []byte("x-amz-trailer-signature:")) + len("x-amz-trailer-signature:")
			b[i] = flipHex(b[i])
			return b
		}), ErrSignatureMismatch},
		{"trailer signature missing", mutate(trailed, func(b []byte) []byte {
			i := bytes.Index(b, []byte("x-amz-trailer-signature:"))
			return append(b[:i], "\r\n"...)
		}), ErrMalformedChunk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.c.decode(4096)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if int64(len(got)) >= tt.c.cfg.decodedLength {
				t.Fatalf("handed out all %d bytes before failing", len(got))
			}
		})
	}
}

// flipHex changes a hex digit into another one.
func flipHex(c byte) byte {
	if c == '0' {
		return '1'
	}
	return '0'
}

// TestChunkedWithholdsLastByte reads all but the last payload byte while
// the rest of the body has not been sent, then sends a tail that is
// tampered, truncated or intact: only the intact one may produce io.EOF.
func TestChunkedWithholdsLastByte(t *testing.T) {
	p := testPayload(70_000)
	crc := crc32Trailer(p)
	type variant struct {
		name    string
		c       chunkedCase
		tail    func(tail []byte) []byte
		wantErr error
	}
	signed := signedCase(p, 65536)
	signedTrailer := signedCase(p, 65536, crc)
	unsigned := unsignedCase(p, 65536, crc)
	keep := func(b []byte) []byte { return b }
	flipSig := func(b []byte) []byte {
		b = bytes.Clone(b)
		i := len("\r\n0;chunk-signature=") - 2
		b[i] = flipHex(b[i])
		return b
	}
	flipCRC := func(b []byte) []byte {
		return bytes.Replace(b, []byte(crc), []byte("x-amz-checksum-crc32:AAAAAA=="), 1)
	}
	drop := func(b []byte) []byte { return nil }
	variants := []variant{
		{"signed intact", signed, keep, nil},
		{"signed final signature tampered", signed, flipSig, ErrSignatureMismatch},
		{"signed tail missing", signed, drop, ErrIncompleteBody},
		{"signed trailer intact", signedTrailer, keep, nil},
		{"signed trailer checksum tampered", signedTrailer, flipCRC, ErrSignatureMismatch},
		{"unsigned intact", unsigned, keep, nil},
		{"unsigned checksum tampered", unsigned, flipCRC, ErrChecksumMismatch},
		{"unsigned tail missing", unsigned, drop, ErrIncompleteBody},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			// The tail is everything after the last data chunk's CRLF.
			split := bytes.LastIndex(v.c.body, []byte("\r\n0")) + 2
			head, tail := v.c.body[:split], v.tail(v.c.body[split:])
			pr, pw := io.Pipe()
			proceed := make(chan struct{})
			go func() {
				pw.Write(head)
				<-proceed
				pw.Write(tail)
				pw.Close()
			}()
			body := newChunkedBody(pr, v.c.cfg)
			got := make([]byte, len(p)-1)
			if _, err := io.ReadFull(body, got); err != nil {
				t.Fatalf("reading the first %d bytes: %v", len(got), err)
			}
			if !bytes.Equal(got, p[:len(p)-1]) {
				t.Fatal("first bytes differ")
			}
			close(proceed)
			var last [16]byte
			n, err := body.Read(last[:])
			if v.wantErr == nil {
				if n != 1 || last[0] != p[len(p)-1] || err != io.EOF {
					t.Fatalf("last read = %d, %v; want 1 byte with io.EOF", n, err)
				}
				return
			}
			if n != 0 || !errors.Is(err, v.wantErr) {
				t.Fatalf("last read = %d, %v; want 0, %v", n, err, v.wantErr)
			}
			if n, err := body.Read(last[:]); n != 0 || err == io.EOF || err == nil {
				t.Fatalf("read after failure = %d, %v; want the error again", n, err)
			}
		})
	}
}

// TestSHA256BodyWithholdsLastByte does the same for a signed payload.
func TestSHA256BodyWithholdsLastByte(t *testing.T) {
	p := testPayload(10_000)
	for _, tamper := range []bool{false, true} {
		t.Run(fmt.Sprintf("tampered=%v", tamper), func(t *testing.T) {
			var want [32]byte
			copy(want[:], mustHex(sha256Hex(p)))
			pr, pw := io.Pipe()
			proceed := make(chan struct{})
			go func() {
				pw.Write(p[:len(p)-1])
				<-proceed
				last := p[len(p)-1]
				if tamper {
					last ^= 1
				}
				pw.Write([]byte{last})
				pw.Close()
			}()
			body := newSHA256Body(pr, want, int64(len(p)))
			got := make([]byte, len(p)-1)
			if _, err := io.ReadFull(body, got); err != nil {
				t.Fatalf("reading the first bytes: %v", err)
			}
			close(proceed)
			rest, err := io.ReadAll(body)
			if tamper {
				if len(rest) != 0 || !errors.Is(err, ErrContentSHA256Mismatch) {
					t.Fatalf("got %d more bytes, %v; want none and a mismatch", len(rest), err)
				}
				return
			}
			if err != nil || len(rest) != 1 {
				t.Fatalf("got %d more bytes, %v; want 1 and EOF", len(rest), err)
			}
		})
	}
}
