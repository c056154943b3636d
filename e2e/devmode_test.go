package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

// devKeys are the keys `s3cache -dev` prints when none are configured.
const devKeys = "minioadmin"

// startDev starts `s3cache -dev` as a newcomer does: nothing configured
// but a data directory of its own. It returns the proxy and its endpoint
// with the keys the banner prints.
func startDev(t *testing.T) (*proxyProc, endpoint) {
	t.Helper()
	p := startProxy(t, proxyOptions{
		Args: []string{"-dev"},
		Bare: true,
		Env:  map[string]string{"DEV_DATA_DIR": t.TempDir()},
	})
	return p, endpoint{URL: "http://" + p.Addr, Access: devKeys, Secret: devKeys}
}

// s3ObjectHeaders are the response headers S3 may send with an object's
// GET or HEAD, besides x-amz-meta-* and x-amz-checksum-*; X-Cache is the
// proxy's. Anything else in an answer is not S3's: a request header
// stored as metadata, say.
var s3ObjectHeaders = []string{
	"Accept-Ranges", "Cache-Control", "Content-Disposition", "Content-Encoding",
	"Content-Language", "Content-Length", "Content-Range", "Content-Type", "Date",
	"Etag", "Expires", "Last-Modified", "Server", "X-Amz-Id-2", "X-Amz-Request-Id",
	"X-Amz-Storage-Class", "X-Amz-Version-Id", "X-Amz-Tagging-Count",
	"X-Amz-Mp-Parts-Count", "X-Amz-Server-Side-Encryption", "X-Amz-Delete-Marker",
	"X-Amz-Restore", "X-Amz-Expiration", "X-Amz-Website-Redirect-Location",
	"X-Amz-Object-Lock-Mode", "X-Amz-Object-Lock-Retain-Until-Date",
	"X-Amz-Object-Lock-Legal-Hold", "X-Amz-Replication-Status",
	"X-Cache", "Connection", "Keep-Alive", "Transfer-Encoding",
}

// wantS3Object checks an object's answer: only S3's headers, no
// aws-chunked Content-Encoding, and exactly the user metadata meta
// (names in lower case, values as sent).
func wantS3Object(t *testing.T, what string, h http.Header, meta map[string]string) {
	t.Helper()
	got := map[string]string{}
	for name, v := range h {
		lower := strings.ToLower(name)
		switch {
		case strings.HasPrefix(lower, "x-amz-meta-"):
			got[strings.TrimPrefix(lower, "x-amz-meta-")] = v[0]
		case strings.HasPrefix(lower, "x-amz-checksum-"), slices.Contains(s3ObjectHeaders, http.CanonicalHeaderKey(name)):
		default:
			t.Errorf("%s: answer has %s: %q, which S3 does not send with an object", what, name, v)
		}
	}
	if ce := strings.ToLower(h.Get("Content-Encoding")); strings.Contains(ce, "aws-chunked") {
		t.Errorf("%s: Content-Encoding: %s; aws-chunked frames a request, it is not stored", what, ce)
	}
	if !maps.Equal(got, meta) {
		t.Errorf("%s: user metadata %v, want %v", what, got, meta)
	}
}

// curlRead GETs or HEADs url with curl, signed with e's keys.
func curlRead(t *testing.T, e endpoint, method, url string) httpResult {
	t.Helper()
	if method == http.MethodHead {
		return curl(t, append(sigv4(e), "-I", url)...)
	}
	return curl(t, append(sigv4(e), url)...)
}

