package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const testAdminToken = "admin-token-1"

// adminProxy is a proxy with an admin user "ops", a non-admin user "dev"
// and ADMIN_TOKEN set, in front of fake.
func adminProxy(t *testing.T) (*fakeS3, *Proxy, *testServer) {
	t.Helper()
	fake, backend := newFakeS3(t)
	auth, err := NewAuthConfig([]User{
		{AccessKey: testKey, SecretKey: testSecret, Buckets: map[string]Permission{AllBuckets: PermReadWrite}},
		{AccessKey: "ops", SecretKey: "ops-secret", Admin: true},
		{AccessKey: "dev", SecretKey: "dev-secret", Buckets: map[string]Permission{AllBuckets: PermReadWrite}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, srv := newTestProxy(t, backend, func(c *Config) { c.Auth = auth; c.AdminToken = testAdminToken })
	return fake, p, srv
}

// adminDo sends an admin request: "bearer:<token>", "sigv4:<access>:<secret>"
// or "" (unsigned).
func adminDo(t *testing.T, how, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	switch kind, rest, _ := strings.Cut(how, ":"); kind {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+rest)
	case "sigv4":
		access, secret, _ := strings.Cut(rest, ":")
		sum := sha256.Sum256([]byte(body))
		signAs(t, req, hex.EncodeToString(sum[:]), access, secret)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return res, readBody(t, res)
}

func TestAdminAuth(t *testing.T) {
	_, _, srv := adminProxy(t)
	for _, c := range []struct {
		how        string
		wantStatus int
		wantCode   string
	}{
		{"sigv4:ops:ops-secret", 200, ""},
		{"bearer:" + testAdminToken, 200, ""},
		{"sigv4:dev:dev-secret", 403, "AccessDenied"},
		{"sigv4:ops:wrong-secret", 403, "SignatureDoesNotMatch"},
		{"bearer:wrong", 403, "AccessDenied"},
		{"bearer:", 403, "AccessDenied"},
		{"", 403, "AccessDenied"},
	} {
		res, body := adminDo(t, c.how, "GET", srv.URL+"/-/admin/stats", "")
		if res.StatusCode != c.wantStatus || c.wantCode != "" && !strings.Contains(body, "<Code>"+c.wantCode+"</Code>") {
			t.Errorf("%q: %d %s, want %d %s", c.how, res.StatusCode, body, c.wantStatus, c.wantCode)
		}
		if c.wantStatus == 200 && res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%q: Content-Type %q, want application/json", c.how, res.Header.Get("Content-Type"))
		}
	}
	// Without AUTH_CONFIG the backend key's user is an admin; with no
	// ADMIN_TOKEN no bearer token is accepted.
	_, backend := newFakeS3(t)
	_, single := newTestProxy(t, backend, nil)
	if res, body := adminDo(t, "sigv4:"+testKey+":"+testSecret, "GET", single.URL+"/-/admin/stats", ""); res.StatusCode != 200 {
		t.Errorf("single user: %d %s, want 200", res.StatusCode, body)
	}
	if res, _ := adminDo(t, "bearer:", "GET", single.URL+"/-/admin/stats", ""); res.StatusCode != 403 {
		t.Errorf("empty bearer token without ADMIN_TOKEN: %d, want 403", res.StatusCode)
	}
	// Unknown paths and methods are S3 errors too.
	if res, body := adminDo(t, "bearer:"+testAdminToken, "GET", srv.URL+"/-/admin/nope", ""); res.StatusCode != 404 || !strings.Contains(body, "<Code>NotFound</Code>") {
		t.Errorf("unknown path: %d %s, want 404 NotFound", res.StatusCode, body)
	}
	if res, body := adminDo(t, "bearer:"+testAdminToken, "DELETE", srv.URL+"/-/admin/purge", ""); res.StatusCode != 405 || res.Header.Get("Allow") != "POST" {
		t.Errorf("DELETE purge: %d %s Allow %q, want 405 POST", res.StatusCode, body, res.Header.Get("Allow"))
	}
}

// get reads bucket/key through the proxy and returns its X-Cache.
func getXCache(t *testing.T, p *Proxy, srv *testServer, path string) string {
	t.Helper()
	res := do(t, "GET", srv.URL+path, nil, testSecret)
	if body := readBody(t, res); res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	p.cache.Wait()
	return res.Header.Get("X-Cache")
}

func TestAdminStatsTopKeys(t *testing.T) {
	fake, p, srv := adminProxy(t)
	fake.objects["/bkt/hot"] = []byte("hot!")
	fake.objects["/bkt/warm"] = []byte("w")
	fake.objects["/bkt/cold"] = []byte("c")
	for path, n := range map[string]int{"/bkt/hot": 4, "/bkt/warm": 2, "/bkt/cold": 1} {
		for range n {
			getXCache(t, p, srv, path)
		}
	}
	res, body := adminDo(t, "bearer:"+testAdminToken, "GET", srv.URL+"/-/admin/stats", "")
	if res.StatusCode != 200 {
		t.Fatalf("stats: %d %s", res.StatusCode, body)
	}
	var st adminStatsJSON
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	// Seven reads: three misses, then four hits.
	if st.Entries != 3 || st.Hits != 4 || st.Misses != 3 || st.Reads["bypass"] != 0 || st.MaxBytes != DefaultCacheMaxBytes || st.HitRatio != 4.0/7 {
		t.Errorf("stats %+v, want 3 entries, 4 hits, 3 misses, ratio 4/7", st)
	}
	if len(st.TopKeys) != 3 || st.TopKeys[0].Key != "hot" || st.TopKeys[0].Hits != 3 || st.TopKeys[1].Key != "warm" || st.TopKeys[1].Hits != 1 || st.TopKeys[0].Bytes <= 4 {
		t.Errorf("top keys %+v, want hot (3 hits), warm (1), cold (0)", st.TopKeys)
	}
}

func TestAdminPurge(t *testing.T) {
	fake, p, srv := adminProxy(t)
	paths := []string{"/bkt/a/1", "/bkt/a/2", "/bkt/b/1", "/bkt/k", "/two/x", "/three/y"}
	for _, path := range paths {
		fake.objects[path] = []byte(path)
		getXCache(t, p, srv, path)
	}
	for _, c := range []struct {
		body      string
		removed   int
		gone, hit []string
	}{
		{`{"keys":[{"bucket":"bkt","key":"k"}]}`, 1, []string{"/bkt/k"}, []string{"/bkt/a/1", "/two/x"}},
		{`{"prefixes":[{"bucket":"bkt","prefix":"a/"}]}`, 2, []string{"/bkt/a/1", "/bkt/a/2"}, []string{"/bkt/b/1", "/two/x"}},
		{`{"buckets":["two"]}`, 1, []string{"/two/x"}, []string{"/bkt/b/1", "/three/y"}},
		// Every GET that missed above filled the cache again.
		{`{"all":true}`, 6, []string{"/bkt/b/1", "/three/y", "/bkt/k"}, nil},
	} {
		res, body := adminDo(t, "sigv4:ops:ops-secret", "POST", srv.URL+"/-/admin/purge", c.body)
		var got purgeResult
		if res.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Removed != c.removed {
			t.Errorf("purge %s: %d %s, want 200 removed %d", c.body, res.StatusCode, body, c.removed)
		}
		for _, path := range c.hit {
			if sharesFence(p, path, c.gone) {
				continue // a purged object shares its generation stripe: a miss is right
			}
			if x := getXCache(t, p, srv, path); x != xCacheHit {
				t.Errorf("after purge %s: GET %s %s, want HIT", c.body, path, x)
			}
		}
		for _, path := range c.gone {
			if x := getXCache(t, p, srv, path); x != xCacheMiss {
				t.Errorf("after purge %s: GET %s %s, want MISS", c.body, path, x)
			}
		}
	}
}

// TestAdminPurgeFencesFill: a fill in flight when a prefix purge runs is
// not stored.
func TestAdminPurgeFencesFill(t *testing.T) {
	fake, p, srv := adminProxy(t)
	fake.objects["/bkt/p/slow"] = []byte("old")
	release, arrived := make(chan struct{}), make(chan struct{})
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/bkt/p/slow" {
			close(arrived)
			<-release
		}
		return false
	}
	done := make(chan string)
	go func() {
		res, err := send(t, "GET", srv.URL+"/bkt/p/slow", nil, testSecret)
		if err != nil {
			done <- err.Error()
			return
		}
		readBody(t, res)
		done <- res.Header.Get("X-Cache")
	}()
	<-arrived
	if res, body := adminDo(t, "bearer:"+testAdminToken, "POST", srv.URL+"/-/admin/purge", `{"prefixes":[{"bucket":"bkt","prefix":"p/"}]}`); res.StatusCode != 200 {
		t.Fatalf("purge: %d %s", res.StatusCode, body)
	}
	fake.mu.Lock()
	fake.onGet = nil
	fake.mu.Unlock()
	close(release)
	if x := <-done; x != xCacheMiss {
		t.Fatalf("racing GET: %s, want MISS", x)
	}
	if x := getXCache(t, p, srv, "/bkt/p/slow"); x != xCacheMiss {
		t.Errorf("GET after a purge that raced its fill: %s, want MISS (the fill must not be stored)", x)
	}
}

