package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash/crc64"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/minio/minio-go/v7"
)

// TestFailedUploadLeavesOldObject stops uploads through the proxy in the
// ways issue reports found to leave a truncated object behind, against
// versitygw (which commits whatever arrived before a connection closed,
// when the body is framed by Content-Length alone) and MinIO: a chunk
// signature that does not match, in the middle or at the end; a client
// that closes its connection half-way; a client that goes silent. After
// each, the backend, asked directly, still has the old object, bytes and
// ETag, and the proxy serves it.
// Both framings that keep a cut upload from looking complete are tried:
// UPLOAD_FRAMING=chunked and trailer (what the default, auto, picks for
// both backends).
func TestFailedUploadLeavesOldObject(t *testing.T) {
	t.Parallel()
	for _, b := range realBackends {
		for _, framing := range []string{"chunked", "trailer"} {
			t.Run(b.name+"/"+framing, func(t *testing.T) {
				t.Parallel()
				failedUploads(t, b.addr(t), framing)
			})
		}
	}
}

func failedUploads(t *testing.T, addr, framing string) {
	r := newRelay(t, addr)
	p := startProxy(t, proxyOptions{Backend: r.Addr(), Env: map[string]string{"CLIENT_IDLE_TIMEOUT": "2s", "UPLOAD_FRAMING": framing}})
	e := p.endpoint()
	direct := endpoint{URL: "http://" + addr, Access: testAccess, Secret: testSecret}
	bucket := newBucket(t, e)
	old := []byte("the old object, which must survive every failed upload")

	cases := []struct {
		name string
		// send makes the failed upload of key through the proxy and
		// returns the status the client got (0: none).
		send       func(t *testing.T, key string) int
		wantStatus int
	}{
		{"chunk 1 of 32 signed wrong", func(t *testing.T, key string) int {
			return sendChunked(t, e, bucket, key, 2<<20, 64<<10, 1)
		}, http.StatusForbidden},
		{"chunk 16 of 32 signed wrong", func(t *testing.T, key string) int {
			return sendChunked(t, e, bucket, key, 2<<20, 64<<10, 16)
		}, http.StatusForbidden},
		{"last data chunk signed wrong", func(t *testing.T, key string) int {
			return sendChunked(t, e, bucket, key, 2<<20, 64<<10, 32)
		}, http.StatusForbidden},
		{"trailer checksum wrong", func(t *testing.T, key string) int {
			return sendTrailer(t, e, bucket, key, 300_000)
		}, http.StatusBadRequest},
		{"client closes before any body", func(t *testing.T, key string) int {
			return sendCut(t, e, r, objectURL(e, bucket, key), 4<<20, 0, false)
		}, 0},
		{"client closes one byte short", func(t *testing.T, key string) int {
			return sendCut(t, e, r, objectURL(e, bucket, key), 4<<20, 4<<20-1, false)
		}, 0},
		{"client half-closes half-way", func(t *testing.T, key string) int {
			return sendHalfClosed(t, e, objectURL(e, bucket, key), 4<<20, 2<<20)
		}, http.StatusBadRequest},
		{"final chunk signed wrong", func(t *testing.T, key string) int {
			return sendChunked(t, e, bucket, key, 200_000, 64<<10, -1)
		}, http.StatusForbidden},
		{"client closes half-way", func(t *testing.T, key string) int {
			return sendCut(t, e, r, objectURL(e, bucket, key), 4<<20, 2<<20, false)
		}, 0},
		{"client closes half-way through /objects", func(t *testing.T, key string) int {
			return sendCut(t, e, r, e.URL+"/objects/"+bucket+"/"+key, 4<<20, 2<<20, false)
		}, 0},
		{"client goes silent", func(t *testing.T, key string) int {
			return sendCut(t, e, r, objectURL(e, bucket, key), 10<<20, 1<<20, true)
		}, http.StatusBadRequest},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("atomic/%d", i)
			putBytes(t, e, bucket, key, old)
			before := directObject(t, direct, bucket, key)
			if got := tc.send(t, key); got != tc.wantStatus {
				t.Errorf("the client got %d, want %d", got, tc.wantStatus)
			}
			// The proxy has answered, or the client has left and the
			// upload's exchange with the backend is over; give the
			// backend a moment in which a wrong commit would show.
			waitFor(t, "the upload's backend exchange to end", func() bool { return r.inflight.Load() == 0 })
			deadline := time.Now().Add(time.Second)
			for {
				after := directObject(t, direct, bucket, key)
				if after != before {
					t.Fatalf("the backend now has %s, not the old object (%s): a failed upload was committed", after, before)
				}
				if time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond) // observing, not synchronising: nothing is awaited
			}
			if got := signedGet(t, e, bucket, key); got.Status != 200 || !bytes.Equal(got.Body, old) {
				t.Errorf("through the proxy: %d, %d bytes, want the old object", got.Status, len(got.Body))
			}
		})
	}
}

