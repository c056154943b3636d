package zcodec

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/s3cache/s3cache/proxy/internal/zcodec/zcodectest"
)

func TestCompressible(t *testing.T) {
	tests := []struct {
		ctype, cenc string
		size        int
		want        bool
	}{
		{"application/json", "", 4096, true},
		{"application/json; charset=utf-8", "", 4096, true},
		{"text/csv", "", 4096, true},
		{"text/html; charset=UTF-8", "", 4096, true},
		{"application/vnd.api+json", "", 4096, true},
		{"image/svg+xml", "", 4096, true},
		{"application/x-ndjson", "", 4096, true},
		{"application/javascript", "", 4096, true},
		{"application/yaml", "", 4096, true},
		{"Application/JSON", "", 4096, true},
		{"text/plain", "identity", 4096, true},
		{"application/json", "gzip", 4096, false},
		{"text/plain", "zstd", 4096, false},
		{"application/json", "", MinSize - 1, false},
		{"application/octet-stream", "", 4096, false},
		{"image/png", "", 4096, false},
		{"application/zstd", "", 4096, false},
		{"", "", 4096, false},
		{"not a media type;;", "", 4096, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s|%s|%d", tt.ctype, tt.cenc, tt.size), func(t *testing.T) {
			h := http.Header{}
			if tt.ctype != "" {
				h.Set("Content-Type", tt.ctype)
			}
			if tt.cenc != "" {
				h.Set("Content-Encoding", tt.cenc)
			}
			if got := Compressible(h, tt.size); got != tt.want {
				t.Errorf("Compressible(%q, %q, %d) = %v, want %v", tt.ctype, tt.cenc, tt.size, got, tt.want)
			}
		})
	}
}

func TestEncodeBody(t *testing.T) {
	jsonType := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name        string
		header      http.Header
		body        []byte
		wantEncoded bool
	}{
		{"json 64 KiB", jsonType, zcodectest.JSON(64 << 10), true},
		{"csv 4 KiB", http.Header{"Content-Type": {"text/csv"}}, zcodectest.CSV(4 << 10), true},
		{"log 1 MiB", http.Header{"Content-Type": {"text/plain"}}, zcodectest.Log(1 << 20), true},
		{"random bytes typed as JSON", jsonType, zcodectest.Random(64 << 10), false},
		{"octet-stream", http.Header{"Content-Type": {"application/octet-stream"}}, zcodectest.JSON(64 << 10), false},
		{"gzip-encoded", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}, zcodectest.JSON(64 << 10), false},
		{"tiny", jsonType, []byte(`{"a":1}`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := bytes.Clone(tt.body)
			stored, encoded := Encode(tt.header, tt.body)
			if !bytes.Equal(tt.body, orig) {
				t.Fatal("Encode modified the body")
			}
			if encoded != tt.wantEncoded {
				t.Fatalf("encoded = %v, want %v", encoded, tt.wantEncoded)
			}
			if !encoded {
				if &stored[0] != &tt.body[0] || len(stored) != len(tt.body) {
					t.Error("not encoded, but the stored bytes are not the body itself")
				}
				return
			}
			if len(stored) > len(tt.body)-len(tt.body)/8 {
				t.Errorf("stored %d bytes of %d: saves less than an eighth", len(stored), len(tt.body))
			}
			if cap(stored) != len(stored) {
				t.Errorf("stored slice has capacity %d for %d bytes", cap(stored), len(stored))
			}
			got, err := Decode(stored, len(tt.body))
			if err != nil || !bytes.Equal(got, tt.body) {
				t.Fatalf("Decode: %d bytes, %v; want the %d bytes encoded", len(got), err, len(tt.body))
			}
		})
	}
}

// zstdFrame compresses b into one frame, with or without its content size.
func zstdFrame(t testing.TB, b []byte, withSize bool) []byte {
	var out bytes.Buffer
	opts := []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest)}
	if !withSize {
		// A streaming writer that flushes before the end cannot know the
		// size up front.
		w, err := zstd.NewWriter(&out, opts...)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b[:len(b)/2])
		w.Flush()
		w.Write(b[len(b)/2:])
		w.Close()
		var fh zstd.Header
		if err := fh.Decode(out.Bytes()); err != nil || fh.HasFCS {
			t.Fatalf("streamed frame: header %+v, %v; want one without its content size", fh, err)
		}
		return out.Bytes()
	}
	enc, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(b, nil)
}

