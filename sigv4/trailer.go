package sigv4

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Trailers are the checksum trailers a client sent after an aws-chunked
// payload (x-amz-checksum-crc32 and the like). Their names are known when
// the request is verified; their values once the body verified them.
//
// The zero value has no trailers. A Trailers is written by the goroutine
// reading the body and must be read by that goroutine (or after it is
// done): [Transport] reads it from the goroutine that sends the body.
type Trailers struct {
	names  []string // x-amz-checksum-<alg>, lowercase, as declared
	values []string // base64 of each verified checksum; nil until verified
}

// Names returns the declared trailer names, lowercase.
func (t *Trailers) Names() []string {
	if t == nil {
		return nil
	}
	return t.names
}

// Values returns each trailer's value (base64, as S3 sends it), in the
// order of Names, and whether the body has verified them: false until the
// body returned io.EOF.
func (t *Trailers) Values() ([]string, bool) {
	if t == nil || t.values == nil {
		return nil, false
	}
	return t.values, true
}

type trailersKey struct{}

// WithTrailers returns a context telling [Transport] that the request body
// is the decoded payload of an upload that carried trailers t. Transport
// then sends it to the backend as aws-chunked with the same trailers
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER), so the backend records the checksum
// the client asked for. A nil or empty t changes nothing.
func WithTrailers(ctx context.Context, t *Trailers) context.Context {
	if t == nil || len(t.names) == 0 {
		return ctx
	}
	return context.WithValue(ctx, trailersKey{}, t)
}

func trailersFrom(ctx context.Context) *Trailers {
	t, _ := ctx.Value(trailersKey{}).(*Trailers)
	return t
}

// outChunkSize is the size of every chunk but the last of a signed
// aws-chunked body sent to the backend, and trailerChunkSize that of an
// unsigned one with trailers. Fixed, so the encoded length is known before
// the first byte is sent: S3 wants a Content-Length, not HTTP chunking. A
// signed chunk is held whole to be signed before it is sent, so it is
// small; an unsigned one streams through.
const (
	outChunkSize     = 64 << 10
	trailerChunkSize = 1 << 20
)

// encodedLength is the length of an aws-chunked body with trailerChunkSize
// chunks carrying n payload bytes and the given checksum trailers.
func encodedLength(n int64, names []string) int64 {
	full, rest := n/trailerChunkSize, n%trailerChunkSize
	l := full * int64(len(strconv.FormatInt(trailerChunkSize, 16))+2+trailerChunkSize+2)
	if rest > 0 {
		l += int64(len(strconv.FormatInt(rest, 16))+2) + rest + 2
	}
	l += 3 // "0\r\n"
	for _, name := range names {
		l += int64(len(name) + 1 + base64.StdEncoding.EncodedLen(newChecksum(name).Size()) + 2)
	}
	return l + 2 // the closing CRLF
}

// trailerBody encodes a payload of known length as an unsigned aws-chunked
// body with trailers: "<hex size>\r\n<data>\r\n" per chunk, then
// "0\r\n<name>:<value>\r\n...\r\n". Payload bytes stream through without
// being buffered. The trailers are written once the source returned
// io.EOF, from the values it verified. Not safe for concurrent Reads.
type trailerBody struct {
	src   io.ReadCloser
	tr    *Trailers
	left  int64  // payload bytes not yet read from src
	chunk int64  // payload bytes of the current chunk not yet read
	frame []byte // framing to hand out before more payload
	buf   []byte // backing store of frame
	eof   bool   // src returned io.EOF
	final bool   // the trailer section is in frame
	err   error
}

func newTrailerBody(src io.ReadCloser, length int64, tr *Trailers) *trailerBody {
	return &trailerBody{src: src, tr: tr, left: length, buf: make([]byte, 0, 64)}
}

func (b *trailerBody) fail(err error) error {
	b.err = err
	return err
}

// Read fills p with as much of the encoding as it has: a chunk's framing
// goes out with its data, in one write to the backend. It reads the
// source at most once per call (as often as a source that gives nothing
// needs), so it waits for the client no longer than a Read of one piece
// would.
func (b *trailerBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, readSrc := 0, false
	for {
		switch {
		case n == len(p):
			return n, nil
		case len(b.frame) > 0:
			m := copy(p[n:], b.frame)
			b.frame = b.frame[m:]
			n += m
		case b.chunk > 0:
			if readSrc {
				return n, nil
			}
			readSrc = true
			m, err := b.src.Read(p[n : n+int(min(int64(len(p)-n), b.chunk))])
			n += m
			b.chunk -= int64(m)
			b.left -= int64(m)
			if b.chunk == 0 {
				b.frame = append(b.buf[:0], '\r', '\n')
			}
			switch {
			case err == io.EOF:
				b.eof = true
				if b.chunk > 0 {
					return n, b.fail(fmt.Errorf("sigv4: body ended %d bytes early: %w", b.left, ErrIncompleteBody))
				}
			case err != nil:
				return n, b.fail(err)
			}
			if n == 0 {
				readSrc = false // nothing yet: read again, as a Read must not return 0, nil
			}
		case b.final:
			if n > 0 {
				return n, nil
			}
			return 0, io.EOF
		case b.left > 0:
			b.chunk = min(b.left, trailerChunkSize)
			b.frame = strconv.AppendInt(b.buf[:0], b.chunk, 16)
			b.frame = append(b.frame, '\r', '\n')
		case !b.eof:
			if readSrc {
				return n, nil
			}
			readSrc = true
			var one [1]byte
			m, err := b.src.Read(one[:])
			if m > 0 {
				return n, b.fail(fmt.Errorf("sigv4: body longer than its declared length: %w", ErrBodyTooLong))
			}
			if err != nil && err != io.EOF {
				return n, b.fail(err)
			}
			b.eof = err == io.EOF
			if n == 0 {
				readSrc = false
			}
		default:
			values, ok := b.tr.Values()
			if !ok || len(values) != len(b.tr.names) {
				return n, b.fail(fmt.Errorf("sigv4: trailers not verified: %w", ErrMalformedChunk))
			}
			var sb strings.Builder
			sb.WriteString("0\r\n")
			for i, name := range b.tr.names {
				sb.WriteString(name)
				sb.WriteByte(':')
				sb.WriteString(values[i])
				sb.WriteString("\r\n")
			}
			sb.WriteString("\r\n")
			b.frame = []byte(sb.String())
			b.final = true
		}
	}
}

// Close closes the source.
func (b *trailerBody) Close() error { return b.src.Close() }
