package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"
)

const (
	// maxChunkSize bounds one aws-chunked chunk; signed chunks are buffered
	// whole before they are verified and handed out.
	maxChunkSize = 16 << 20
	// chunkLineBuffer bounds a chunk header or trailer line.
	chunkLineBuffer = 4 << 10
	// maxTrailerLines bounds the trailer section.
	maxTrailerLines = 16
	// pooledChunkCap is the largest chunk buffer returned to the pool.
	pooledChunkCap = 1 << 20

	chunkSignaturePrefix = "chunk-signature="
	trailerSignatureName = "x-amz-trailer-signature"
	payloadAlgorithm     = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerAlgorithm     = "AWS4-HMAC-SHA256-TRAILER"
)

var (
	bufioPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, chunkLineBuffer) }}
	chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
)

// chunkedConfig describes one aws-chunked body.
type chunkedConfig struct {
	decodedLength int64
	signed        bool      // chunk-signature on every chunk
	trailer       bool      // a trailer section follows the final chunk
	signedTrailer bool      // the trailer ends with x-amz-trailer-signature
	trailers      []string  // declared trailer names, x-amz-checksum-<alg>
	verified      *Trailers // receives the trailer values once verified; may be nil
	key           []byte    // signing key (signed forms)
	amzDate       string
	scope         string
	seed          string // request signature, lowercase hex
}

// chunkedBody decodes and verifies an aws-chunked body while it is read.
// Signed chunks are buffered one at a time and handed out only after their
// signature matched; unsigned chunks stream through. The payload's last
// byte is returned only with io.EOF, after the final chunk, trailers,
// signatures, checksums and length all verified.
//
// Not safe for concurrent Reads. Close may be called concurrently with Read:
// it only closes the source; pooled buffers are released by Read itself.
type chunkedBody struct {
	src io.ReadCloser
	br  *bufio.Reader
	cfg chunkedConfig

	mac     hash.Hash   // HMAC-SHA256 with the signing key
	prevSig [64]byte    // previous signature, lowercase hex
	sigBuf  [64]byte    // the current chunk's signature
	sts     []byte      // scratch for strings to sign
	sums    []hash.Hash // one per cfg.trailers

	total  int64 // sum of chunk sizes announced so far
	handed int64 // payload bytes returned to the caller

	bufp *[]byte // pooled buffer behind buf
	buf  []byte  // signed mode: verified chunk data
	off  int     // signed mode: next byte of buf to hand out

	rem      int64 // unsigned mode: bytes of the current chunk still in src
	needCRLF bool  // unsigned mode: the current chunk's CRLF is unread

	err  error
	done bool
}

func newChunkedBody(src io.ReadCloser, cfg chunkedConfig) *chunkedBody {
	c := &chunkedBody{src: src, cfg: cfg}
	c.br = bufioPool.Get().(*bufio.Reader)
	c.br.Reset(src)
	if cfg.signed || cfg.signedTrailer {
		c.mac = hmac.New(sha256.New, cfg.key)
		copy(c.prevSig[:], cfg.seed)
	}
	for _, name := range cfg.trailers {
		c.sums = append(c.sums, newChecksum(name))
	}
	return c
}

// release returns pooled buffers; called only from Read once the body is
// finished or failed.
func (c *chunkedBody) release() {
	if c.br != nil {
		c.br.Reset(nil)
		bufioPool.Put(c.br)
		c.br = nil
	}
	if c.bufp != nil {
		if cap(*c.bufp) <= pooledChunkCap {
			*c.bufp = (*c.bufp)[:0]
			chunkPool.Put(c.bufp)
		}
		c.bufp, c.buf = nil, nil
	}
}

func (c *chunkedBody) fail(err error) error {
	c.err = err
	c.release()
	return err
}

// Close closes the source.
func (c *chunkedBody) Close() error { return c.src.Close() }

func (c *chunkedBody) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.cfg.signed {
		return c.readSigned(p)
	}
	return c.readUnsigned(p)
}

// complete runs finish and ends the body; last, if any, is the payload's
// final byte, returned with io.EOF only on success.
func (c *chunkedBody) complete(p []byte, last []byte) (int, error) {
	if err := c.finish(); err != nil {
		return 0, c.fail(err)
	}
	n := copy(p, last)
	c.handed += int64(n)
	c.done = true
	c.release()
	return n, io.EOF
}

