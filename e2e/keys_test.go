package e2e

import (
	"bytes"
	"slices"
	"testing"
)

// awkwardKeys are object keys that proxies tend to mangle: path cleaning,
// double escaping, '+' as space, query and fragment characters, non-ASCII.
var awkwardKeys = []string{
	"a//b", "a/./b", "a/../b", "sp ace", "plus+sign", "per%cent",
	"ünï/cødé", "~tilde", "q?mark&amp=1", "hash#frag",
}

// keyScript is what TestAwkwardKeys does with each key.
func keyScript(bucket, key string, body []byte) []op {
	return []op{
		{Op: "put", Bucket: bucket, Key: key, Body: body},
		{Op: "get", Bucket: bucket, Key: key},
		{Op: "get", Bucket: bucket, Key: key},
		{Op: "list", Bucket: bucket},
		{Op: "delete", Bucket: bucket, Key: key},
		{Op: "get", Bucket: bucket, Key: key},
	}
}

// roundTrips reports whether a keyScript run stored, read, listed and
// deleted exactly key.
func roundTrips(res []opResult, key string, body []byte) bool {
	return res[0].Status == 200 && bytes.Equal(res[1].Body, body) &&
		slices.Equal(res[3].Keys, []string{key}) && res[4].Err == "" && res[5].Status == 404
}

// TestAwkwardKeys round-trips awkward keys through the proxy with each
// client: PUT, GET (MISS then HIT), the exact key listed, DELETE, 404.
// Where versitygw itself cannot round-trip a key (its posix backend maps
// keys to file paths), the proxy must answer as the backend does.
func TestAwkwardKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for _, c := range allClients {
		t.Run(c.name(), func(t *testing.T) {
			direct := newBucket(t, h.backend())
			viaProxy := newBucket(t, h.endpoint())
			for _, key := range awkwardKeys {
				t.Run(key, func(t *testing.T) {
					body := []byte("awkward key #" + key + "# via " + c.name())
					base := c.run(t, h.backend(), keyScript(direct, key, body))
					got := c.run(t, h.endpoint(), keyScript(viaProxy, key, body))
					if !roundTrips(base, key, body) {
						t.Logf("quirk: versitygw does not round-trip %q via %s: put %v; get %v; list %q",
							key, c.name(), base[0], base[1], base[3].Keys)
						for j, what := range []string{"put", "get", "get", "list", "delete", "get"} {
							if got[j].Status != base[j].Status || got[j].Code != base[j].Code ||
								!slices.Equal(got[j].Keys, base[j].Keys) {
								t.Errorf("%s #%d via proxy: %v; backend alone: %v", what, j, got[j], base[j])
							}
						}
						return
					}
					if got[0].Status != 200 {
						t.Fatalf("put via proxy: %v", got[0])
					}
					for j, want := range []string{"MISS", "HIT"} {
						g := got[1+j]
						if g.Status != 200 || !bytes.Equal(g.Body, body) {
							t.Errorf("get #%d: %v, want 200 with %q", j+1, g, body)
						}
						if g.XCache != want {
							t.Errorf("get #%d: X-Cache %q, want %q", j+1, g.XCache, want)
						}
					}
					if !slices.Equal(got[3].Keys, []string{key}) {
						t.Errorf("list: keys %q, want exactly [%q]", got[3].Keys, key)
					}
					if got[4].Err != "" {
						t.Errorf("delete: %v", got[4])
					}
					if got[5].Status != 404 || got[5].Code != "NoSuchKey" {
						t.Errorf("get after delete: %v, want 404 NoSuchKey", got[5])
					}
					if n := h.relay.count("GET", viaProxy, key); n != 2 {
						t.Errorf("backend saw %d GETs of %q, want 2 (one fill, one after delete)", n, key)
					}
				})
			}
		})
	}
}