// TestDevModeLikeS3 uploads through `s3cache -dev` with each client the
// suite drives against versitygw and checks that what comes back is what
// S3 answers: user metadata exactly as sent (names in lower case) and no
// request header stored with the object; listings without the prefixes
// of deleted keys; multipart ETags; CopyObject's metadata directives;
// ranges, HEAD and NoSuchKey; versioning.
func TestDevModeLikeS3(t *testing.T) {
	t.Parallel()
	_, e := startDev(t)
	bucket := newBucket(t, e)
	ctx := t.Context()
	sdk := sdkClient(e)
	body := []byte("0123456789 dev-mode bytes")
	// What S3 answers for x-amz-meta-Foo: Bar and x-amz-meta-camel-Key:
	// Value With Spaces.
	wantMeta := map[string]string{"foo": "Bar", "camel-key": "Value With Spaces"}

	// Each client's upload of body with that metadata, Content-Type
	// text/x-dev and Cache-Control max-age=60.
	uploads := []struct {
		name string
		put  func(t *testing.T, key string)
	}{
		{"aws cli", func(t *testing.T, key string) {
			src := filepath.Join(t.TempDir(), "src")
			if err := os.WriteFile(src, body, 0o644); err != nil {
				t.Fatal(err)
			}
			mustAWS(t, e, "s3api", "put-object", "--bucket", bucket, "--key", key, "--body", src,
				"--metadata", `{"Foo":"Bar","camel-Key":"Value With Spaces"}`,
				"--content-type", "text/x-dev", "--cache-control", "max-age=60")
		}},
		{"aws cli s3 cp", func(t *testing.T, key string) {
			src := filepath.Join(t.TempDir(), "src")
			if err := os.WriteFile(src, body, 0o644); err != nil {
				t.Fatal(err)
			}
			mustAWS(t, e, "s3", "cp", "--no-progress", src, "s3://"+bucket+"/"+key,
				"--metadata", `{"Foo":"Bar","camel-Key":"Value With Spaces"}`,
				"--content-type", "text/x-dev", "--cache-control", "max-age=60")
		}},
		{"aws-sdk-go-v2", func(t *testing.T, key string) {
			putObject(t, e, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body),
				Metadata:    map[string]string{"Foo": "Bar", "camel-Key": "Value With Spaces"},
				ContentType: aws.String("text/x-dev"), CacheControl: aws.String("max-age=60")})
		}},
		{"minio-go", func(t *testing.T, key string) {
			c, _ := minioClient(t, e)
			if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{
				UserMetadata: map[string]string{"Foo": "Bar", "camel-Key": "Value With Spaces"},
				ContentType:  "text/x-dev", CacheControl: "max-age=60",
			}); err != nil {
				t.Fatalf("minio-go PutObject: %v", err)
			}
		}},
		{"curl unsigned payload", func(t *testing.T, key string) {
			res := curl(t, append(sigv4(e), "-X", "PUT", "--data-binary", string(body),
				"-H", "x-amz-meta-Foo: Bar", "-H", "x-amz-meta-camel-Key: Value With Spaces",
				"-H", "Content-Type: text/x-dev", "-H", "Cache-Control: max-age=60", objectURL(e, bucket, key))...)
			if res.Status != 200 {
				t.Fatalf("curl PUT: %d %s", res.Status, res.Body)
			}
		}},
		{"curl objects API", func(t *testing.T, key string) {
			res := curl(t, append(sigv4(e), "-X", "PUT", "--data-binary", string(body),
				"-H", "x-amz-meta-Foo: Bar", "-H", "x-amz-meta-camel-Key: Value With Spaces",
				"-H", "Content-Type: text/x-dev", "-H", "Cache-Control: max-age=60", objectsURL(e, bucket, key))...)
			if res.Status != 200 {
				t.Fatalf("curl PUT /objects: %d %s", res.Status, res.Body)
			}
		}},
	}
	for _, u := range uploads {
		t.Run("metadata/"+u.name, func(t *testing.T) {
			key := "meta/" + strings.ReplaceAll(u.name, " ", "-")
			u.put(t, key)
			for _, method := range []string{"HEAD", "GET", "GET"} { // misses, then a hit
				res := curlRead(t, e, method, objectURL(e, bucket, key))
				what := method + " " + key + " (X-Cache: " + res.Header.Get("X-Cache") + ")"
				if res.Status != 200 {
					t.Fatalf("%s: %d %s", what, res.Status, res.Body)
				}
				if method == "GET" && !bytes.Equal(res.Body, body) {
					t.Errorf("%s: body %q, want %q", what, res.Body, body)
				}
				wantS3Object(t, what, res.Header, wantMeta)
				if got := res.Header.Get("Content-Type"); got != "text/x-dev" {
					t.Errorf("%s: Content-Type %q, want text/x-dev", what, got)
				}
				if got := res.Header.Get("Cache-Control"); got != "max-age=60" {
					t.Errorf("%s: Cache-Control %q, want max-age=60", what, got)
				}
			}
			// The names as they come over the wire: in lower case.
			head := rawHead(t, e, signedRequest(t, e, http.MethodGet, objectURL(e, bucket, key), nil))
			for _, name := range []string{"\r\nx-amz-meta-foo: Bar\r\n", "\r\nx-amz-meta-camel-key: Value With Spaces\r\n"} {
				if !strings.Contains(head, name) {
					t.Errorf("GET %s: no %q in the answer's head:\n%s", key, strings.TrimSpace(name), head)
				}
			}
		})
	}

	t.Run("metadata/boto3", func(t *testing.T) {
		// testdata/metadata.py, as TestMetadataNamesAsS3SendsThem runs it
		// against versitygw: boto3's Metadata dicts on a miss, a hit, HEADs
		// and a relayed read.
		cmdCtx, cancel := context.WithTimeout(ctx, cmdTimeout)
		defer cancel()
		cmd := exec.CommandContext(cmdCtx, "python3", "testdata/metadata.py")
		cmd.Env = append(awsEnv(t, e), "S3_E2E_BUCKET="+bucket, "S3_E2E_KEY=meta/boto3")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("python3 testdata/metadata.py: %v\n%s", err, stderr.String())
		}
		var reads map[string]map[string]string
		if err := json.Unmarshal(out, &reads); err != nil {
			t.Fatalf("metadata.py output: %v\n%s", err, out)
		}
		want := map[string]string{"foo": "bar", "camelkey": "v"}
		if len(reads) == 0 {
			t.Fatal("metadata.py reported no reads")
		}
		for read, got := range reads {
			if !maps.Equal(got, want) {
				t.Errorf("%s: boto3 Metadata %v, want %v", read, got, want)
			}
		}
		res := curl(t, append(sigv4(e), objectURL(e, bucket, "meta/boto3"))...)
		wantS3Object(t, "GET meta/boto3", res.Header, want)
	})

	t.Run("browser POST upload", func(t *testing.T) {
		form := presignedPost(t, e, bucket, map[string]any{"key": "post/${filename}"})
		if got := sendForm(t, e, form.URL, form.Fields, "form.txt", body); got.Status != 204 {
			t.Fatalf("POST: %v, want 204", got)
		}
		res := curl(t, append(sigv4(e), objectURL(e, bucket, "post/form.txt"))...)
		if res.Status != 200 || !bytes.Equal(res.Body, body) {
			t.Fatalf("GET post/form.txt: %d %q", res.Status, res.Body)
		}
		wantS3Object(t, "GET post/form.txt", res.Header, map[string]string{})
	})

	t.Run("listing right after aws s3 rm --recursive", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(src, body, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"src/a/one.txt", "src/two.txt", "keep/three.txt"} {
			mustAWS(t, e, "s3", "cp", "--no-progress", src, "s3://"+bucket+"/rm/"+key)
		}
		before := mustAWS(t, e, "s3", "ls", "s3://"+bucket+"/rm/")
		if !strings.Contains(before, "PRE src/") || !strings.Contains(before, "PRE keep/") {
			t.Fatalf("aws s3 ls before rm: %q, want PRE src/ and PRE keep/", before)
		}
		mustAWS(t, e, "s3", "rm", "--recursive", "s3://"+bucket+"/rm/src/")
		after := mustAWS(t, e, "s3", "ls", "s3://"+bucket+"/rm/")
		if strings.Contains(after, "src/") || !strings.Contains(after, "PRE keep/") {
			t.Errorf("aws s3 ls after aws s3 rm --recursive .../src/: %q, want only PRE keep/", after)
		}
	})

	t.Run("listing right after DeleteObjects", func(t *testing.T) {
		keys := []string{"del/x/1", "del/x/2", "del/x/y/3"}
		for _, k := range keys {
			putBytes(t, e, bucket, k, body)
		}
		var ids []types.ObjectIdentifier
		for _, k := range append(keys, "del/never-written") {
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(k)})
		}
		out, err := sdk.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: ids}})
		if err != nil {
			t.Fatalf("DeleteObjects: %v", err)
		}
		if len(out.Deleted) != 4 || len(out.Errors) != 0 {
			t.Errorf("DeleteObjects: %d deleted, errors %v; want 4 deleted (a missing key too), none failed", len(out.Deleted), out.Errors)
		}
		l, err := sdk.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("del/"), Delimiter: aws.String("/")})
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		if len(l.Contents) != 0 || len(l.CommonPrefixes) != 0 {
			t.Errorf("ListObjectsV2 del/ with delimiter /: %d keys, prefixes %v; want none", len(l.Contents), l.CommonPrefixes)
		}
	})

	t.Run("multipart ETag", func(t *testing.T) {
		const key = "mp/object"
		up, err := sdk.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Metadata: map[string]string{"Part": "Yes"}})
		if err != nil {
			t.Fatalf("CreateMultipartUpload: %v", err)
		}
		part1, part2 := bytes.Repeat([]byte("a"), 5<<20), []byte("the last part")
		var parts []types.CompletedPart
		for i, p := range [][]byte{part1, part2} {
			n := int32(i + 1)
			out, err := sdk.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key),
				UploadId: up.UploadId, PartNumber: &n, Body: bytes.NewReader(p)})
			if err != nil {
				t.Fatalf("UploadPart %d: %v", n, err)
			}
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: &n})
		}
		done, err := sdk.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
			UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		if err != nil {
			t.Fatalf("CompleteMultipartUpload: %v", err)
		}
		etag := aws.ToString(done.ETag)
		if !strings.HasSuffix(etag, `-2"`) {
			t.Errorf("CompleteMultipartUpload ETag %s, want S3's MD5 of the parts' MD5s with -2", etag)
		}
		for _, method := range []string{"HEAD", "GET"} {
			res := curlRead(t, e, method, objectURL(e, bucket, key))
			if got := res.Header.Get("ETag"); got != etag {
				t.Errorf("%s: ETag %s, CompleteMultipartUpload answered %s", method, got, etag)
			}
			wantS3Object(t, method+" "+key, res.Header, map[string]string{"part": "Yes"})
			if method == "GET" && !bytes.Equal(res.Body, append(slices.Clone(part1), part2...)) {
				t.Errorf("GET %s: %d bytes, not the parts in order", key, len(res.Body))
			}
		}
	})

	t.Run("CopyObject", func(t *testing.T) {
		putObject(t, e, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("copy/src"), Body: bytes.NewReader(body),
			Metadata: map[string]string{"Origin": "src"}, ContentType: aws.String("text/x-src")})
		src := aws.String(bucket + "/copy/src")
		if _, err := sdk.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("copy/same"), CopySource: src}); err != nil {
			t.Fatalf("CopyObject: %v", err)
		}
		if _, err := sdk.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("copy/replaced"), CopySource: src,
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"New": "one"},
			ContentType: aws.String("text/x-new")}); err != nil {
			t.Fatalf("CopyObject REPLACE: %v", err)
		}
		for _, c := range []struct {
			key, contentType string
			meta             map[string]string
		}{
			{"copy/same", "text/x-src", map[string]string{"origin": "src"}},
			{"copy/replaced", "text/x-new", map[string]string{"new": "one"}},
		} {
			res := curl(t, append(sigv4(e), objectURL(e, bucket, c.key))...)
			if res.Status != 200 || !bytes.Equal(res.Body, body) {
				t.Fatalf("GET %s: %d %q", c.key, res.Status, res.Body)
			}
			wantS3Object(t, "GET "+c.key, res.Header, c.meta)
			if got := res.Header.Get("Content-Type"); got != c.contentType {
				t.Errorf("GET %s: Content-Type %q, want %q", c.key, got, c.contentType)
			}
		}
	})

	t.Run("range, HEAD and NoSuchKey", func(t *testing.T) {
		putBytes(t, e, bucket, "plain", body)
		res := curl(t, append(sigv4(e), "-H", "Range: bytes=2-4", objectURL(e, bucket, "plain"))...)
		if res.Status != 206 || string(res.Body) != "234" || res.Header.Get("Content-Range") != "bytes 2-4/25" {
			t.Errorf("GET Range: bytes=2-4: %d %q Content-Range %q, want 206 \"234\" bytes 2-4/25",
				res.Status, res.Body, res.Header.Get("Content-Range"))
		}
		res = curlRead(t, e, "HEAD", objectURL(e, bucket, "plain"))
		if res.Status != 200 || res.Header.Get("Content-Length") != "25" {
			t.Errorf("HEAD: %d Content-Length %q; want 200, 25", res.Status, res.Header.Get("Content-Length"))
		}
		for _, url := range []string{objectURL(e, bucket, "never/written"), objectsURL(e, bucket, "never/written")} {
			res = curl(t, append(sigv4(e), url)...)
			if res.Status != 404 || res.xmlCode() != "NoSuchKey" || res.Header.Get("Content-Type") != "application/xml" {
				t.Errorf("GET %s: %d %s, Content-Type %q; want 404 NoSuchKey in application/xml",
					url, res.Status, res.Body, res.Header.Get("Content-Type"))
			}
		}
	})

	t.Run("versioning", func(t *testing.T) {
		vb := newBucket(t, e)
		if _, err := sdk.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &vb,
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
			t.Fatalf("PutBucketVersioning: %v", err)
		}
		var ids []string
		for _, b := range []string{"one", "two"} {
			out, err := sdk.PutObject(ctx, &s3.PutObjectInput{Bucket: &vb, Key: aws.String("v"), Body: strings.NewReader(b)})
			if err != nil {
				t.Fatalf("PutObject %s: %v", b, err)
			}
			ids = append(ids, aws.ToString(out.VersionId))
		}
		if ids[0] == "" || ids[0] == ids[1] {
			t.Fatalf("version ids %q, want two different ones", ids)
		}
		for _, c := range []struct{ versionID, want string }{{ids[0], "one"}, {ids[1], "two"}, {"", "two"}} {
			in := &s3.GetObjectInput{Bucket: &vb, Key: aws.String("v")}
			if c.versionID != "" {
				in.VersionId = aws.String(c.versionID)
			}
			out, err := sdk.GetObject(ctx, in)
			if err != nil {
				t.Fatalf("GetObject versionId=%q: %v", c.versionID, err)
			}
			var got bytes.Buffer
			got.ReadFrom(out.Body)
			out.Body.Close()
			if got.String() != c.want {
				t.Errorf("GetObject versionId=%q: %q, want %q", c.versionID, got.String(), c.want)
			}
		}
		l, err := sdk.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &vb})
		if err != nil {
			t.Fatalf("ListObjectVersions: %v", err)
		}
		if len(l.Versions) != 2 {
			t.Errorf("ListObjectVersions: %d versions, want 2", len(l.Versions))
		}
	})

	// TestBackendDirect's script, with every client.
	for _, c := range allClients {
		t.Run("script/"+c.name(), func(t *testing.T) {
			putGetListDelete(t, c, e, bucket, "script/"+c.name(), body)
		})
	}
}

