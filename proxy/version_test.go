package proxy

import "testing"

// TestVersionedEntries: a GET with versionId is cached under that version,
// apart from the current version, and a write to the key invalidates every
// version's entry.
func TestVersionedEntries(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("bytes")
	_, srv := newTestProxy(t, backend, nil)
	get := func(query, want string) {
		t.Helper()
		res := do(t, "GET", srv.URL+"/bkt/k"+query, nil, testSecret)
		readBody(t, res)
		if got := res.Header.Get("X-Cache"); got != want {
			t.Errorf("GET /bkt/k%s: X-Cache %q, want %q", query, got, want)
		}
	}
	get("?versionId=v1", xCacheMiss)
	get("?versionId=v1", xCacheHit)
	get("?versionId=v2", xCacheMiss)
	get("", xCacheMiss)
	get("", xCacheHit)
	get("?versionId=v2", xCacheHit)
	do(t, "PUT", srv.URL+"/bkt/k", []byte("new"), testSecret)
	get("?versionId=v1", xCacheMiss)
	get("?versionId=v2", xCacheMiss)
	get("", xCacheMiss)
	if n := fake.getCount("/bkt/k"); n != 6 {
		t.Errorf("backend GETs = %d, want 6", n)
	}
}