// directObject describes what the backend holds at bucket/key, asked
// directly with minio-go: its ETag, length and MD5, or the error.
func directObject(t *testing.T, direct endpoint, bucket, key string) string {
	t.Helper()
	c, _ := minioClient(t, direct)
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	o, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return "error " + minio.ToErrorResponse(err).Code
	}
	defer o.Close()
	body, err := io.ReadAll(o)
	if err != nil {
		return "error " + minio.ToErrorResponse(err).Code
	}
	info, err := o.Stat()
	if err != nil {
		return "error " + minio.ToErrorResponse(err).Code
	}
	sum := md5.Sum(body)
	return fmt.Sprintf("ETag %s, %d bytes, md5 %s", info.ETag, len(body), hex.EncodeToString(sum[:]))
}

// sendChunked PUTs size bytes to bucket/key through e as a signed
// aws-chunked body of chunk-byte chunks whose chunk number bad (from 1;
// -1 for the final, empty one) carries a wrong signature, and returns the
// status.
func sendChunked(t *testing.T, e endpoint, bucket, key string, size, chunk, bad int) int {
	t.Helper()
	res, err := httpDo(t, chunkedUpload(t, e, bucket, key, size, chunk, bad))
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	return res.Status
}

// chunkedUpload builds the PUT sendChunked sends.
func chunkedUpload(t *testing.T, e endpoint, bucket, key string, size, chunk, bad int) *http.Request {
	t.Helper()
	at := time.Now().UTC()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, objectURL(e, bucket, key), nil)
	if err != nil {
		t.Fatal(err)
	}
	const hash = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	var sizes []int
	for left := size; left > 0; left -= chunk {
		sizes = append(sizes, min(left, chunk))
	}
	sizes = append(sizes, 0)
	encoded := 0
	for _, n := range sizes {
		encoded += len(fmt.Sprintf("%x;chunk-signature=", n)) + 64 + 2 + n + 2
	}
	req.ContentLength = int64(encoded)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(size))
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: e.Secret}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hash, "s3", testRegion, at); err != nil {
		t.Fatal(err)
	}
	_, seedHex, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	seed, err := hex.DecodeString(seedHex)
	if err != nil {
		t.Fatal(err)
	}
	signer := v4.NewStreamSigner(creds, "s3", testRegion, seed)
	var body bytes.Buffer
	for i, n := range sizes {
		data := bytes.Repeat([]byte{byte('A' + i%26)}, n)
		sig, err := signer.GetSignature(t.Context(), nil, data, at)
		if err != nil {
			t.Fatal(err)
		}
		if i+1 == bad || bad == -1 && n == 0 {
			sig[0] ^= 0xff
		}
		fmt.Fprintf(&body, "%x;chunk-signature=%s\r\n", n, hex.EncodeToString(sig))
		body.Write(data)
		body.WriteString("\r\n")
	}
	req.Body = io.NopCloser(&body)
	return req
}