func TestDecodeBodyRefuses(t *testing.T) {
	body := zcodectest.JSON(16 << 10)
	good, _ := Encode(http.Header{"Content-Type": {"application/json"}}, body)
	bomb := make([]byte, 64<<20) // compresses to a few KiB
	tests := []struct {
		name   string
		stored []byte
		n      int
	}{
		{"empty", nil, 100},
		{"not zstd", []byte("plain text, not a frame"), 23},
		{"truncated", good[:len(good)/2], len(body)},
		{"one byte flipped", flip(good, len(good)/2), len(body)},
		{"length too small", good, len(body) - 1},
		{"length too large", good, len(body) + 1},
		{"length zero", good, 0},
		{"length negative", good, -1},
		{"two frames", append(bytes.Clone(good), good...), len(body)},
		{"two frames, twice the length", append(bytes.Clone(good), good...), 2 * len(body)},
		{"no content size", zstdFrame(t, body, false), len(body)},
		{"64 MiB bomb claimed as 1 KiB", zstdFrame(t, bomb, false), 1 << 10},
		{"64 MiB bomb with its size, claimed as 1 KiB", zstdFrame(t, bomb, true), 1 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.stored, tt.n)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode = %d bytes, %v; want an error wrapping ErrCorrupt", len(got), err)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x55
	return b
}

// FuzzDecode feeds Decode stored values a shared tier could hand
// back corrupted or forged: it must fail or return exactly n bytes, never
// panic, and never allocate for more than n bytes of body.
func FuzzDecode(f *testing.F) {
	body := zcodectest.JSON(4 << 10)
	good, _ := Encode(http.Header{"Content-Type": {"application/json"}}, body)
	f.Add(good, uint32(len(body)))
	f.Add(good, uint32(1))
	f.Add(zstdFrame(f, body, false), uint32(len(body)))
	f.Add(zstdFrame(f, make([]byte, 1<<20), true), uint32(1<<10))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}, uint32(10))
	f.Fuzz(func(t *testing.T, stored []byte, n uint32) {
		n %= 1 << 20
		got, err := Decode(stored, int(n))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if len(got) != int(n) || cap(got) > int(n) {
			t.Fatalf("decoded %d bytes (capacity %d), want exactly %d", len(got), cap(got), n)
		}
	})
}

// BenchmarkCompressCodec measures the codec alone, per body: Encode
// (what a fill pays once, and what the shared tier pays per store) and
// Decode (what each hit of a compressed entry pays, in memory or from
// the shared tier).
func BenchmarkCompressCodec(b *testing.B) {
	h := http.Header{"Content-Type": {"text/plain"}}
	for _, body := range zcodectest.Bodies {
		for _, sz := range zcodectest.Sizes {
			data := body.Gen(sz.Size)
			stored, encoded := Encode(h, data)
			b.Run(body.Name+"/"+sz.Name+"/encode", func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					Encode(h, data)
				}
				b.ReportMetric(float64(len(data))/float64(len(stored)), "ratio")
			})
			if !encoded {
				continue
			}
			b.Run(body.Name+"/"+sz.Name+"/decode", func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				buf := make([]byte, 0, len(data))
				for b.Loop() {
					if _, err := DecodeInto(stored, len(data), buf); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(data))/float64(len(stored)), "ratio")
				b.ReportMetric(float64(len(data)-len(stored)), "saved-B")
			})
		}
	}
}

// TestCompressBenchBodies keeps the benchmarks honest: the text bodies
// compress, the random one does not, and all have the size asked for.
func TestCompressBenchBodies(t *testing.T) {
	h := http.Header{"Content-Type": {"text/plain"}}
	for _, body := range zcodectest.Bodies {
		for _, sz := range zcodectest.Sizes {
			t.Run(body.Name+"/"+strconv.Itoa(sz.Size), func(t *testing.T) {
				data := body.Gen(sz.Size)
				if len(data) < sz.Size || len(data) > sz.Size+512 {
					t.Errorf("%d bytes, want about %d", len(data), sz.Size)
				}
				_, encoded := Encode(h, data)
				if want := body.Name != "random"; encoded != want {
					t.Errorf("encoded = %v, want %v", encoded, want)
				}
			})
		}
	}
}
