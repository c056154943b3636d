package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// postForm is a browser POST upload form: where to post it and its
// fields, as boto3's generate_presigned_post makes them.
type postForm struct {
	URL    string            `json:"url"`
	Fields map[string]string `json:"fields"`
}

// presignedPost makes a form for bucket through e with boto3; spec is
// generate_presigned_post's key, fields, conditions and expires.
func presignedPost(t *testing.T, e endpoint, bucket string, spec map[string]any) postForm {
	t.Helper()
	js, _ := json.Marshal(spec)
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "testdata/presigned_post.py")
	cmd.Env = append(awsEnv(t, e), "S3_E2E_BUCKET="+bucket, "S3_E2E_POST="+string(js))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 testdata/presigned_post.py: %v\n%s", err, stderr.String())
	}
	var f postForm
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("presigned_post.py output: %v\n%s", err, out)
	}
	return f
}

// encodeForm encodes fields (in a fixed order) and a file as a browser
// does, and returns the body and its Content-Type.
func encodeForm(t *testing.T, fields map[string]string, filename string, file []byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		mw.WriteField(k, fields[k])
	}
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(file)
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// postAnswer is what a POST upload got back.
type postAnswer struct {
	Status int
	Header http.Header
	Body   []byte
	Code   string // the S3 error code, if the body is an error
}

func (a postAnswer) String() string {
	return fmt.Sprintf("%d %s %q", a.Status, a.Code, a.Body)
}

// sendForm posts a form with Go's HTTP client, redirects not followed.
func sendForm(t *testing.T, e endpoint, url string, fields map[string]string, filename string, file []byte) postAnswer {
	t.Helper()
	body, ct := encodeForm(t, fields, filename, file)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	c := *e.client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	var e3 struct{ Code string }
	xml.Unmarshal(got, &e3)
	return postAnswer{Status: res.StatusCode, Header: res.Header, Body: got, Code: e3.Code}
}