// TestRefusedUploadEndsCleanly: an upload refused part-way through its
// body (a chunk signed wrong) is answered once, and the rest of its body
// is never read as requests of their own. Either the answer says
// Connection: close and nothing follows it, or the connection answers the
// client's next request with that request's answer. A client that keeps
// a connection open after a refused upload (as urllib3 and the SDKs do)
// must not get a stray 400 for its next request.
func TestRefusedUploadEndsCleanly(t *testing.T) {
	t.Parallel()
	p := startProxy(t, proxyOptions{Backend: backendAddr(t)})
	e := p.endpoint()
	bucket := newBucket(t, e)
	for _, bad := range []int{1, 16, 32, -1} {
		t.Run(fmt.Sprintf("chunk %d of 32 signed wrong", bad), func(t *testing.T) {
			key := fmt.Sprintf("refused-%d", bad)
			conn, err := net.Dial("tcp", e.Host())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			req := chunkedUpload(t, e, bucket, key, 2<<20, 64<<10, bad)
			go req.Write(conn) // fails once the proxy closes: nothing to check
			conn.SetReadDeadline(time.Now().Add(cmdTimeout))
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, req)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusForbidden || !bytes.Contains(body, []byte("SignatureDoesNotMatch")) {
				t.Fatalf("answer: %d %s, want 403 SignatureDoesNotMatch", res.StatusCode, body)
			}
			if res.Close {
				if rest, _ := io.ReadAll(br); len(rest) > 0 {
					t.Fatalf("after an answer that closes the connection: %q", rest)
				}
				return
			}
			get := signedRequest(t, e, http.MethodGet, objectURL(e, bucket, key), nil)
			if err := get.Write(conn); err != nil {
				t.Fatalf("the connection was kept open, but a GET on it: %v", err)
			}
			res, err = http.ReadResponse(br, get)
			if err != nil {
				t.Fatalf("reading the answer to a GET after the refused upload: %v", err)
			}
			body, _ = io.ReadAll(res.Body)
			if res.StatusCode != http.StatusNotFound || !bytes.Contains(body, []byte("NoSuchKey")) {
				t.Fatalf("GET after the refused upload on its connection: %d %s, want 404 NoSuchKey", res.StatusCode, body)
			}
		})
	}
}

// sendCut PUTs url through e on a connection of its own, declaring size
// bytes of UNSIGNED-PAYLOAD and sending only sent of them; then it closes
// the connection and returns 0, or, when silent, waits for the proxy's
// answer and returns its status.
func sendCut(t *testing.T, e endpoint, r *relay, url string, size, sent int, silent bool) int {
	t.Helper()
	conn := openUpload(t, e, url, int64(size))
	if _, err := conn.Write(bytes.Repeat([]byte("N"), sent)); err != nil {
		t.Fatal(err)
	}
	if !silent {
		// The client leaves once the proxy is forwarding the upload.
		waitFor(t, "the upload to reach the backend", func() bool { return r.inflight.Load() > 0 })
		return 0
	}
	if err := conn.SetReadDeadline(time.Now().Add(cmdTimeout)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the proxy's answer to a silent client: %v", err)
	}
	res.Body.Close()
	return res.StatusCode
}

// sendTrailer PUTs size bytes to bucket/key through e as an unsigned
// aws-chunked body whose CRC32 trailer is wrong, and returns the status.
func sendTrailer(t *testing.T, e endpoint, bucket, key string, size int) int {
	t.Helper()
	var body bytes.Buffer
	data := bytes.Repeat([]byte("T"), size)
	for off := 0; off < size; off += 64 << 10 {
		n := min(64<<10, size-off)
		fmt.Fprintf(&body, "%x\r\n", n)
		body.Write(data[off : off+n])
		body.WriteString("\r\n")
	}
	body.WriteString("0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, objectURL(e, bucket, key), bytes.NewReader(body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	const hash = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(size))
	req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: e.Secret}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hash, "s3", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := httpDo(t, req)
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	return res.Status
}

// sendHalfClosed PUTs url through e declaring size bytes, sends sent of
// them, half-closes its side and returns the status the proxy answers.
func sendHalfClosed(t *testing.T, e endpoint, url string, size, sent int) int {
	t.Helper()
	conn := openUpload(t, e, url, int64(size))
	conn.Write(bytes.Repeat([]byte("h"), sent))
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(cmdTimeout)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to a half-closed upload: %v", err)
	}
	res.Body.Close()
	return res.StatusCode
}

// openUpload dials the proxy behind e and sends the head of a PUT of url
// declaring size bytes of UNSIGNED-PAYLOAD, signed with e's keys; the
// caller sends (some of) the body on the connection it returns.
func openUpload(t *testing.T, e endpoint, url string, size int64) net.Conn {
	t.Helper()
	req := unsignedPayloadRequest(t, e, http.MethodPut, url, nil, size)
	conn, err := net.Dial("tcp", e.Host())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var head bytes.Buffer
	fmt.Fprintf(&head, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.URL.RequestURI(), req.Host, size)
	if err := req.Header.Write(&head); err != nil {
		t.Fatal(err)
	}
	head.WriteString("\r\n")
	if _, err := conn.Write(head.Bytes()); err != nil {
		t.Fatal(err)
	}
	return conn
}

