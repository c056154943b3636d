package proxy

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCutBodyIsLogged: a backend body that dies after the header went out
// aborts the client's response and is logged at ERROR with the request id,
// bucket, key, the bytes sent and the bytes expected, however the body is
// relayed: a shared fill, a fill streamed to its leader alone, an object
// cached in blocks, a bypassed read.
func TestCutBodyIsLogged(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size := 1000
		switch r.URL.Path {
		case "/bkt/nostore":
			size = 20000
			w.Header().Set("Cache-Control", "no-store")
		case "/bkt/large":
			size = 20000
			w.Header().Set("ETag", `"large"`)
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(make([]byte, size/2))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection closes mid-body
	}))
	t.Cleanup(backend.Close)
	var logs lockedBuffer
	_, srv := newTestProxy(t, backend, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		c.CacheMaxObjectBytes = 2 * testBlock
		c.CacheBlockBytes = testBlock
	})
	tests := []struct {
		name, path, key string
		size            int
	}{
		{"shared fill", "/bkt/small", "small", 1000},
		{"fill streamed alone", "/bkt/nostore", "nostore", 20000},
		{"blocks", "/bkt/large", "large", 20000},
		{"bypassed read", "/bkt/small?response-content-type=text%2Fplain", "small", 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(logs.String())
			id := ""
			// The client's answer is broken: cut short, or, when the
			// header had not left the proxy's buffer yet, missing.
			if res, err := send(t, "GET", srv.URL+tt.path, nil, testSecret); err == nil {
				id = res.Header.Get("X-Amz-Request-Id")
				if got, err := io.ReadAll(res.Body); err == nil && res.StatusCode == http.StatusOK {
					t.Fatalf("a cut body reached the client as complete: %d of %d bytes", len(got), tt.size)
				}
			}
			var cuts []string
			for l := range strings.Lines(logs.String()[before:]) {
				if strings.Contains(l, `"level":"ERROR"`) {
					cuts = append(cuts, l)
				}
			}
			if len(cuts) != 1 {
				t.Fatalf("ERROR lines: %q, want one", cuts)
			}
			var line struct {
				RequestID       string `json:"request_id"`
				Bucket, Key     string
				Bytes, Expected int64
			}
			if err := json.Unmarshal([]byte(cuts[0]), &line); err != nil {
				t.Fatalf("log line %q: %v", cuts[0], err)
			}
			if line.RequestID == "" || id != "" && line.RequestID != id || line.Bucket != "bkt" || line.Key != tt.key ||
				line.Expected != int64(tt.size) || line.Bytes >= int64(tt.size) {
				t.Errorf("log line %+v; want request id %q, bkt/%s, %d bytes expected and fewer sent", line, id, tt.key, tt.size)
			}
		})
	}
}

// TestClientGoneIsNoCut: a client that leaves mid-body stops the copy
// itself: no ERROR line, whatever the backend does.
//
// It runs on net/http's server, not the front end s3cache runs, because
// it needs the request's context cancelled when the client leaves, as
// net/http (and so HTTP/2) does. The lean loop does not notice a client
// that left until a write to it fails: against this backend, which
// stalls mid-body, the copy ends at BackendTimeout with an ERROR line.
func TestClientGoneIsNoCut(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(128<<10))
		w.Write(make([]byte, 64<<10)) // enough for the proxy to pass the header on
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes
	}))
	t.Cleanup(backend.Close)
	var logs lockedBuffer
	p, _ := newTestProxy(t, backend, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		c.BackendTimeout = time.Second // a fill, detached from its client, gives up then
	})
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	for _, path := range []string{"/bkt/k?response-content-type=text%2Fplain", "/bkt/k"} {
		t.Run(path, func(t *testing.T) {
			before := len(logs.String())
			res, err := send(t, "GET", srv.URL+path, nil, testSecret)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(res.Body, make([]byte, 100)); err != nil {
				t.Fatal(err)
			}
			id := res.Header.Get("X-Amz-Request-Id")
			res.Body.Close() // the client leaves
			waitFor(t, "the request's log line", func() bool {
				return strings.Contains(logs.String()[before:], `"request_id":"`+id+`"`)
			})
			if l := logs.String()[before:]; strings.Contains(l, `"level":"ERROR"`) {
				t.Errorf("a client that left was logged as an error:\n%s", l)
			}
		})
	}
}
