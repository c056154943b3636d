package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"
	"sync"
)

// An upload whose payload the backend cannot check (UNSIGNED-PAYLOAD) and
// that is framed only by Content-Length looks complete to a backend that
// commits whatever arrived before the connection closed (versitygw does).
// So Transport sends such a payload as aws-chunked with every chunk signed
// with the backend's key (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): a stream
// cut anywhere lacks its final chunk, and the backend refuses it. The
// final chunk goes out only after the source returned io.EOF, which, for a
// client's aws-chunked body, comes only after every signature, checksum and
// the length verified.

// signedChunkLine is the length of ";chunk-signature=" and a hex signature.
const signedChunkLine = len(";"+chunkSignaturePrefix) + 2*sha256.Size

// signedEncodedLength is the length of a signed aws-chunked body with
// outChunkSize chunks carrying n payload bytes.
func signedEncodedLength(n int64) int64 {
	full, rest := n/outChunkSize, n%outChunkSize
	l := full * int64(len(strconv.FormatInt(outChunkSize, 16))+signedChunkLine+2+outChunkSize+2)
	if rest > 0 {
		l += int64(len(strconv.FormatInt(rest, 16))+signedChunkLine+2) + rest + 2
	}
	return l + int64(1+signedChunkLine+2+2) // "0;chunk-signature=…\r\n\r\n"
}

// outChunks lend the buffers signedChunkBody holds one chunk in.
var outChunks = sync.Pool{New: func() any { b := make([]byte, outChunkSize); return &b }}

// signedChunkBody encodes a payload of known length as a signed aws-chunked
// body: "<hex size>;chunk-signature=<sig>\r\n<data>\r\n" per chunk of
// outChunkSize bytes (the last one shorter), then the final empty chunk.
// Each signature chains from the previous one, the first from the
// request's seed signature. A chunk is read whole before its header can
// be written, so the body holds one chunk (a pooled 64 KiB buffer) at a
// time. A source that ends early, or runs past the length, fails the Read,
// and no final chunk is ever written. Not safe for concurrent Reads; Close
// may be called concurrently with Read.
type signedChunkBody struct {
	src     io.ReadCloser
	left    int64 // payload bytes not yet read from src
	mac     hash.Hash
	prefix  string                // "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n"
	prevSig [2 * sha256.Size]byte // hex
	bufp    *[]byte               // the chunk being sent; nil once released
	data    []byte                // what is left to send of it
	frame   []byte                // framing to send before data
	line    [64 + signedChunkLine + 4]byte
	trail   bool // data is followed by "\r\n"
	final   bool // the final chunk is in frame
	err     error
}

func newSignedChunkBody(src io.ReadCloser, length int64, key []byte, amzDate, scope, seed string) *signedChunkBody {
	b := &signedChunkBody{
		src:    src,
		left:   length,
		mac:    hmac.New(sha256.New, key),
		prefix: payloadAlgorithm + "\n" + amzDate + "\n" + scope + "\n",
		bufp:   outChunks.Get().(*[]byte),
	}
	copy(b.prevSig[:], seed)
	return b
}

func (b *signedChunkBody) fail(err error) error {
	b.err = err
	b.release()
	return err
}

func (b *signedChunkBody) release() {
	if b.bufp != nil {
		outChunks.Put(b.bufp)
		b.bufp = nil
	}
}

// sign chains the signature of a chunk whose data hashes to sum and
// writes that chunk's header line into frame.
func (b *signedChunkBody) sign(size int, sum []byte) {
	b.mac.Reset()
	io.WriteString(b.mac, b.prefix)
	b.mac.Write(b.prevSig[:])
	io.WriteString(b.mac, "\n"+emptySHA256+"\n")
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum)
	b.mac.Write(h[:])
	var sig [sha256.Size]byte
	hex.Encode(b.prevSig[:], b.mac.Sum(sig[:0]))
	line := strconv.AppendInt(b.line[:0], int64(size), 16)
	line = append(line, ';')
	line = append(line, chunkSignaturePrefix...)
	line = append(line, b.prevSig[:]...)
	b.frame = append(line, '\r', '\n')
}

// Read fills p with as much of the encoding as it holds: the framing and
// data of a chunk go out in one Read, and so in one write to the backend,
// not three. It reads the source at most once per call, so it waits for
// the client no longer than a Read of one piece would.
func (b *signedChunkBody) Read(p []byte) (int, error) {
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
		case len(b.data) > 0:
			m := copy(p[n:], b.data)
			b.data = b.data[m:]
			n += m
		case b.trail:
			b.trail = false
			b.frame = append(b.line[:0], '\r', '\n')
		case b.final:
			if n > 0 {
				return n, nil
			}
			return 0, io.EOF
		case readSrc:
			return n, nil
		case b.left > 0:
			readSrc = true
			buf := (*b.bufp)[:min(b.left, outChunkSize)]
			m, err := io.ReadFull(b.src, buf)
			b.left -= int64(m)
			if err == io.ErrUnexpectedEOF || err == io.EOF {
				return n, b.fail(fmt.Errorf("sigv4: body ended %d bytes early: %w", b.left, ErrIncompleteBody))
			}
			if err != nil {
				return n, b.fail(err)
			}
			sum := sha256.Sum256(buf)
			b.sign(len(buf), sum[:])
			b.data, b.trail = buf, true
		default:
			// The whole payload was read: the source must end here, and
			// only then does the final chunk go out.
			readSrc = true
			var one [1]byte
			m, err := b.src.Read(one[:])
			for m == 0 && err == nil {
				m, err = b.src.Read(one[:])
			}
			if m > 0 {
				return n, b.fail(fmt.Errorf("sigv4: body longer than its declared length: %w", ErrBodyTooLong))
			}
			if err != io.EOF {
				return n, b.fail(err)
			}
			b.release()
			empty := sha256.Sum256(nil)
			b.sign(0, empty[:])
			b.frame = append(b.frame, '\r', '\n')
			b.final = true
		}
	}
}

// Close closes the source. The chunk buffer goes back to the pool when a
// Read ends the body; a body closed before that leaves it to the garbage
// collector, as a Read may still be using it.
func (b *signedChunkBody) Close() error { return b.src.Close() }