// realBackends are the S3 servers the write-path tests run against.
var realBackends = []struct {
	name string
	addr func(testing.TB) string
}{{"versitygw", backendAddr}, {"minio", minioAddr}}

// waitFor polls cond every 10 ms until it holds, for at most 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := poll(ctx, 10*time.Second, func(context.Context) error {
		if cond() {
			return nil
		}
		return fmt.Errorf("still waiting for %s", what)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeclaredSizeAllocatesNothing: a PUT declaring more than S3's 5 GiB
// is refused before its body is read, on both front ends, and the backend
// never hears of it; 16 uploads declaring 5 GiB each that send a little
// and wait hold only their copy buffers, not anything sized by what they
// declared.
func TestDeclaredSizeAllocatesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"CLIENT_IDLE_TIMEOUT": "30s"})
	e := h.endpoint()
	bucket := newBucket(t, e)
	const fiveTB = 5 << 40
	for _, url := range []string{objectURL(e, bucket, "huge"), e.URL + "/objects/" + bucket + "/huge"} {
		before := h.relay.total()
		req := unsignedPayloadRequest(t, e, http.MethodPut, url, strings.NewReader("x"), fiveTB)
		res, err := httpDo(t, req)
		if err == nil && (res.Status != http.StatusBadRequest || res.xmlCode() != "EntityTooLarge") {
			t.Errorf("PUT %s declaring 5 TB: %d %s, want 400 EntityTooLarge", url, res.Status, res.xmlCode())
		}
		if n := h.relay.total() - before; n != 0 {
			t.Errorf("PUT %s declaring 5 TB: the backend saw %d requests, want none", url, n)
		}
	}

	// One upload first, so that UPLOAD_FRAMING=auto's probe of the backend
	// is answered before the relay stops answering: the uploads below
	// would otherwise wait for it (up to 10 s) instead of reaching the relay.
	if res, err := httpDo(t, unsignedPayloadRequest(t, e, http.MethodPut, objectURL(e, bucket, "first"), strings.NewReader("x"), 1)); err != nil {
		t.Fatalf("PUT first: %v", err)
	} else if res.Status != http.StatusOK {
		t.Fatalf("PUT first: %d %s", res.Status, res.Body)
	}
	// The uploads stop at the relay: a backend that reserves the declared
	// size on disk (versitygw fallocates it) would take 80 GiB for them.
	h.relay.hang.Store(true)
	heap := func() float64 { return scrapeMetrics(t, e)["go_memstats_heap_inuse_bytes"] }
	base := heap()
	var conns []net.Conn
	for i := range 16 {
		url := e.URL + "/objects/" + bucket + fmt.Sprintf("/declared-%d", i)
		if i%2 == 1 {
			url = objectURL(e, bucket, fmt.Sprintf("declared-%d", i))
		}
		conn := openUpload(t, e, url, 5<<30)
		conns = append(conns, conn)
		conn.Write(make([]byte, 1<<20))
	}
	waitFor(t, "16 uploads in flight to the backend", func() bool { return h.relay.inflight.Load() >= 16 })
	grown := heap() - base
	for _, c := range conns {
		c.Close()
	}
	t.Logf("heap in use grew by %.1f MiB with 16 uploads declaring 5 GiB each in flight", grown/(1<<20))
	if grown > 64<<20 {
		t.Errorf("heap in use grew by %.0f MiB with 16 uploads in flight, want under 64 MiB", grown/(1<<20))
	}
}

// stopCase is one way TestProxyStopsMidUpload stops the proxy.
type stopCase struct {
	name    string
	stop    func(p *proxyProc) error
	finish  bool // the client sends the rest during the drain
	cutOff  bool // the stop cuts the upload off: the proxy must exit 1 (SIGTERM) and the backend keep the old object
	sigterm bool
}

