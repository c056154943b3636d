package coherence

import (
	"bytes"
	"net/http"
	"testing"
)

func TestValueRoundTrip(t *testing.T) {
	h := http.Header{"Content-Type": {"application/json"}, "Etag": {`"abc"`}, "X-Amz-Meta-A": {"1", "2"}}
	for _, compress := range []bool{false, true} {
		for _, body := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte(`{"a":1}`), 1000)} {
			v := encodeValue([3]uint64{1, 2, 3}, h, body, compress)
			gens, gh, gb, err := decodeValue(v, 1<<20)
			if err != nil || gens != [3]uint64{1, 2, 3} || !bytes.Equal(gb, body) || gh.Get("Etag") != `"abc"` || len(gh["X-Amz-Meta-A"]) != 2 {
				t.Fatalf("compress=%v len %d: round trip gave %v %v %d bytes, %v", compress, len(body), gens, gh, len(gb), err)
			}
			if compress && len(body) > 1000 && len(v) >= len(body) {
				t.Errorf("compressible body of %d bytes stored in %d", len(body), len(v))
			}
			if _, _, _, err := decodeValue(v, int64(len(body))-1); len(body) > 0 && err == nil {
				t.Errorf("a value over the size bound decoded")
			}
		}
	}
}

func FuzzDecodeValue(f *testing.F) {
	h := http.Header{"Content-Type": {"text/plain"}}
	f.Add(encodeValue([3]uint64{1, 2, 3}, h, []byte("hello"), false))
	f.Add(encodeValue([3]uint64{7, 0, 0}, h, bytes.Repeat([]byte("text "), 500), true))
	f.Add([]byte(valueMagic))
	f.Fuzz(func(t *testing.T, raw []byte) {
		const max = 1 << 16
		_, hdr, body, err := decodeValue(raw, max)
		if err != nil {
			return
		}
		if len(body) > max || len(hdr) > valueMaxHeaderFields {
			t.Fatalf("decoded %d bytes and %d fields past the bounds", len(body), len(hdr))
		}
	})
}