func TestAdminWarm(t *testing.T) {
	fake, p, srv := adminProxy(t)
	fake.objects["/bkt/w/1"] = []byte("one")
	fake.objects["/bkt/w/2"] = []byte("two!")
	fake.objects["/bkt/w/big"] = make([]byte, 100)
	fake.objects["/bkt/other"] = []byte("no")
	res, body := adminDo(t, "bearer:"+testAdminToken, "POST", srv.URL+"/-/admin/warm", `[{"bucket":"bkt","prefix":"w/","max_bytes":50}]`)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("warm: %d %s", res.StatusCode, body)
	}
	p.warmer.mu.Lock()
	job := p.warmer.jobs[0]
	p.warmer.mu.Unlock()
	<-job.done
	var jobs []warmJobJSON
	_, body = adminDo(t, "sigv4:ops:ops-secret", "GET", srv.URL+"/-/admin/warm", "")
	if err := json.Unmarshal([]byte(body), &jobs); err != nil || len(jobs) != 1 {
		t.Fatalf("warm jobs: %s", body)
	}
	want := warmJobJSON{Bucket: "bkt", Prefix: "w/", MaxBytes: 50, State: "done", ObjectsListed: 3, ObjectsWarmed: 2, BytesWarmed: 7, Source: "prefix"}
	if jobs[0] != want {
		t.Errorf("job %+v, want %+v", jobs[0], want)
	}
	for _, path := range []string{"/bkt/w/1", "/bkt/w/2"} {
		if x := getXCache(t, p, srv, path); x != xCacheHit {
			t.Errorf("GET %s after warming: %s, want HIT", path, x)
		}
		if n := fake.getCount(path); n != 1 {
			t.Errorf("%s: backend saw %d GETs, want 1 (the warm)", path, n)
		}
	}
	if n := fake.getCount("/bkt/w/big"); n != 0 {
		t.Errorf("an object over the job's max_bytes was fetched %d times", n)
	}
	metrics := readMetrics(t, srv)
	if !strings.Contains(metrics, "s3cache_warm_objects_total 2\n") || !strings.Contains(metrics, "s3cache_warm_bytes_total 7\n") {
		t.Errorf("metrics lack the warm counters (2 objects, 7 bytes)")
	}
}

