package proxy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// handlerTransport answers backend requests by calling a handler in a
// goroutine and streaming its answer through a pipe: a backend in the same
// process with no sockets, so that in a synctest bubble every wait of the
// proxy and of the backend is one the bubble can see. While down is set,
// every request fails as if the backend were unreachable.
type handlerTransport struct {
	h    http.Handler
	down atomic.Bool
}

func (t *handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.down.Load() {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, body: pw, ready: make(chan struct{})}
	go func() {
		t.h.ServeHTTP(w, r)
		w.WriteHeader(http.StatusOK) // if the handler wrote nothing
		pw.Close()
	}()
	<-w.ready
	n, err := strconv.ParseInt(w.header.Get("Content-Length"), 10, 64)
	if err != nil {
		n = -1
	}
	return &http.Response{
		Status: http.StatusText(w.status), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: pr, ContentLength: n, Request: r,
	}, nil
}

// pipeWriter is the handler's side of handlerTransport.
type pipeWriter struct {
	header http.Header
	body   *io.PipeWriter
	status int
	ready  chan struct{} // closed by the first WriteHeader
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		close(w.ready)
	}
}

func (w *pipeWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// stuckClient is a client that reads its response's headers and then
// nothing until release is closed: its first body Write closes writing
// and blocks.
type stuckClient struct {
	*httptest.ResponseRecorder
	once    sync.Once
	writing chan struct{}
	release chan struct{}
}

func (c *stuckClient) Write(b []byte) (int, error) {
	c.once.Do(func() { close(c.writing) })
	<-c.release
	return c.ResponseRecorder.Write(b)
}

// TestBlockWaitBounded: a read that needs a block another read is
// fetching waits for that fetch at most BackendTimeout. The other read
// stored its first block and is stuck writing it to a client that reads
// nothing, with its later blocks claimed; after BackendTimeout the waiter
// fetches the block itself, before its status line or after it.
func TestBlockWaitBounded(t *testing.T) {
	for _, tc := range []struct {
		name        string
		stuck, read string   // the stuck read's Range and the waiter's
		down        bool     // the backend is unreachable for the waiter
		wantStatus  int      // the waiter's
		wantGets    []string // the waiter's backend GETs
	}{
		{
			name:       "first missing block, before the status line",
			stuck:      "bytes=4096-16383", // blocks 1-3: stuck after block 1, holding 2 and 3
			read:       "bytes=8192-9000",  // block 2
			wantStatus: http.StatusPartialContent,
			wantGets: []string{
				"/bkt/large bytes=8192-12287", // block 2 alone: the read ends there
			},
		},
		{
			name:       "later block, after the status line",
			stuck:      "bytes=8192-16383", // blocks 2-3: stuck after block 2, holding 3
			read:       "bytes=4096-16383", // blocks 1-3: 1 its own, 2 cached, 3 held
			wantStatus: http.StatusPartialContent,
			wantGets: []string{
				"/bkt/large bytes=4096-8191",
				"/bkt/large bytes=12288-16383",
			},
		},
		{
			name:       "first missing block, backend unreachable",
			stuck:      "bytes=4096-16383",
			read:       "bytes=8192-9000",
			down:       true,
			wantStatus: http.StatusServiceUnavailable,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := &rangeS3{objects: map[string][]byte{}}
				backend := &handlerTransport{h: fake}
				obj := randomBytes(21, 8*testBlock)
				fake.put("/bkt/large", obj)
				const timeout = 30 * time.Second
				p, err := New(Config{
					Endpoint:            "s3.test:9000",
					AccessKey:           testKey,
					SecretKey:           testSecret,
					Logger:              discardLogger(),
					Transport:           backend,
					BackendTimeout:      timeout,
					CacheMaxObjectBytes: 2 * testBlock,
					CacheBlockBytes:     testBlock,
					CachePrefetchBlocks: -1,
				})
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				get := func(w http.ResponseWriter, rangeSpec string) {
					req := httptest.NewRequest(http.MethodGet, "http://proxy.test/bkt/large", nil)
					req.Header.Set("Range", rangeSpec)
					signRequest(t, req, emptyPayloadHash, testSecret)
					p.ServeHTTP(w, req)
				}
				first := httptest.NewRecorder()
				if get(first, "bytes=0-0"); first.Code != http.StatusPartialContent {
					t.Fatalf("first read (the description and block 0): %d, want 206", first.Code)
				}

				stuck := &stuckClient{ResponseRecorder: httptest.NewRecorder(), writing: make(chan struct{}), release: make(chan struct{})}
				stuckDone := make(chan struct{})
				go func() {
					defer close(stuckDone)
					get(stuck, tc.stuck)
				}()
				<-stuck.writing
				fake.takeGets()
				backend.down.Store(tc.down)

				start := time.Now()
				rec := httptest.NewRecorder()
				readDone := make(chan struct{})
				go func() {
					defer close(readDone)
					get(rec, tc.read)
				}()
				select {
				case <-readDone:
				case <-time.After(10 * timeout):
					// Unbounded: release the stuck read, which lets the
					// waiter go on, so that the bubble can end.
					close(stuck.release)
					<-readDone
					<-stuckDone
					t.Fatalf("waiting read still waiting after 10 × BackendTimeout (%v)", timeout)
				}
				waited := time.Since(start)

				backend.down.Store(false)

				s, e, _, _ := parseContentRange("bytes " + tc.read[len("bytes="):] + "/" + strconv.Itoa(len(obj)))
				if rec.Code != tc.wantStatus {
					t.Errorf("waiting read: status %d, want %d", rec.Code, tc.wantStatus)
				}
				if rec.Code == http.StatusPartialContent && !bytes.Equal(rec.Body.Bytes(), obj[s:e]) {
					t.Errorf("waiting read: %d bytes (right ones: %v), want bytes %d-%d", rec.Body.Len(), bytes.Equal(rec.Body.Bytes(), obj[s:e]), s, e-1)
				}
				if got := rec.Header().Get("X-Cache"); tc.wantStatus == http.StatusPartialContent && got != xCacheMiss {
					t.Errorf("waiting read: X-Cache %q, want %q", got, xCacheMiss)
				}
				if waited < timeout || waited >= 2*timeout {
					t.Errorf("waiting read took %v, want BackendTimeout (%v): one bounded wait", waited, timeout)
				}
				if got := fake.takeGets(); !slices.Equal(got, tc.wantGets) {
					t.Errorf("waiting read's backend GETs %q, want %q", got, tc.wantGets)
				}

				// The stuck read resumes and completes from its own fetch.
				close(stuck.release)
				<-stuckDone
				s, e, _, _ = parseContentRange("bytes " + tc.stuck[len("bytes="):] + "/" + strconv.Itoa(len(obj)))
				if !bytes.Equal(stuck.Body.Bytes(), obj[s:e]) {
					t.Errorf("stuck read, released: %d bytes (right ones: %v), want bytes %d-%d", stuck.Body.Len(), bytes.Equal(stuck.Body.Bytes(), obj[s:e]), s, e-1)
				}
				if got := fake.takeGets(); len(got) != 0 {
					t.Errorf("backend GETs after the release %q, want none", got)
				}
			})
		})
	}
}