// readmeBlock is a fenced code block of README.md.
type readmeBlock struct {
	lang, code string
}

// readmeDevExamples returns the code blocks of README.md's "## Examples"
// section that run against `s3cache -dev`: those before "In front of your
// own backend".
func readmeDevExamples(t *testing.T) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Examples\n")
	if !ok {
		t.Fatal(`README.md has no "## Examples" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	section, _, ok = strings.Cut(section, "\nIn front of your own backend")
	if !ok {
		t.Fatal(`README.md's examples no longer end with "In front of your own backend"`)
	}
	var blocks []readmeBlock
	for {
		_, rest, ok := strings.Cut(section, "```")
		if !ok {
			return blocks
		}
		lang, rest, _ := strings.Cut(rest, "\n")
		code, rest, ok := strings.Cut(rest, "```")
		if !ok {
			t.Fatal("README.md: a code block in the examples is not closed")
		}
		blocks = append(blocks, readmeBlock{lang: strings.TrimSpace(lang), code: code})
		section = rest
	}
}

// runExample runs code (sh or python) in dir as a user would, with e's
// keys in the environment and `aws` on the PATH, and returns its combined
// output; the test fails if it exits non-zero.
func runExample(t *testing.T, e endpoint, dir, lang, code string) string {
	t.Helper()
	bin := t.TempDir()
	// The suite runs the aws CLI as a Python module; a user types aws.
	if err := os.WriteFile(filepath.Join(bin, "aws"), []byte("#!/bin/sh\nexec python3 -m awscli \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	var cmd *exec.Cmd
	switch lang {
	case "sh":
		cmd = exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", code)
	case "python":
		cmd = exec.CommandContext(ctx, "python3", "-")
		cmd.Stdin = strings.NewReader(code)
	default:
		t.Fatalf("an example in %q, which this test cannot run:\n%s", lang, code)
	}
	cmd.Dir = dir
	cmd.Env = append(awsEnv(t, e), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s example failed: %v\n%s\noutput:\n%s", lang, err, code, out)
	}
	return string(out)
}

// wantInOrder fails the test unless out contains each of want, in order.
func wantInOrder(t *testing.T, what, out string, want []string) {
	t.Helper()
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("%s: no %q (in this order: %q) in the output:\n%s", what, w, want, out)
			return
		}
		rest = rest[i+len(w):]
	}
}

