package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAnswersAtOnce checks the front end's pre-check for its event loop:
// yes only for reads the cache answers whole from memory (a small whole
// object, a short range of held blocks), no for anything that could make
// the handler wait.
func TestAnswersAtOnce(t *testing.T) {
	fake, backend := newRangeS3(t)
	large := randomBytes(1, 10*testBlock+123)
	fake.put("/bkt/large", large)
	fake.put("/bkt/small", randomBytes(2, 1000))
	p, srv := newBlockProxy(t, backend, -1)
	for _, get := range []struct{ path, rangeSpec string }{{"/bkt/small", ""}, {"/bkt/large", "bytes=5000-5009"}} {
		res, _, err := getRange(t, srv.URL+get.path, get.rangeSpec)
		if err != nil || res.StatusCode/100 != 2 {
			t.Fatalf("GET %s: %v %v", get.path, res, err)
		}
	}
	p.cache.Wait()
	tests := []struct {
		name, method, target, rangeSpec string
		want                            bool
	}{
		{"small whole object", "GET", "/bkt/small", "", true},
		{"HEAD of it", "HEAD", "/bkt/small", "", true},
		{"through /objects", "GET", "/objects/bkt/small", "", true},
		{"the /objects root", "GET", "/objects", "", false},
		{"with a presigned URL's query", "GET", "/bkt/small?X-Amz-Expires=60&x-id=GetObject", "", true},
		{"a version", "GET", "/bkt/small?versionId=v1", "", false},
		{"an override", "GET", "/bkt/small?response-content-type=a%2Fb", "", false},
		{"not cached", "GET", "/bkt/other", "", false},
		{"an upload", "PUT", "/bkt/small", "", false},
		{"admin", "GET", "/-/admin/stats", "", false},
		{"a range of held blocks", "GET", "/bkt/large", "bytes=4096-8191", true},
		{"a range needing a block not held", "GET", "/bkt/large", "bytes=100-5000", false},
		{"two ranges", "GET", "/bkt/large", "bytes=4096-4100,4200-4300", false},
		{"the whole large object", "GET", "/bkt/large", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "http://proxy"+tt.target, nil)
		if tt.rangeSpec != "" {
			r.Header.Set("Range", tt.rangeSpec)
		}
		if got := p.answersAtOnce(r); got != tt.want {
			t.Errorf("%s: answersAtOnce %v, want %v", tt.name, got, tt.want)
		}
	}
	// Invalidated by a write through the proxy: no longer answered at once.
	do(t, http.MethodPut, srv.URL+"/bkt/small", []byte("new"), testSecret)
	if p.answersAtOnce(httptest.NewRequest("GET", "http://proxy/bkt/small", nil)) {
		t.Error("answersAtOnce says yes for an object just overwritten")
	}
}