func (c *chunkedBody) readSigned(p []byte) (int, error) {
	for {
		if c.off < len(c.buf) {
			data := c.buf[c.off:]
			if c.handed+int64(len(data)) == c.cfg.decodedLength {
				// data holds the payload's final byte: keep it back.
				if len(data) > 1 {
					n := copy(p, data[:len(data)-1])
					c.off += n
					c.handed += int64(n)
					return n, nil
				}
				var last [1]byte
				last[0] = data[0]
				c.off++
				return c.complete(p, last[:])
			}
			n := copy(p, data)
			c.off += n
			c.handed += int64(n)
			return n, nil
		}
		if c.total == c.cfg.decodedLength {
			// Only an empty payload gets here.
			return c.complete(p, nil)
		}
		if err := c.nextSignedChunk(); err != nil {
			return 0, c.fail(err)
		}
	}
}

func (c *chunkedBody) readUnsigned(p []byte) (int, error) {
	for {
		if c.rem > 0 {
			want := min(int64(len(p)), c.rem)
			if c.handed+want == c.cfg.decodedLength {
				want-- // keep the final byte back
			}
			if want > 0 {
				n, err := c.br.Read(p[:want])
				c.account(p[:n])
				c.rem -= int64(n)
				c.handed += int64(n)
				if n > 0 {
					return n, nil
				}
				if err != nil {
					return 0, c.fail(readErr(err))
				}
				continue
			}
			b, err := c.br.ReadByte()
			if err != nil {
				return 0, c.fail(readErr(err))
			}
			last := [1]byte{b}
			c.account(last[:])
			c.rem--
			return c.complete(p, last[:])
		}
		if c.total == c.cfg.decodedLength {
			return c.complete(p, nil)
		}
		if err := c.nextUnsignedChunk(); err != nil {
			return 0, c.fail(err)
		}
	}
}

// account feeds payload bytes to the trailer checksums.
func (c *chunkedBody) account(b []byte) {
	for _, h := range c.sums {
		h.Write(b)
	}
}

// readLine returns the next CRLF-terminated line without its CRLF. The
// slice is valid until the next read. A clean EOF before any byte is
// returned as io.EOF.
func (c *chunkedBody) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, fmt.Errorf("sigv4: aws-chunked line longer than %d bytes: %w", chunkLineBuffer, ErrMalformedChunk)
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err != nil:
		return nil, readErr(err)
	case len(line) < 2 || line[len(line)-2] != '\r':
		return nil, fmt.Errorf("sigv4: aws-chunked line not terminated by CRLF: %w", ErrMalformedChunk)
	}
	return line[:len(line)-2], nil
}

