package proxy

import (
	"errors"
	"fmt"
	"math/bits"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/s3cache/s3cache/cache"
)

// Compression of cached bodies: the codec the memory tier uses when
// CACHE_COMPRESS=zstd and the shared tier uses when CACHE_L2_COMPRESS=zstd.
//
// A tier that stores a body calls encodeBody(header, body): it returns the
// bytes to store and whether they are encoded. Encoded bytes are one zstd
// frame that records the body's length; the tier keeps that length next to
// them (cache.Entry.DecodedLen in memory) and, to serve the body, calls
// decodeBody(stored, length). decodeBody never produces more than length
// bytes, whatever it is given, so a value that was corrupted or forged
// where it was stored costs an error, not memory. The functions are safe
// for concurrent use and share one encoder and one decoder.

const (
	// compressMinSize is the smallest body worth compressing: below it the
	// saving is small against an entry's fixed cost, and each hit would
	// still pay for the decoder.
	compressMinSize = 1 << 10
	// compressMaxWindow is the largest window the encoder uses, and the
	// largest the decoder accepts: it bounds the decoder's memory for
	// frames that do not fit the destination (which ours always do).
	compressMaxWindow = 8 << 20
)

// errCorruptBody is wrapped by every error of decodeBody.
var errCorruptBody = errors.New("proxy: compressed body does not decode")

var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
)

// zstdCodec returns the shared encoder and decoder. EncodeAll and DecodeAll
// of both are safe for concurrent use; each keeps a pool of GOMAXPROCS
// states.
func zstdCodec() (*zstd.Encoder, *zstd.Decoder) {
	zstdOnce.Do(func() {
		var err error
		// The fastest level: it compresses text about 3 to 5 times at
		// several hundred MB/s, and a fill waits for it.
		zstdEnc, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithWindowSize(compressMaxWindow),
			zstd.WithEncoderConcurrency(0))
		if err != nil {
			panic("proxy: zstd encoder: " + err.Error())
		}
		zstdDec, err = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxWindow(compressMaxWindow),
			// DecodeAll writes no further than the capacity of its
			// destination, which decodeBody sizes to the stored length.
			zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			panic("proxy: zstd decoder: " + err.Error())
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

// compressible reports whether a body of size bytes with header h is worth
// holding compressed: its Content-Type names text or a text-like format
// (JSON, XML, JavaScript, CSV, YAML, SVG, NDJSON, …), it is not already
// encoded (a Content-Encoding other than identity), and it is at least
// compressMinSize bytes. Whether it actually compresses is encodeBody's
// to find out.
func compressible(h http.Header, size int) bool {
	if size < compressMinSize {
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

// encodeBody returns the bytes to store for body, the body of a response
// with header h, and whether they are encoded: the body compressed with
// zstd when it is compressible and that saves at least an eighth of its
// length, else body itself. The encoded bytes are a new slice of exactly
// their length; body is not modified.
func encodeBody(h http.Header, body []byte) (stored []byte, encoded bool) {
	if !compressible(h, len(body)) {
		return body, false
	}
	limit := len(body) - len(body)/8
	enc, _ := zstdCodec()
	scratch := getScratch(len(body))
	out := enc.EncodeAll(body, (*scratch)[:0])
	if len(out) > limit {
		putScratch(scratch, out)
		return body, false
	}
	stored = make([]byte, len(out))
	copy(stored, out)
	putScratch(scratch, out)
	return stored, true
}

// decodeBody returns the body of length n that encodeBody encoded as
// stored. It fails, with an error wrapping errCorruptBody, unless stored is
// a zstd frame that records n as its length and decodes to exactly n
// bytes. It allocates n bytes for the body once the frame's header agreed
// with n, and no more than the decoder's window for its work, whatever
// stored holds; the caller bounds n (the tier stored no body longer than
// CACHE_MAX_OBJECT_BYTES).
func decodeBody(stored []byte, n int) ([]byte, error) {
	if err := checkFrame(stored, n); err != nil {
		return nil, err
	}
	return decodeInto(stored, n, make([]byte, 0, n))
}

// checkFrame fails unless n is a body length and stored starts with a zstd
// frame header that records it.
func checkFrame(stored []byte, n int) error {
	if n <= 0 {
		return fmt.Errorf("%w: stored length %d", errCorruptBody, n)
	}
	var fh zstd.Header
	if err := fh.Decode(stored); err != nil {
		return fmt.Errorf("%w: %w", errCorruptBody, err)
	}
	if !fh.HasFCS || fh.FrameContentSize != uint64(n) {
		return fmt.Errorf("%w: frame of %d bytes, want %d", errCorruptBody, fh.FrameContentSize, n)
	}
	return nil
}

// decodeInto is decodeBody decoding into dst, whose capacity is at least n.
func decodeInto(stored []byte, n int, dst []byte) ([]byte, error) {
	if err := checkFrame(stored, n); err != nil {
		return nil, err
	}
	_, dec := zstdCodec()
	out, err := dec.DecodeAll(stored, dst[:0:n])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorruptBody, err)
	}
	if len(out) != n {
		return nil, fmt.Errorf("%w: %d bytes, want %d", errCorruptBody, len(out), n)
	}
	return out, nil
}

// newEntry returns the cache entry of a complete body with header (as
// storedHeader copies it) and lifetime ttl: compressed when CACHE_COMPRESS
// is zstd and encodeBody finds that it pays, else holding body as it is.
func (p *Proxy) newEntry(header http.Header, body []byte, ttl time.Duration) *cache.Entry {
	e := &cache.Entry{Header: header, Body: body, TTL: ttl}
	if p.cfg.CacheCompress == "zstd" {
		if stored, ok := encodeBody(header, body); ok {
			e.Body, e.DecodedLen = stored, len(body)
		}
	}
	return e
}

// renewedEntry returns a new entry holding what e holds, body encoded or
// not, with lifetime ttl: the entry of a revalidated object.
func renewedEntry(e *cache.Entry, ttl time.Duration) *cache.Entry {
	return &cache.Entry{Header: e.Header, Body: e.Body, DecodedLen: e.DecodedLen, TTL: ttl}
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

// getScratch returns a buffer of capacity at least n.
func getScratch(n int) *[]byte {
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

// putScratch returns a buffer from getScratch to its pool; used is what was
// built in it, which replaces it when an append outgrew it.
func putScratch(b *[]byte, used []byte) {
	*b = used[:0]
	if c := scratchClass(cap(*b)); c >= 0 && cap(*b) == 1<<c {
		scratchPools[c].Put(b)
	}
}
