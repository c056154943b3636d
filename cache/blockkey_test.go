package cache

import (
	"slices"
	"strings"
	"testing"
)

func TestBlockKeys(t *testing.T) {
	tests := []struct {
		name string
		key  string
		want KeyParts
	}{
		{name: "object", key: Key("b", "k", "v"), want: KeyParts{Kind: KindObject, Bucket: "b", VersionID: "v", Key: "k"}},
		{name: "meta", key: MetaKey("b", "k/x", ""), want: KeyParts{Kind: KindMeta, Bucket: "b", Key: "k/x"}},
		{name: "block", key: BlockKey("b", "k", "v1", `"e1"`, 42), want: KeyParts{Kind: KindBlock, Bucket: "b", VersionID: "v1", Key: "k", ETag: `"e1"`, Block: 42}},
		{name: "part", key: PartKey("b", "k", "v1", 7), want: KeyParts{Kind: KindPart, Bucket: "b", VersionID: "v1", Key: "k", Block: 7}},
		{name: "block with NULs", key: BlockKey("b\x00", "\x00k", "\x00", "\x00", 0), want: KeyParts{Kind: KindBlock, Bucket: "b\x00", VersionID: "\x00", Key: "\x00k", ETag: "\x00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseKey(tt.key)
			if !ok || got != tt.want {
				t.Errorf("ParseKey(%q) = %+v, %v; want %+v, true", tt.key, got, ok, tt.want)
			}
			b, v, k, ok := SplitKey(tt.key)
			if !ok || b != tt.want.Bucket || v != tt.want.VersionID || k != tt.want.Key {
				t.Errorf("SplitKey(%q) = %q, %q, %q, %v; want %q, %q, %q", tt.key, b, v, k, ok, tt.want.Bucket, tt.want.VersionID, tt.want.Key)
			}
		})
	}
	distinct := []string{
		Key("b", "k", ""), MetaKey("b", "k", ""), BlockKey("b", "k", "", "", 0),
		BlockKey("b", "k", "", "e", 0), BlockKey("b", "k", "", "", 1), BlockKey("b", "k", "v", "", 0),
		PartKey("b", "k", "", 0), PartKey("b", "k", "", 1), PartKey("b", "k", "v", 1),
	}
	for i, a := range distinct {
		for _, b := range distinct[i+1:] {
			if a == b {
				t.Errorf("two kinds or parts share the key %q", a)
			}
		}
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add("b", "k", "v", "e", int64(3))
	f.Add("", "", "", "", int64(0))
	f.Fuzz(func(t *testing.T, bucket, key, version, etag string, block int64) {
		if block < 0 {
			block = -(block + 1)
		}
		for _, ck := range []struct {
			key  string
			want KeyParts
		}{
			{Key(bucket, key, version), KeyParts{Kind: KindObject, Bucket: bucket, VersionID: version, Key: key}},
			{MetaKey(bucket, key, version), KeyParts{Kind: KindMeta, Bucket: bucket, VersionID: version, Key: key}},
			{BlockKey(bucket, key, version, etag, block), KeyParts{Kind: KindBlock, Bucket: bucket, VersionID: version, Key: key, ETag: etag, Block: block}},
			{PartKey(bucket, key, version, int(block)), KeyParts{Kind: KindPart, Bucket: bucket, VersionID: version, Key: key, Block: block}},
		} {
			if got, ok := ParseKey(ck.key); !ok || got != ck.want {
				t.Errorf("ParseKey(%q) = %+v, %v; want %+v", ck.key, got, ok, ck.want)
			}
		}
		// Any other string parses or not, without panicking.
		ParseKey(bucket + key)
	})
}

// commitBlockObject commits the description and n blocks of (bucket, key)
// with etag, each block of size bytes.
func commitBlockObject(t *testing.T, c *Cache, bucket, key, etag string, n, size int) {
	t.Helper()
	h := map[string][]string{"Etag": {etag}}
	tk := c.Begin(bucket, key)
	if !c.Commit(tk, MetaKey(bucket, key, ""), &Entry{Header: h}) {
		t.Fatal("meta refused")
	}
	for i := range n {
		if !c.Commit(tk, BlockKey(bucket, key, "", etag, int64(i)), &Entry{Header: h, Body: make([]byte, size)}) {
			t.Fatalf("block %d refused", i)
		}
	}
}

func TestBlocksListedAndPurged(t *testing.T) {
	c := newTestCache(t, newTestClock())
	commitKey(t, c, "bkt", "small", "1")
	commitBlockObject(t, c, "bkt", "large", `"e"`, 3, 100)
	hdr := int64(len("Etag") + HeaderFieldOverhead + len(`"e"`))
	got := c.TopKeys(10)
	slices.SortFunc(got, func(a, b KeyStat) int { return strings.Compare(b.Key, a.Key) })
	want := []KeyStat{
		{Bucket: "bkt", Key: "small", Bytes: EntryOverhead + 1},
		{Bucket: "bkt", Key: "large", ETag: `"e"`, Bytes: 4*(EntryOverhead+hdr) + 300},
	}
	if !slices.Equal(got, want) {
		t.Errorf("TopKeys = %+v, want %+v", got, want)
	}
	if n := c.PurgeKey("bkt", "large"); n != 4 {
		t.Errorf("PurgeKey removed %d entries, want 4 (description and 3 blocks)", n)
	}
	for i := range 3 {
		if _, ok := c.Get("bkt", "large", BlockKey("bkt", "large", "", `"e"`, int64(i))); ok {
			t.Errorf("block %d served after the purge", i)
		}
	}
	if _, ok := c.Get("bkt", "large", MetaKey("bkt", "large", "")); ok {
		t.Error("description served after the purge")
	}
	commitBlockObject(t, c, "bkt", "p/large", `"e"`, 2, 10)
	if n := c.PurgePrefix("bkt", "p/"); n != 3 {
		t.Errorf("PurgePrefix removed %d entries, want 3", n)
	}
	if e := c.StoredETag("bkt", "p/large", BlockKey("bkt", "p/large", "", `"e"`, 0)); e != "" {
		t.Errorf("block listed with ETag %q after the purge", e)
	}
}