// readCRLF consumes the CRLF that ends a chunk's data.
func (c *chunkedBody) readCRLF() error {
	var crlf [2]byte
	if _, err := io.ReadFull(c.br, crlf[:]); err != nil {
		return readErr(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return fmt.Errorf("sigv4: chunk data not followed by CRLF: %w", ErrMalformedChunk)
	}
	return nil
}

// parseChunkHeader parses "hex-size[;chunk-signature=sig]". sig is nil
// when absent; other extensions are refused in signed mode and ignored
// otherwise.
func parseChunkHeader(line []byte, signed bool) (size int64, sig []byte, err error) {
	sizePart, ext, hasExt := bytes.Cut(line, []byte{';'})
	if len(sizePart) == 0 || len(sizePart) > 16 {
		return 0, nil, fmt.Errorf("sigv4: bad chunk size: %w", ErrMalformedChunk)
	}
	for _, ch := range sizePart {
		d := fromHex(ch)
		if d < 0 {
			return 0, nil, fmt.Errorf("sigv4: bad chunk size: %w", ErrMalformedChunk)
		}
		size = size<<4 | int64(d)
		if size > maxChunkSize {
			return 0, nil, fmt.Errorf("sigv4: chunk larger than %d bytes: %w", maxChunkSize, ErrMalformedChunk)
		}
	}
	if !signed {
		return size, nil, nil
	}
	if !hasExt {
		return 0, nil, fmt.Errorf("sigv4: chunk without chunk-signature: %w", ErrMalformedChunk)
	}
	sig, ok := bytes.CutPrefix(ext, []byte(chunkSignaturePrefix))
	if !ok || len(sig) != 64 {
		return 0, nil, fmt.Errorf("sigv4: bad chunk-signature: %w", ErrMalformedChunk)
	}
	for _, ch := range sig {
		if fromHex(ch) < 0 {
			return 0, nil, fmt.Errorf("sigv4: bad chunk-signature: %w", ErrMalformedChunk)
		}
	}
	return size, sig, nil
}

// readChunkHeader reads and checks the next chunk header against the
// declared length.
func (c *chunkedBody) readChunkHeader() (int64, []byte, error) {
	line, err := c.readLine()
	if err == io.EOF {
		return 0, nil, fmt.Errorf("sigv4: body ended before the final chunk: %w", ErrIncompleteBody)
	}
	if err != nil {
		return 0, nil, err
	}
	size, sig, err := parseChunkHeader(line, c.cfg.signed)
	if err != nil {
		return 0, nil, err
	}
	if c.total+size > c.cfg.decodedLength {
		return 0, nil, fmt.Errorf("sigv4: chunks exceed x-amz-decoded-content-length %d: %w", c.cfg.decodedLength, ErrBodyTooLong)
	}
	if size == 0 && c.total < c.cfg.decodedLength {
		return 0, nil, fmt.Errorf("sigv4: final chunk after %d of %d bytes: %w", c.total, c.cfg.decodedLength, ErrIncompleteBody)
	}
	c.total += size
	if sig != nil {
		// sig points into the bufio buffer, which the chunk data overwrites.
		copy(c.sigBuf[:], sig)
		sig = c.sigBuf[:]
	}
	return size, sig, nil
}

// checkChunkSignature verifies sig over a chunk whose SHA-256 is dataHash
// and makes it the previous signature.
func (c *chunkedBody) checkChunkSignature(sig []byte, dataHash []byte) error {
	var h [64]byte
	hex.Encode(h[:], dataHash)
	if !c.checkChained(payloadAlgorithm, emptySHA256, h[:], sig) {
		return fmt.Errorf("sigv4: chunk signature at byte %d: %w", c.total, ErrSignatureMismatch)
	}
	return nil
}

// checkChained computes the chained signature
//
//	alg \n date \n scope \n prev-sig [\n extra] \n hash
//
// compares it with sig and, on success, stores it as the previous one.
func (c *chunkedBody) checkChained(alg, extra string, hexHash []byte, sig []byte) bool {
	b := append(c.sts[:0], alg...)
	b = append(b, '\n')
	b = append(b, c.cfg.amzDate...)
	b = append(b, '\n')
	b = append(b, c.cfg.scope...)
	b = append(b, '\n')
	b = append(b, c.prevSig[:]...)
	b = append(b, '\n')
	if extra != "" {
		b = append(b, extra...)
		b = append(b, '\n')
	}
	b = append(b, hexHash...)
	c.sts = b
	m := c.mac
	m.Reset()
	m.Write(b)
	var sum [sha256.Size]byte
	want := m.Sum(sum[:0])
	var got [sha256.Size]byte
	if _, err := hex.Decode(got[:], sig); err != nil || !hmac.Equal(got[:], want) {
		return false
	}
	hex.Encode(c.prevSig[:], want)
	return true
}

// nextSignedChunk reads a whole signed chunk, verifies its signature and
// makes it the buffered data.
func (c *chunkedBody) nextSignedChunk() error {
	size, sig, err := c.readChunkHeader()
	if err != nil {
		return err
	}
	// size > 0 here: a zero chunk before the declared length is an error
	// in readChunkHeader, and at the declared length Read completes.
	if c.bufp == nil {
		c.bufp = chunkPool.Get().(*[]byte)
	}
	if int64(cap(*c.bufp)) < size {
		*c.bufp = make([]byte, 0, size)
	}
	data := (*c.bufp)[:size]
	if _, err := io.ReadFull(c.br, data); err != nil {
		return readErr(err)
	}
	if err := c.readCRLF(); err != nil {
		return err
	}
	dataHash := sha256.Sum256(data)
	if err := c.checkChunkSignature(sig, dataHash[:]); err != nil {
		return err
	}
	c.account(data)
	c.buf, c.off = data, 0
	return nil
}

// nextUnsignedChunk reads the next unsigned chunk header.
func (c *chunkedBody) nextUnsignedChunk() error {
	if c.needCRLF {
		if err := c.readCRLF(); err != nil {
			return err
		}
		c.needCRLF = false
	}
	size, _, err := c.readChunkHeader()
	if err != nil {
		return err
	}
	c.rem = size
	c.needCRLF = true
	return nil
}

// finish reads and verifies everything after the payload's last byte: the
// final zero chunk and its signature, the trailers and their signature and
// checksums, the closing CRLF and the end of the source.
func (c *chunkedBody) finish() error {
	if c.needCRLF {
		if err := c.readCRLF(); err != nil {
			return err
		}
		c.needCRLF = false
	}
	size, sig, err := c.readChunkHeader()
	if err != nil {
		return err
	}
	if size != 0 {
		return fmt.Errorf("sigv4: data beyond x-amz-decoded-content-length: %w", ErrBodyTooLong)
	}
	if c.cfg.signed {
		empty := []byte(emptySHA256)
		if !c.checkChained(payloadAlgorithm, emptySHA256, empty, sig) {
			return fmt.Errorf("sigv4: final chunk signature: %w", ErrSignatureMismatch)
		}
	}
	if c.cfg.trailer {
		if err := c.readTrailers(); err != nil {
			return err
		}
	} else {
		line, err := c.readLine()
		if err == io.EOF || (err == nil && len(line) != 0) {
			return fmt.Errorf("sigv4: missing CRLF after the final chunk: %w", ErrMalformedChunk)
		}
		if err != nil {
			return err
		}
	}
	if _, err := c.br.ReadByte(); err == nil {
		return fmt.Errorf("sigv4: data after the final chunk: %w", ErrBodyTooLong)
	} else if err != io.EOF {
		return readErr(err)
	}
	return nil
}

// readTrailerLine returns the next trailer-section line without its line
// end, which may be CRLF or a bare LF (minio-go ends trailer values with LF).
func (c *chunkedBody) readTrailerLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, fmt.Errorf("sigv4: trailer line longer than %d bytes: %w", chunkLineBuffer, ErrMalformedChunk)
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err == io.EOF:
		return nil, fmt.Errorf("sigv4: trailer line not terminated: %w", ErrMalformedChunk)
	case err != nil:
		return nil, readErr(err)
	}
	line = line[:len(line)-1]
	return bytes.TrimSuffix(line, []byte{'\r'}), nil
}

