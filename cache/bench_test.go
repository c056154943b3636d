package cache

import (
	"strconv"
	"testing"
)

const benchKeys = 1024

func benchObjects() (names, cacheKeys []string) {
	for i := range benchKeys {
		name := "objects/" + strconv.Itoa(i) + ".bin"
		names = append(names, name)
		cacheKeys = append(cacheKeys, Key("bench", name, ""))
	}
	return names, cacheKeys
}

// newBenchCache returns a 64 MiB cache and the names and cache keys of
// benchObjects, none of them committed.
func newBenchCache(b *testing.B) (c *Cache, names, cacheKeys []string) {
	b.Helper()
	c, err := New(Config{MaxBytes: 64 << 20, TTL: testTTL})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	names, cacheKeys = benchObjects()
	return c, names, cacheKeys
}

func BenchmarkGetHit(b *testing.B) {
	c, names, cacheKeys := newBenchCache(b)
	body := make([]byte, 4096)
	for i := range names {
		tk := c.Begin("bench", names[i])
		if !c.Commit(tk, cacheKeys[i], &Entry{Header: map[string][]string{"Etag": {`"x"`}}, Body: body}) {
			b.Fatalf("Commit %s refused", names[i])
		}
	}
	c.Wait()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := c.Get("bench", names[i%benchKeys], cacheKeys[i%benchKeys]); !ok {
				b.Errorf("Get %s = miss", names[i%benchKeys])
				return
			}
			i++
		}
	})
}

func BenchmarkGetMiss(b *testing.B) {
	c, names, cacheKeys := newBenchCache(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Get("bench", names[i%benchKeys], cacheKeys[i%benchKeys])
			i++
		}
	})
}

func BenchmarkCommit(b *testing.B) {
	c, names, cacheKeys := newBenchCache(b)
	body := make([]byte, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	i := 0
	for b.Loop() {
		tk := c.Begin("bench", names[i%benchKeys])
		c.Commit(tk, cacheKeys[i%benchKeys], &Entry{Body: body})
		i++
	}
}

func BenchmarkKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Key("bench", "objects/some/longer/key.bin", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo")
	}
}

// BenchmarkInvalidate commits an entry of a key and invalidates the key,
// which frees it, in a cache that holds many other entries.
func BenchmarkInvalidate(b *testing.B) {
	c, names, cacheKeys := newBenchCache(b)
	body := make([]byte, 4096)
	for i := range names {
		c.Commit(c.Begin("bench", names[i]), cacheKeys[i], &Entry{Body: body})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := i % benchKeys
		c.Commit(c.Begin("bench", names[k]), cacheKeys[k], &Entry{Body: body})
		c.Invalidate("bench", names[k])
		i++
	}
}