// TestPostUpload: a browser POST upload through s3cache, its form made by
// boto3 and posted by curl, stores the file with its fields and answers
// as S3 does; the cached old version is gone at once; every broken rule
// of the policy is refused with S3's error and leaves the object as it
// was.
func TestPostUpload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	direct := h.backend()
	bucket := newBucket(t, e)
	const key = "uploads/hello.txt"
	putBytes(t, e, bucket, key, []byte("the old version"))
	for _, want := range []string{"MISS", "HIT"} {
		wantXCache(t, "GET before the upload", sdkGet(t, e, bucket, key).Header, want)
	}

	form := presignedPost(t, e, bucket, map[string]any{
		"key":    "uploads/${filename}",
		"fields": map[string]string{"Content-Type": "text/plain", "x-amz-meta-foo": "bar", "success_action_status": "201"},
		"conditions": []any{
			map[string]string{"Content-Type": "text/plain"}, map[string]string{"x-amz-meta-foo": "bar"},
			map[string]string{"success_action_status": "201"}, []any{"starts-with", "$key", "uploads/"},
			[]any{"content-length-range", 1, 1 << 20},
		},
	})
	if want := e.URL + "/" + bucket; form.URL != want {
		t.Fatalf("boto3 form URL %q, want %q", form.URL, want)
	}

	t.Run("curl posts the form", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "hello.txt")
		content := []byte("hello from a browser form\n")
		os.WriteFile(file, content, 0o600)
		args := []string{"-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", "60"}
		for k, v := range form.Fields {
			args = append(args, "--form-string", k+"="+v)
		}
		args = append(args, "-F", "file=@"+file+";filename=hello.txt", form.URL)
		out, err := exec.CommandContext(t.Context(), "curl", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		i := strings.LastIndexByte(string(out), '\n')
		body, status := string(out[:max(i, 0)]), string(out[i+1:])
		var pr struct {
			Location, Bucket, Key, ETag string
		}
		if status != "201" || xml.Unmarshal([]byte(body), &pr) != nil || pr.Bucket != bucket || pr.Key != key {
			t.Fatalf("curl POST: %s %s, want 201 and a PostResponse for %s/%s", status, body, bucket, key)
		}
		if pr.Location != e.URL+"/"+bucket+"/"+key {
			t.Errorf("PostResponse Location %q", pr.Location)
		}
		g := sdkGet(t, e, bucket, key)
		if g.Status != 200 || !bytes.Equal(g.Body, content) {
			t.Fatalf("GET after the upload: %d %q, want the uploaded file", g.Status, g.Body)
		}
		wantXCache(t, "GET after the upload", g.Header, "MISS")
		if g.Header.Get("Content-Type") != "text/plain" || g.Header.Get("X-Amz-Meta-Foo") != "bar" || g.Header.Get("ETag") != pr.ETag {
			t.Errorf("GET after the upload: Content-Type %q, x-amz-meta-foo %q, ETag %q (PostResponse %q)",
				g.Header.Get("Content-Type"), g.Header.Get("X-Amz-Meta-Foo"), g.Header.Get("ETag"), pr.ETag)
		}
		if d := directObject(t, direct, bucket, key); !strings.Contains(d, fmt.Sprintf("%d bytes", len(content))) || !strings.Contains(d, strings.Trim(pr.ETag, `"`)) {
			t.Errorf("the backend holds %s, want the %d uploaded bytes with ETag %s", d, len(content), pr.ETag)
		}
	})

	stored := directObject(t, direct, bucket, key)
	refusals := []struct {
		name     string
		mod      func(f map[string]string)
		filename string
		file     []byte
		status   int
		code     string
	}{
		{"a key outside the policy's prefix", func(f map[string]string) { f["key"] = "private/x" }, "a.txt", []byte("x"), 403, "AccessDenied"},
		{"a file larger than content-length-range", nil, "hello.txt", bytes.Repeat([]byte("x"), 1<<20+1), 400, "EntityTooLarge"},
		{"an empty file under its minimum", nil, "hello.txt", nil, 400, "EntityTooSmall"},
		{"a field the policy does not name", func(f map[string]string) { f["x-amz-meta-extra"] = "1" }, "hello.txt", []byte("x"), 403, "AccessDenied"},
		{"a changed field", func(f map[string]string) { f["Content-Type"] = "text/html" }, "hello.txt", []byte("x"), 403, "AccessDenied"},
		{"a tampered signature", func(f map[string]string) {
			s := []byte(f["x-amz-signature"])
			s[0] ^= 1
			f["x-amz-signature"] = string(s)
		}, "hello.txt", []byte("x"), 403, "SignatureDoesNotMatch"},
		{"no signature", func(f map[string]string) { delete(f, "x-amz-signature") }, "hello.txt", []byte("x"), 400, "InvalidArgument"},
		{"no key", func(f map[string]string) { delete(f, "key") }, "hello.txt", []byte("x"), 400, "InvalidArgument"},
		{"no policy or signature at all", func(f map[string]string) {
			for k := range f {
				if k != "key" {
					delete(f, k)
				}
			}
		}, "hello.txt", []byte("x"), 403, "AccessDenied"},
	}
	for _, c := range refusals {
		t.Run("refuses "+c.name, func(t *testing.T) {
			fields := maps.Clone(form.Fields)
			if c.mod != nil {
				c.mod(fields)
			}
			a := sendForm(t, e, form.URL, fields, c.filename, c.file)
			if a.Status != c.status || a.Code != c.code || a.Header.Get("X-Amz-Request-Id") == "" {
				t.Errorf("POST: %v, want %d %s", a, c.status, c.code)
			}
			if d := directObject(t, direct, bucket, key); d != stored {
				t.Errorf("the backend holds %s after a refused upload, had %s", d, stored)
			}
		})
	}

	t.Run("refuses an expired policy", func(t *testing.T) {
		old := presignedPost(t, e, bucket, map[string]any{"key": key, "expires": -60})
		a := sendForm(t, e, old.URL, old.Fields, "x", []byte("x"))
		if a.Status != 403 || a.Code != "AccessDenied" || !bytes.Contains(a.Body, []byte("Policy expired")) {
			t.Errorf("POST: %v, want 403 AccessDenied, policy expired", a)
		}
	})

	t.Run("a body cut short stores nothing", func(t *testing.T) {
		body, ct := encodeForm(t, form.Fields, "hello.txt", bytes.Repeat([]byte("c"), 512<<10))
		conn, err := net.Dial("tcp", e.Host())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /%s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", bucket, e.Host(), ct, len(body))
		conn.Write(body[:len(body)/2])
		conn.(*net.TCPConn).CloseWrite()
		conn.SetReadDeadline(time.Now().Add(time.Minute))
		io.Copy(io.Discard, conn) // the proxy's answer, if any, and its close
		// The proxy's answer is sent only once the backend's is known;
		// anything stored would be there by now.
		if d := directObject(t, direct, bucket, key); d != stored {
			t.Errorf("the backend holds %s after a cut upload, had %s", d, stored)
		}
	})

	t.Run("success_action_redirect", func(t *testing.T) {
		f := presignedPost(t, e, bucket, map[string]any{
			"key":        "redirected.txt",
			"fields":     map[string]string{"success_action_redirect": "https://example.com/done?from=form"},
			"conditions": []any{map[string]string{"success_action_redirect": "https://example.com/done?from=form"}},
		})
		a := sendForm(t, e, f.URL, f.Fields, "r.txt", []byte("redirected"))
		etag := directObject(t, direct, bucket, "redirected.txt")
		loc := a.Header.Get("Location")
		if a.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "https://example.com/done?from=form&bucket="+bucket+"&key=redirected.txt&etag=%22") {
			t.Fatalf("POST: %v, Location %q, want 303 to the redirect with bucket, key and etag", a, loc)
		}
		if !strings.Contains(etag, "10 bytes") {
			t.Errorf("the backend holds %s", etag)
		}
	})

	t.Run("a Version 2 signed policy, as older SDKs sign it", func(t *testing.T) {
		policy := base64.StdEncoding.EncodeToString(fmt.Appendf(nil,
			`{"expiration": "%s", "conditions": [{"bucket": "%s"}, ["starts-with", "$key", "v2/"], {"acl": "private"}]}`,
			time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z"), bucket))
		m := hmac.New(sha1.New, []byte(e.Secret))
		m.Write([]byte(policy))
		fields := map[string]string{"key": "v2/file", "acl": "private", "AWSAccessKeyId": e.Access, "policy": policy,
			"signature": base64.StdEncoding.EncodeToString(m.Sum(nil))}
		if a := sendForm(t, e, form.URL, fields, "f", []byte("v2")); a.Status != http.StatusNoContent || len(a.Body) != 0 ||
			a.Header.Get("ETag") == "" || a.Header.Get("Location") != e.URL+"/"+bucket+"/v2/file" {
			t.Errorf("POST: %v, ETag %q, Location %q, want 204 with both", a, a.Header.Get("ETag"), a.Header.Get("Location"))
		}
		if g := sdkGet(t, e, bucket, "v2/file"); string(g.Body) != "v2" {
			t.Errorf("GET: %d %q", g.Status, g.Body)
		}
	})
}

// TestPostUploadNeedsWrite: a form signed by a user who may only read the
// bucket is refused before anything reaches the backend.
func TestPostUploadNeedsWrite(t *testing.T) {
	t.Parallel()
	r := newRelay(t, backendAddr(t))
	root := endpoint{URL: r.URL(), Access: testAccess, Secret: testSecret}
	photos, logs, public := newBucket(t, root), newBucket(t, root), newBucket(t, root)
	path := filepath.Join(t.TempDir(), "auth.yaml")
	os.WriteFile(path, []byte(authFile(photos, logs, public, photos, "")), 0o600)
	p := startProxy(t, proxyOptions{Backend: r.Addr(), Env: map[string]string{"AUTH_CONFIG": path}})
	bob := p.endpoint().withKeys("bob", "bob-secret-key-0002")
	alice := p.endpoint().withKeys("alice", "alice-secret-key-0001")

	n := r.total()
	f := presignedPost(t, bob, photos, map[string]any{"key": "bob.txt"})
	if a := sendForm(t, bob, f.URL, f.Fields, "bob.txt", []byte("bob")); a.Status != 403 || a.Code != "AccessDenied" {
		t.Errorf("bob's form for a bucket he may read: %v, want 403 AccessDenied", a)
	}
	if got := r.total(); got != n {
		t.Errorf("the refused form made %d backend requests", got-n)
	}
	f = presignedPost(t, alice, photos, map[string]any{"key": "alice.txt"})
	if a := sendForm(t, alice, f.URL, f.Fields, "alice.txt", []byte("alice")); a.Status != http.StatusNoContent {
		t.Errorf("alice's form for her bucket: %v, want 204", a)
	}
}