// TestProxyStopsMidUpload stops the proxy while an upload is half sent:
// killed outright, or by SIGTERM with a drain shorter than the upload
// needs. Either way the backend keeps the old object; after a SIGTERM
// that cut something off, the proxy exits 1. An upload that finishes
// within the drain is stored, and the proxy exits 0. Against versitygw
// and MinIO.
func TestProxyStopsMidUpload(t *testing.T) {
	t.Parallel()
	cases := []stopCase{
		{name: "kill -9", stop: func(p *proxyProc) error { return p.signal(syscall.SIGKILL, stopTimeout) }, cutOff: true},
		{name: "SIGTERM past the drain", stop: func(p *proxyProc) error { return p.signal(sigterm, stopTimeout) }, cutOff: true, sigterm: true},
		{name: "SIGTERM within the drain", stop: func(p *proxyProc) error { return p.signal(sigterm, stopTimeout) }, finish: true, sigterm: true},
	}
	for _, b := range realBackends {
		for _, tc := range cases {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				stopMidUpload(t, b.addr(t), tc)
			})
		}
	}
}

func stopMidUpload(t *testing.T, addr string, tc stopCase) {
	r := newRelay(t, addr)
	p := startProxy(t, proxyOptions{Backend: r.Addr(), Env: map[string]string{
		"SHUTDOWN_TIMEOUT": "2s", "CLIENT_IDLE_TIMEOUT": "1m"}})
	e := p.endpoint()
	direct := endpoint{URL: "http://" + addr, Access: testAccess, Secret: testSecret}
	bucket := newBucket(t, e)
	const key, size = "upload", 20 << 20
	putBytes(t, e, bucket, key, []byte("old"))
	before := directObject(t, direct, bucket, key)
	conn := openUpload(t, e, objectURL(e, bucket, key), size)
	conn.Write(bytes.Repeat([]byte("n"), size/2))
	waitFor(t, "the upload to reach the backend", func() bool { return r.inflight.Load() > 0 })
	stopped := make(chan error, 1)
	p.stoppedByTest.Store(true)
	go func() { stopped <- tc.stop(p) }()
	if tc.finish {
		if _, err := conn.Write(bytes.Repeat([]byte("n"), size/2)); err != nil {
			t.Fatalf("the rest of the upload during the drain: %v", err)
		}
		if err := conn.SetReadDeadline(time.Now().Add(cmdTimeout)); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("the answer to an upload finished during the drain: %v", err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Errorf("an upload finished during the drain got %d %s", res.StatusCode, body)
		}
	}
	err := <-stopped
	switch {
	case tc.sigterm && tc.cutOff && err == nil:
		t.Errorf("the proxy exited 0 after cutting an upload off; want 1")
	case tc.finish && err != nil:
		t.Errorf("the proxy exited with %v after a drain in which everything finished; want 0", err)
	}
	waitFor(t, "the upload's backend exchange to end", func() bool { return r.inflight.Load() == 0 })
	want, what := before, "old"
	if tc.finish {
		sum := md5.Sum(bytes.Repeat([]byte("n"), size))
		want, what = hex.EncodeToString(sum[:]), "new"
	}
	if got := directObject(t, direct, bucket, key); !strings.Contains(got, want) {
		t.Errorf("the backend has %s; want the %s object (%s)", got, what, want)
	}
}