// readMetrics returns the proxy's Prometheus exposition.
func readMetrics(t *testing.T, srv *testServer) string {
	t.Helper()
	res, err := http.Get(srv.URL + "/-/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return readBody(t, res)
}

func TestAdminBadBodies(t *testing.T) {
	_, _, srv := adminProxy(t)
	for path, bodies := range map[string][]string{
		"purge": {``, `{`, `[]`, `{}`, `{"all":false}`, `{"keys":[{"bucket":"bkt"}]}`, `{"buckets":["Bad_Name"]}`, `{"nope":1}`, `{"all":true} {}`, `{"prefixes":[{"bucket":"x","prefix":"p"}]}`},
		"warm":  {``, `[]`, `{}`, `[{"bucket":"bkt","max_bytes":-1}]`, `[{"bucket":""}]`, `[{"bucket":"bkt","extra":1}]`, `nul`},
	} {
		for _, b := range bodies {
			res, body := adminDo(t, "bearer:"+testAdminToken, "POST", srv.URL+"/-/admin/"+path, b)
			if res.StatusCode != 400 || !strings.Contains(body, "<Code>InvalidRequest</Code>") {
				t.Errorf("POST %s %q: %d %s, want 400 InvalidRequest", path, b, res.StatusCode, body)
			}
		}
	}
	big := `{"buckets":[` + strings.Repeat(`"bkt",`, maxAdminBody/6) + `"bkt"]}`
	if res, body := adminDo(t, "bearer:"+testAdminToken, "POST", srv.URL+"/-/admin/purge", big); res.StatusCode != 400 {
		t.Errorf("a body over %d bytes: %d %s, want 400", maxAdminBody, res.StatusCode, body)
	}
}

// FuzzAdminBodies: every purge and warm body is either accepted or refused
// with a 400 InvalidRequest S3 error.
func FuzzAdminBodies(f *testing.F) {
	for _, s := range []string{`{"keys":[{"bucket":"bkt","key":"k"}],"prefixes":[{"bucket":"bkt","prefix":"p/"}],"buckets":["bkt"],"all":false}`,
		`[{"bucket":"bkt","prefix":"p/","max_bytes":1073741824}]`, `{"all":true}`, `[`, `{"keys":null}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, parse := range []func([]byte) error{
			func(b []byte) error { _, err := parsePurge(b); return err },
			func(b []byte) error { _, err := parseWarm(b); return err },
		} {
			err := parse([]byte(body))
			if err == nil {
				continue
			}
			e := toS3Error(err)
			if e.Status != http.StatusBadRequest || e.Code != "InvalidRequest" {
				t.Fatalf("body %q: error %v, want 400 InvalidRequest", body, err)
			}
			w := httptest.NewRecorder()
			(&Proxy{log: discardLogger()}).writeError(w, httptest.NewRequest("POST", "/-/admin/purge", nil), err)
			if w.Code != 400 || !bytes.Contains(w.Body.Bytes(), []byte("<Code>InvalidRequest</Code>")) {
				t.Fatalf("body %q: wrote %d %s", body, w.Code, w.Body)
			}
		}
	})
}

// sharesFence reports whether invalidating any of the objects at gone also
// costs the object at path a miss (see cache.SharesFence).
func sharesFence(p *Proxy, path string, gone []string) bool {
	b, k, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	for _, g := range gone {
		gb, gk, _ := strings.Cut(strings.TrimPrefix(g, "/"), "/")
		if p.cache.SharesFence(b, k, gb, gk) {
			return true
		}
	}
	return false
}