// TestDevModeREADMEExamples runs README.md's examples, in order and as
// written, against `s3cache -dev` (its address in place of
// 127.0.0.1:8080), and checks that each does what its comments say.
func TestDevModeREADMEExamples(t *testing.T) {
	t.Parallel()
	p, e := startDev(t)
	dir := t.TempDir()
	// The first example makes ./big.iso, 20 MiB: a multipart upload and
	// a download in parts.
	copyPath := filepath.Join(dir, "big-copy.iso")
	// What each example must print, in order, found by a line of its code.
	checks := []struct {
		code  string
		want  []string
		after func(t *testing.T)
		ran   bool
	}{
		{code: "s3 cp ./big.iso", want: []string{"make_bucket: demo", "upload: ./big.iso to s3://demo/big.iso",
			"big.iso", "download: s3://demo/big.iso", "delete: s3://demo/big.iso"},
			after: func(t *testing.T) {
				big, err := os.ReadFile(filepath.Join(dir, "big.iso"))
				if err != nil || len(big) != 20<<20 {
					t.Fatalf("the example's big.iso: %d bytes (%v), want 20 MiB", len(big), err)
				}
				if got, err := os.ReadFile(copyPath); err != nil || !bytes.Equal(got, big) {
					t.Errorf("the downloaded big.iso: %d bytes (%v), want the %d uploaded", len(got), err, len(big))
				}
			}},
		{code: "grep -i x-cache", want: []string{"X-Cache: MISS", "X-Cache: HIT"}},
		{code: `Key="a//b"`, want: []string{"b'any key works'"}},
		{code: "/objects/demo/notes/today.txt", want: []string{"HTTP/1.1 200", "ETag: ", "HTTP/1.1 200", "X-Cache: MISS", "hi there",
			"HTTP/1.1 200", "X-Cache: HIT", "HTTP/1.1 204", "HTTP/1.1 404", "<Code>NoSuchKey</Code>"}},
		{code: "generate_presigned_post", want: []string{"HTTP/1.1 204", "Location: "}},
	}
	blocks := readmeDevExamples(t)
	for i, b := range blocks {
		code := strings.ReplaceAll(b.code, "127.0.0.1:8080", p.Addr)
		code = strings.ReplaceAll(code, "/tmp/big.iso", copyPath)
		t.Run(fmt.Sprintf("%d %s", i+1, b.lang), func(t *testing.T) {
			out := runExample(t, e, dir, b.lang, code)
			for j := range checks {
				if c := &checks[j]; strings.Contains(b.code, c.code) {
					c.ran = true
					wantInOrder(t, "example with "+c.code, out, c.want)
					if c.after != nil {
						c.after(t)
					}
				}
			}
		})
	}
	for _, c := range checks {
		if !c.ran {
			t.Errorf("README.md has no example with %q any more: update this test", c.code)
		}
	}
}