// TestTrailerFraming: with UPLOAD_FRAMING=trailer, uploads whose payload
// is unsigned (a header-signed UNSIGNED-PAYLOAD PUT, an /objects PUT, the
// parts of a multipart upload) reach versitygw and MinIO whole; a
// PutObject is stored with the CRC64NVME the proxy sent as its trailer,
// which the backend, asked directly, reports and which is the CRC of the
// bytes; the parts, framed with signed chunks, complete into the object.
func TestTrailerFraming(t *testing.T) {
	t.Parallel()
	for _, b := range realBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			addr := b.addr(t)
			p := startProxy(t, proxyOptions{Backend: addr, Env: map[string]string{"UPLOAD_FRAMING": "trailer"}})
			e := p.endpoint()
			direct := endpoint{URL: "http://" + addr, Access: testAccess, Secret: testSecret}
			bucket := newBucket(t, e)
			body := randomBytes(t, 1<<20+17)
			sum := crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5)) // CRC-64/NVME, reflected
			sum.Write(body)
			wantCRC := base64.StdEncoding.EncodeToString(sum.Sum(nil))

			for _, url := range []string{objectURL(e, bucket, "put"), e.URL + "/objects/" + bucket + "/objects-put"} {
				res, err := httpDo(t, unsignedPayloadRequest(t, e, http.MethodPut, url, bytes.NewReader(body), int64(len(body))))
				if err != nil || res.Status != http.StatusOK {
					t.Fatalf("PUT %s: %v %d %s", url, err, res.Status, res.Body)
				}
			}
			c, _ := minioClient(t, direct)
			for _, key := range []string{"put", "objects-put"} {
				if got := directObject(t, direct, bucket, key); !strings.Contains(got, fmt.Sprintf("%d bytes, md5 %x", len(body), md5.Sum(body))) {
					t.Errorf("%s on the backend: %s", key, got)
				}
				info, err := c.StatObject(t.Context(), bucket, key, minio.StatObjectOptions{Checksum: true})
				if err != nil {
					t.Fatalf("stat %s: %v", key, err)
				}
				if info.ChecksumCRC64NVME != wantCRC {
					t.Errorf("%s: the backend's CRC64NVME is %q, want %q, the trailer's", key, info.ChecksumCRC64NVME, wantCRC)
				}
			}

			// A multipart upload of unsigned parts, completed.
			part1, part2 := randomBytes(t, 5<<20), randomBytes(t, 1<<20)
			res, err := httpDo(t, signedRequest(t, e, http.MethodPost, objectURL(e, bucket, "mpu")+"?uploads", nil))
			if err != nil || res.Status != http.StatusOK {
				t.Fatalf("CreateMultipartUpload: %v %d %s", err, res.Status, res.Body)
			}
			var created struct{ UploadId string }
			if err := xml.Unmarshal(res.Body, &created); err != nil || created.UploadId == "" {
				t.Fatalf("CreateMultipartUpload answer %s: %v", res.Body, err)
			}
			var complete strings.Builder
			complete.WriteString("<CompleteMultipartUpload>")
			for i, part := range [][]byte{part1, part2} {
				url := fmt.Sprintf("%s?partNumber=%d&uploadId=%s", objectURL(e, bucket, "mpu"), i+1, created.UploadId)
				res, err := httpDo(t, unsignedPayloadRequest(t, e, http.MethodPut, url, bytes.NewReader(part), int64(len(part))))
				if err != nil || res.Status != http.StatusOK {
					t.Fatalf("UploadPart %d: %v %d %s", i+1, err, res.Status, res.Body)
				}
				fmt.Fprintf(&complete, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i+1, res.Header.Get("ETag"))
			}
			complete.WriteString("</CompleteMultipartUpload>")
			url := objectURL(e, bucket, "mpu") + "?uploadId=" + created.UploadId
			if res, err := httpDo(t, signedRequest(t, e, http.MethodPost, url, []byte(complete.String()))); err != nil || res.Status != http.StatusOK {
				t.Fatalf("CompleteMultipartUpload: %v %d %s", err, res.Status, res.Body)
			}
			whole := append(append([]byte{}, part1...), part2...)
			if got := signedGet(t, e, bucket, "mpu"); got.Status != http.StatusOK || !bytes.Equal(got.Body, whole) {
				t.Errorf("GET of the completed upload: %d, %d bytes, want the %d bytes of its parts", got.Status, len(got.Body), len(whole))
			}
		})
	}
}

