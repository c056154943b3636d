// Package zcodec is the compression of cached bodies: the codec the
// memory tier uses when CACHE_COMPRESS=zstd and the shared tier uses when
// CACHE_L2_COMPRESS=zstd: proxy/compress.go (newEntry) encodes a fill's
// body, proxy/hit.go decodes it for each hit, and internal/coherence's
// value.go encodes and decodes the shared tier's values.
//
// A tier that stores a body calls Encode(header, body): it returns the
// bytes to store and whether they are encoded. Encoded bytes are one zstd
// frame that records the body's length; the tier keeps that length next to
// them (cache.Entry.DecodedLen in memory) and, to serve the body, calls
// Decode(stored, length). Decode never produces more than length bytes,
// whatever it is given, so a value that was corrupted or forged where it
// was stored costs an error, not memory. The functions are safe for
// concurrent use and share one encoder and one decoder.
package zcodec

import (
	"errors"
	"fmt"
	"math/bits"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
)

const (
	// MinSize is the smallest body worth compressing: below it the
	// saving is small against an entry's fixed cost, and each hit would
	// still pay for the decoder.
	MinSize = 1 << 10
	// maxWindow is the largest window the encoder uses, and the
	// largest the decoder accepts: it bounds the decoder's memory for
	// frames that do not fit the destination (which ours always do).
	maxWindow = 8 << 20
)

// ErrCorrupt is wrapped by every error of Decode.
var ErrCorrupt = errors.New("zcodec: compressed body does not decode")

var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
)

// codec returns the shared encoder and decoder. EncodeAll and DecodeAll
// of both are safe for concurrent use; each keeps a pool of GOMAXPROCS
// states.
func codec() (*zstd.Encoder, *zstd.Decoder) {
	zstdOnce.Do(func() {
		var err error
		// The fastest level: it compresses text about 3 to 5 times at
		// several hundred MB/s, and a fill waits for it.
		zstdEnc, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithWindowSize(maxWindow),
			zstd.WithEncoderConcurrency(0))
		if err != nil {
			panic("zcodec: zstd encoder: " + err.Error())
		}
		zstdDec, err = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxWindow(maxWindow),
			// DecodeAll writes no further than the capacity of its
			// destination, which Decode sizes to the stored length.
			zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			panic("zcodec: zstd decoder: " + err.Error())
		}
	})
	return zstdEnc, zstdDec
}

// compressibleTypes are the media types, besides text/*, *+json and *+xml,
// whose bodies are held compressed.
var compressibleTypes = map[string]bool{
	"application/json":                  true,
	"application/x-ndjson":              true,
	"application/ndjson":                true,
	"application/jsonl":                 true,
	"application/x-jsonlines":           true,
	"application/xml":                   true,
	"application/javascript":            true,
	"application/x-javascript":          true,
	"application/ecmascript":            true,
	"application/yaml":                  true,
	"application/x-yaml":                true,
	"application/toml":                  true,
	"application/csv":                   true,
	"application/sql":                   true,
	"application/graphql":               true,
	"application/x-sh":                  true,
	"application/x-tar":                 true,
	"application/postscript":            true,
	"application/rtf":                   true,
	"application/x-www-form-urlencoded": true,
	"application/wasm":                  true,
	"application/x-ipynb+json":          true,
	"image/bmp":                         true,
	"image/x-ms-bmp":                    true,
	"image/vnd.microsoft.icon":          true,
	"image/x-icon":                      true,
	"font/ttf":                          true,
	"font/otf":                          true,
}

// Compressible reports whether a body of size bytes with header h is worth
// holding compressed: its Content-Type names text or a text-like format
// (JSON, XML, JavaScript, CSV, YAML, SVG, NDJSON, …), it is not already
// encoded (a Content-Encoding other than identity), and it is at least
// MinSize bytes. Whether it actually compresses is Encode's
// to find out.
func Compressible(h http.Header, size int) bool {
	if size < MinSize {
		return false
	}
	if ce := firstValue(h, "Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return false
	}
	ct := firstValue(h, "Content-Type")
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+json") ||
		strings.HasSuffix(mt, "+xml") || compressibleTypes[mt]
}

