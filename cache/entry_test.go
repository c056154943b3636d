package cache

import (
	"testing"
)

// TestEncodedEntries: an entry whose body is encoded costs its encoded
// length, serves its decoded length, and is counted in Stats while held.
func TestEncodedEntries(t *testing.T) {
	c := newTestCache(t, &testClock{})
	commit := func(key string, e *Entry) {
		t.Helper()
		if !c.Commit(c.Begin("b", key), Key("b", key, ""), e) {
			t.Fatalf("Commit %s refused", key)
		}
		c.Wait()
	}
	plain := &Entry{Body: make([]byte, 1000)}
	encoded := &Entry{Body: make([]byte, 300), DecodedLen: 1000}
	if plain.Len() != 1000 || encoded.Len() != 1000 || plain.Encoded() || !encoded.Encoded() {
		t.Fatalf("Len, Encoded = %d %v (plain), %d %v (encoded); want 1000 false, 1000 true",
			plain.Len(), plain.Encoded(), encoded.Len(), encoded.Encoded())
	}
	if got, want := plain.cost()-encoded.cost(), int64(700); got != want {
		t.Errorf("encoded entry costs %d less than the plain one, want %d (the bytes it does not hold)", got, want)
	}

	steps := []struct {
		name        string
		do          func()
		wantEntries int64
		wantSaved   int64
	}{
		{"plain committed", func() { commit("p", plain) }, 0, 0},
		{"encoded committed", func() { commit("e", encoded) }, 1, 700},
		{"second encoded", func() { commit("f", &Entry{Body: make([]byte, 100), DecodedLen: 5000}) }, 2, 5600},
		{"replaced by a plain one", func() { commit("f", &Entry{Body: []byte("x")}) }, 1, 700},
		{"invalidated", func() { c.Invalidate("b", "e"); c.Wait() }, 0, 0},
		{"committed again", func() { commit("e", &Entry{Body: make([]byte, 300), DecodedLen: 1000}) }, 1, 700},
		{"purged", func() { c.PurgeAll() }, 0, 0},
	}
	for _, s := range steps {
		s.do()
		st := c.Stats()
		if st.EncodedEntries != s.wantEntries || st.EncodedSaved != s.wantSaved {
			t.Errorf("after %s: EncodedEntries %d, EncodedSaved %d; want %d, %d", s.name, st.EncodedEntries, st.EncodedSaved, s.wantEntries, s.wantSaved)
		}
	}
}
