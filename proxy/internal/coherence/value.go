package coherence

import (
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"

	"github.com/s3cache/s3cache/proxy/internal/zcodec"
)

// A value of the shared tier is one object: the stamp of the fill that
// stored it, its header fields and its body, compressed with zcodec when
// TierOptions.Compress is set and the body is worth it. decodeValue
// checks everything it reads: a value corrupted or forged in Redis costs
// an error, never more memory than its size and the body bound.

// valueMagic starts every value; the digit is the format's version.
const valueMagic = "s3c2"

// valueMaxHeaderFields bounds the header fields a value may claim.
const valueMaxHeaderFields = 256

// encodeValue lays out a value: magic, flags (1: body zstd), the stamp,
// the body's length, the header fields, then the body.
func encodeValue(gens [3]uint64, h http.Header, body []byte, compress bool) []byte {
	stored, encoded := body, false
	if compress {
		stored, encoded = zcodec.Encode(h, body)
		if !encoded {
			stored = body
		}
	}
	v := make([]byte, 0, len(stored)+256)
	v = append(v, valueMagic...)
	flags := byte(0)
	if encoded {
		flags = 1
	}
	v = append(v, flags)
	for _, g := range gens {
		v = binary.AppendUvarint(v, g)
	}
	v = binary.AppendUvarint(v, uint64(len(body)))
	v = binary.AppendUvarint(v, uint64(len(h)))
	for name, values := range h {
		v = appendValueString(v, name)
		v = binary.AppendUvarint(v, uint64(len(values)))
		for _, s := range values {
			v = appendValueString(v, s)
		}
	}
	return append(v, stored...)
}

func appendValueString(v []byte, s string) []byte {
	return append(binary.AppendUvarint(v, uint64(len(s))), s...)
}

// errBadValue is wrapped by every error of decodeValue.
var errBadValue = errors.New("shared tier value is malformed")

// decodeValue checks and decodes a value whose body may be at most
// maxBody bytes. Whatever raw holds, it allocates no more than that and
// the size of raw.
func decodeValue(raw []byte, maxBody int64) (gens [3]uint64, h http.Header, body []byte, err error) {
	bad := func(what string) error { return errors.Join(errBadValue, errors.New(what)) }
	if len(raw) < len(valueMagic)+1 || string(raw[:len(valueMagic)]) != valueMagic {
		return gens, nil, nil, bad("magic")
	}
	flags := raw[len(valueMagic)]
	rest := raw[len(valueMagic)+1:]
	uvarint := func() (uint64, bool) {
		n, k := binary.Uvarint(rest)
		if k <= 0 {
			return 0, false
		}
		rest = rest[k:]
		return n, true
	}
	str := func() (string, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(rest)) {
			return "", false
		}
		s := string(rest[:n])
		rest = rest[n:]
		return s, true
	}
	for i := range gens {
		g, ok := uvarint()
		if !ok {
			return gens, nil, nil, bad("stamp")
		}
		gens[i] = g
	}
	size, ok := uvarint()
	if !ok || size > uint64(maxBody) {
		return gens, nil, nil, bad("length")
	}
	nfields, ok := uvarint()
	if !ok || nfields > valueMaxHeaderFields {
		return gens, nil, nil, bad("header count")
	}
	h = make(http.Header, nfields)
	for range nfields {
		name, ok := str()
		if !ok || name == "" {
			return gens, nil, nil, bad("header name")
		}
		nv, ok := uvarint()
		if !ok || nv > uint64(len(rest)) {
			return gens, nil, nil, bad("header values")
		}
		values := make([]string, 0, nv)
		for range nv {
			s, ok := str()
			if !ok {
				return gens, nil, nil, bad("header value")
			}
			values = append(values, s)
		}
		h[name] = values
	}
	switch flags {
	case 0:
		if uint64(len(rest)) != size {
			return gens, nil, nil, bad("body length")
		}
		return gens, h, rest, nil
	case 1:
		body, err := zcodec.Decode(rest, int(size))
		if err != nil {
			return gens, nil, nil, errors.Join(errBadValue, err)
		}
		return gens, h, body, nil
	}
	return gens, nil, nil, bad("flags " + strconv.Itoa(int(flags)))
}