// readTrailers reads the trailer section up to the end of the body, checks
// the trailer signature (if signed) and every declared checksum.
//
// Clients frame it differently: the AWS SDKs send "trailers CRLF"; the AWS
// documentation's example "CRLF trailers"; minio-go ends a checksum line with
// LF and puts CRLF between it and the trailer signature and after both. So
// empty lines are accepted anywhere in the section, but at least one is
// required, a declared trailer must appear exactly once, the signature
// last, and nothing but empty lines may follow.
func (c *chunkedBody) readTrailers() error {
	values := make([][]byte, len(c.cfg.trailers))
	var canon []byte
	var trailerSig []byte
	lines, blanks, seen := 0, 0, 0
	for {
		line, err := c.readTrailerLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		lines++
		if lines > maxTrailerLines {
			return fmt.Errorf("sigv4: too many trailer lines: %w", ErrMalformedChunk)
		}
		if len(line) == 0 {
			blanks++
			continue
		}
		if trailerSig != nil || (!c.cfg.signedTrailer && seen == len(values)) {
			return fmt.Errorf("sigv4: data after the trailers: %w", ErrBodyTooLong)
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return fmt.Errorf("sigv4: trailer line without ':': %w", ErrMalformedChunk)
		}
		name = bytes.ToLower(bytes.TrimSpace(name))
		value = bytes.TrimSpace(value)
		if string(name) == trailerSignatureName {
			if !c.cfg.signedTrailer {
				return fmt.Errorf("sigv4: unexpected %s: %w", trailerSignatureName, ErrMalformedChunk)
			}
			if len(value) != 64 {
				return fmt.Errorf("sigv4: bad %s: %w", trailerSignatureName, ErrMalformedChunk)
			}
			trailerSig = bytes.Clone(value)
			continue
		}
		idx := -1
		for i, n := range c.cfg.trailers {
			if n == string(name) {
				idx = i
			}
		}
		if idx < 0 {
			return fmt.Errorf("sigv4: undeclared trailer %q: %w", truncate(string(name)), ErrMalformedChunk)
		}
		if values[idx] != nil {
			return fmt.Errorf("sigv4: repeated trailer %s: %w", name, ErrMalformedChunk)
		}
		values[idx] = bytes.Clone(value)
		seen++
		canon = append(canon, name...)
		canon = append(canon, ':')
		canon = append(canon, value...)
		canon = append(canon, '\n')
	}
	if blanks == 0 {
		return fmt.Errorf("sigv4: missing CRLF at the end of the body: %w", ErrMalformedChunk)
	}
	for i, v := range values {
		if v == nil {
			return fmt.Errorf("sigv4: declared trailer %s missing: %w", c.cfg.trailers[i], ErrMalformedChunk)
		}
	}
	if c.cfg.signedTrailer {
		if trailerSig == nil {
			return fmt.Errorf("sigv4: missing %s: %w", trailerSignatureName, ErrMalformedChunk)
		}
		h := sha256.Sum256(canon)
		var hh [64]byte
		hex.Encode(hh[:], h[:])
		if !c.checkChained(trailerAlgorithm, "", hh[:], trailerSig) {
			return fmt.Errorf("sigv4: trailer signature: %w", ErrSignatureMismatch)
		}
	}
	verified := make([]string, len(values))
	for i, v := range values {
		var sum [64]byte
		got := c.sums[i].Sum(sum[:0])
		want, err := base64.StdEncoding.AppendDecode(nil, v)
		if err != nil || subtle.ConstantTimeCompare(got, want) != 1 {
			return fmt.Errorf("sigv4: trailer %s: %w", c.cfg.trailers[i], ErrChecksumMismatch)
		}
		verified[i] = base64.StdEncoding.EncodeToString(got)
	}
	if c.cfg.verified != nil {
		c.cfg.verified.values = verified
	}
	return nil
}