// TestAutoFraming: by default (UPLOAD_FRAMING=auto) the first unsigned
// PutObject is preceded by one probe, a PutObject to a new key whose
// CRC64NVME trailer is wrong, which versitygw and MinIO refuse as a
// checksum mismatch; that upload and the next then go with a CRC64NVME
// trailer the backend records, without another probe, and the bucket
// holds nothing but what the client uploaded.
func TestAutoFraming(t *testing.T) {
	t.Parallel()
	for _, b := range realBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			addr := b.addr(t)
			r := newRelay(t, addr)
			p := startProxy(t, proxyOptions{Backend: r.Addr()})
			e := p.endpoint()
			direct := endpoint{URL: "http://" + addr, Access: testAccess, Secret: testSecret}
			bucket := newBucket(t, e)
			c, _ := minioClient(t, direct)
			for _, key := range []string{"first", "second"} {
				body := randomBytes(t, 300<<10+7)
				sum := crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5)) // CRC-64/NVME, reflected
				sum.Write(body)
				res, err := httpDo(t, unsignedPayloadRequest(t, e, http.MethodPut, objectURL(e, bucket, key), bytes.NewReader(body), int64(len(body))))
				if err != nil || res.Status != http.StatusOK {
					t.Fatalf("PUT %s: %v %d %s", key, err, res.Status, res.Body)
				}
				info, err := c.StatObject(t.Context(), bucket, key, minio.StatObjectOptions{Checksum: true})
				if err != nil {
					t.Fatalf("stat %s: %v", key, err)
				}
				if want := base64.StdEncoding.EncodeToString(sum.Sum(nil)); info.ChecksumCRC64NVME != want || info.Size != int64(len(body)) {
					t.Errorf("%s on the backend: %d bytes, CRC64NVME %q; want %d bytes, %q (the trailer's)", key, info.Size, info.ChecksumCRC64NVME, len(body), want)
				}
			}
			var probes, trailered int
			for _, rec := range r.records() {
				if rec.Method != http.MethodPut {
					continue
				}
				switch {
				case strings.HasPrefix(rec.Path, "/"+bucket+"/.s3cache-trailer-probe-"):
					probes++
					if rec.Status != http.StatusBadRequest {
						t.Errorf("the probe %s was answered %d, want 400", rec.Path, rec.Status)
					}
				case rec.Header.Get("X-Amz-Content-Sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER" && rec.Header.Get("X-Amz-Trailer") == "x-amz-checksum-crc64nvme":
					trailered++
				}
			}
			if probes != 1 || trailered != 2 {
				t.Errorf("the backend saw %d probes and %d uploads with a trailer, want 1 and 2", probes, trailered)
			}
			var keys []string
			for obj := range c.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
				if obj.Err != nil {
					t.Fatal(obj.Err)
				}
				keys = append(keys, obj.Key)
			}
			if strings.Join(keys, ",") != "first,second" {
				t.Errorf("the bucket holds %q, want only first and second", keys)
			}
		})
	}
}

// TestUploadFramingNotInContentEncoding: the aws-chunked framing the
// proxy gives an upload the client sent plain is not part of the object.
// versitygw 1.8 stores it in Content-Encoding (S3 does not); the proxy's
// answers, HEAD and GET, miss and hit, carry the client's Content-Encoding
// only, for either framing.
func TestUploadFramingNotInContentEncoding(t *testing.T) {
	t.Parallel()
	for _, framing := range []string{"chunked", "trailer"} {
		t.Run(framing, func(t *testing.T) {
			t.Parallel()
			p := startProxy(t, proxyOptions{Backend: backendAddr(t), Env: map[string]string{"UPLOAD_FRAMING": framing}})
			e := p.endpoint()
			bucket := newBucket(t, e)
			for key, encoding := range map[string]string{"plain": "", "gzipped": "gzip"} {
				body := []byte("the payload of " + key)
				req := unsignedPayloadRequest(t, e, http.MethodPut, objectURL(e, bucket, key), bytes.NewReader(body), int64(len(body)))
				if encoding != "" {
					req.Header.Set("Content-Encoding", encoding)
					creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: e.Secret}
					if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now()); err != nil {
						t.Fatal(err)
					}
				}
				if res, err := httpDo(t, req); err != nil || res.Status != http.StatusOK {
					t.Fatalf("PUT %s: %v %d %s", key, err, res.Status, res.Body)
				}
				for _, method := range []string{http.MethodHead, http.MethodGet, http.MethodHead, http.MethodGet} {
					res, err := httpDo(t, signedRequest(t, e, method, objectURL(e, bucket, key), nil))
					if err != nil || res.Status != http.StatusOK {
						t.Fatalf("%s %s: %v %d", method, key, err, res.Status)
					}
					if got := res.Header.Values("Content-Encoding"); strings.Join(got, ",") != encoding {
						t.Errorf("%s %s (X-Cache %s): Content-Encoding %q, want %q", method, key, res.Header.Get("X-Cache"), got, encoding)
					}
				}
			}
		})
	}
}
