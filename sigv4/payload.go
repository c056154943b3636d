package sigv4

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
)

// sha256Body streams a payload while hashing it and holds back its last byte
// until the source reached EOF, the length matched and the hash matched the
// signed x-amz-content-sha256. Not safe for concurrent Reads; Close may be
// called concurrently with Read (it only closes the source).
type sha256Body struct {
	src      io.ReadCloser
	h        hash.Hash
	want     [sha256.Size]byte
	length   int64 // declared length, -1 if unknown
	n        int64 // bytes read from src
	held     byte
	hasHeld  bool
	one      [1]byte
	err      error
	verified bool // source at EOF and all checks passed
	done     bool
}

func newSHA256Body(src io.ReadCloser, want [sha256.Size]byte, length int64) *sha256Body {
	return &sha256Body{src: src, h: sha256.New(), want: want, length: length}
}

// readErr maps a source read error onto the package's sentinels.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("sigv4: body ended early: %w", ErrIncompleteBody)
	}
	return fmt.Errorf("sigv4: reading body: %w", err)
}

func (b *sha256Body) fail(err error) error {
	b.err = err
	return err
}

// finish runs the final checks once the source returned EOF.
func (b *sha256Body) finish() error {
	if b.length >= 0 && b.n < b.length {
		return fmt.Errorf("sigv4: body has %d of %d bytes: %w", b.n, b.length, ErrIncompleteBody)
	}
	var sum [sha256.Size]byte
	if subtle.ConstantTimeCompare(b.h.Sum(sum[:0]), b.want[:]) != 1 {
		return fmt.Errorf("sigv4: payload: %w", ErrContentSHA256Mismatch)
	}
	return nil
}

func (b *sha256Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.length >= 0 {
		return b.readKnown(p)
	}
	for {
		if b.verified {
			b.done = true
			if b.hasHeld {
				p[0] = b.held
				b.hasHeld = false
				return 1, io.EOF
			}
			return 0, io.EOF
		}
		scratch := b.hasHeld && len(p) == 1
		dst, off := p, 0
		switch {
		case scratch:
			dst = b.one[:]
		case b.hasHeld:
			p[0] = b.held
			dst, off = p[1:], 1
		}
		n, err := b.src.Read(dst)
		b.h.Write(dst[:n])
		b.n += int64(n)
		if b.length >= 0 && b.n > b.length {
			return 0, b.fail(fmt.Errorf("sigv4: body exceeds its %d bytes: %w", b.length, ErrBodyTooLong))
		}
		if err != nil && err != io.EOF {
			return 0, b.fail(readErr(err))
		}
		if err == io.EOF {
			if ferr := b.finish(); ferr != nil {
				return 0, b.fail(ferr)
			}
			b.verified = true
		}
		if scratch {
			if n == 1 {
				p[0], b.held = b.held, b.one[0]
				return 1, nil
			}
			continue
		}
		total := off + n
		if total == 0 {
			continue
		}
		// Keep the newest byte back until the source is verified.
		b.held = p[total-1]
		b.hasHeld = true
		if total > 1 {
			return total - 1, nil
		}
	}
}

// readKnown reads a body of known length: bytes before the last one pass
// straight through; the last one is returned only with io.EOF, after the
// source ended and the hash matched.
func (b *sha256Body) readKnown(p []byte) (int, error) {
	for {
		remaining := b.length - b.n
		if remaining > 1 {
			n, err := b.src.Read(p[:min(int64(len(p)), remaining-1)])
			b.h.Write(p[:n])
			b.n += int64(n)
			if n > 0 {
				return n, nil
			}
			if err != nil {
				return 0, b.fail(readErr(err))
			}
			continue
		}
		var last []byte
		if remaining == 1 {
			n, err := b.src.Read(b.one[:])
			if n == 0 {
				if err != nil {
					return 0, b.fail(readErr(err))
				}
				continue
			}
			b.h.Write(b.one[:])
			b.n++
			last = b.one[:]
		}
		// Everything declared is in; the source must end here.
		var extra [1]byte
		for {
			n, err := b.src.Read(extra[:])
			if n > 0 {
				return 0, b.fail(fmt.Errorf("sigv4: body exceeds its %d bytes: %w", b.length, ErrBodyTooLong))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, b.fail(readErr(err))
			}
		}
		if err := b.finish(); err != nil {
			return 0, b.fail(err)
		}
		b.done = true
		return copy(p, last), io.EOF
	}
}

// Close closes the source.
func (b *sha256Body) Close() error { return b.src.Close() }