// Encode returns the bytes to store for body, the body of a response
// with header h, and whether they are encoded: the body compressed with
// zstd when it is compressible and that saves at least an eighth of its
// length, else body itself. The encoded bytes are a new slice of exactly
// their length; body is not modified.
func Encode(h http.Header, body []byte) (stored []byte, encoded bool) {
	if !Compressible(h, len(body)) {
		return body, false
	}
	limit := len(body) - len(body)/8
	enc, _ := codec()
	scratch := Scratch(len(body))
	out := enc.EncodeAll(body, (*scratch)[:0])
	if len(out) > limit {
		Release(scratch, out)
		return body, false
	}
	stored = make([]byte, len(out))
	copy(stored, out)
	Release(scratch, out)
	return stored, true
}

// Decode returns the body of length n that Encode encoded as
// stored. It fails, with an error wrapping ErrCorrupt, unless stored is
// a zstd frame that records n as its length and decodes to exactly n
// bytes. It allocates n bytes for the body once the frame's header agreed
// with n, and no more than the decoder's window for its work, whatever
// stored holds; the caller bounds n (the tier stored no body longer than
// CACHE_MAX_OBJECT_BYTES).
func Decode(stored []byte, n int) ([]byte, error) {
	if err := checkFrame(stored, n); err != nil {
		return nil, err
	}
	return DecodeInto(stored, n, make([]byte, 0, n))
}

// checkFrame fails unless n is a body length and stored starts with a zstd
// frame header that records it.
func checkFrame(stored []byte, n int) error {
	if n <= 0 {
		return fmt.Errorf("%w: stored length %d", ErrCorrupt, n)
	}
	var fh zstd.Header
	if err := fh.Decode(stored); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if !fh.HasFCS || fh.FrameContentSize != uint64(n) {
		return fmt.Errorf("%w: frame of %d bytes, want %d", ErrCorrupt, fh.FrameContentSize, n)
	}
	return nil
}

// DecodeInto is Decode decoding into dst, whose capacity is at least n.
func DecodeInto(stored []byte, n int, dst []byte) ([]byte, error) {
	if err := checkFrame(stored, n); err != nil {
		return nil, err
	}
	_, dec := codec()
	out, err := dec.DecodeAll(stored, dst[:0:n])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if len(out) != n {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrCorrupt, len(out), n)
	}
	return out, nil
}

// Scratch buffers for encoding and decoding, pooled by size class: class c
// holds buffers of capacity 1<<c. Bodies above scratchMaxClass get a
// buffer of their own.
const (
	scratchMinClass = 10 // 1 KiB
	scratchMaxClass = 22 // 4 MiB
)

var scratchPools [scratchMaxClass + 1]sync.Pool

// scratchClass returns the size class of a buffer for n bytes, or -1 when
// n is beyond the pooled sizes.
func scratchClass(n int) int {
	c := max(bits.Len(uint(n-1)), scratchMinClass)
	if n <= 0 {
		c = scratchMinClass
	}
	if c > scratchMaxClass {
		return -1
	}
	return c
}

// Scratch returns a buffer of capacity at least n.
func Scratch(n int) *[]byte {
	c := scratchClass(n)
	if c < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	if b, ok := scratchPools[c].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 1<<c)
	return &b
}

// Release returns a buffer from Scratch to its pool; used is what was
// built in it, which replaces it when an append outgrew it.
func Release(b *[]byte, used []byte) {
	*b = used[:0]
	if c := scratchClass(cap(*b)); c >= 0 && cap(*b) == 1<<c {
		scratchPools[c].Put(b)
	}
}

// firstValue returns h's first value for key, a canonical name, without
// canonicalising it again.
func firstValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
