package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
)

// The objects of TestHitRatio: under the aws CLI's and boto3's 8 MiB
// multipart threshold, over it but under CACHE_MAX_OBJECT_BYTES' default
// 16 MiB (cached whole), and far over it (cached in blocks).
var hitRatioObjects = []struct {
	name string // subtest name and key
	size int
}{
	{"1KiB", 1 << 10},
	{"12MiB", 12 << 20},
	{"100MiB", 100 << 20},
}

// hitRatioEnv is the whole configuration of TestHitRatio's proxies: every
// other setting is the binary's default (CACHE_MAX_OBJECT_BYTES 16MiB,
// CACHE_BLOCK_BYTES 1MiB, CACHE_PREFETCH_BLOCKS 4). The cache holds all
// three objects at once.
var hitRatioEnv = map[string]string{
	"S3_ACCESS_KEY":   testAccess,
	"S3_SECRET_KEY":   testSecret,
	"S3_REGION":       testRegion,
	"CACHE_MAX_BYTES": "256MiB",
}

// downloadClient is a real client's way of downloading an object to a
// file, with the client's default transfer settings.
type downloadClient struct {
	name string
	// need fails the test when the client is not installed, saying how to
	// install it; nil for the Go libraries, which the test links.
	need func(t *testing.T)
	// download saves bucket/key, read through e, at the file dst.
	download func(t *testing.T, e endpoint, bucket, key, dst string) error
}

// downloadClients are the clients of TestHitRatio.
var downloadClients = []downloadClient{
	{name: "awscli", need: needPython("awscli", "pip install awscli"), download: awsCLIDownload},
	{name: "boto3", need: needPython("boto3", "pip install boto3"), download: boto3Download},
	{name: "sdkv2-manager", download: sdkManagerDownload},
	{name: "sdkv2-transfermanager", download: sdkTransferManagerDownload},
	{name: "minio-go", download: minioDownload},
	{name: "rclone", need: needRclone, download: rcloneDownload},
	{name: "s5cmd", need: needS5cmd, download: s5cmdDownload},
	{name: "js-sdk-v3", need: needJS, download: jsDownload("get")},
	{name: "js-sdk-v3-presigned", need: needJS, download: jsDownload("presigned")},
}

// hitRatioRow is what one client's two downloads of one object cost the
// backend, and what was asked on both sides of the proxy.
type hitRatioRow struct {
	client, object string
	size           int
	passes         []hitRatioPass
}

type hitRatioPass struct {
	backend    relayTraffic // for the object's path, counted at the backend's relay
	fromClient string       // the client's requests for the object (requestPattern)
	toBackend  string       // the proxy's requests for the object
	err        error        // the download failed, or its bytes were wrong
}

// TestHitRatio downloads objects of 1 KiB, 12 MiB and 100 MiB twice with
// each real client, each through a fresh proxy with the default cache
// settings. The first pass reads each byte from the backend at most once;
// the second is served from the cache (at most 1% of the object's bytes
// from the backend). Bytes are counted at the relay between the proxy and
// versitygw; a second relay between the client and the proxy records what
// the client asks. The log ends with a markdown table of the backend's
// bytes per client and pass, and the requests seen on both sides.
func TestHitRatio(t *testing.T) {
	t.Parallel()
	bucket, bodies := uploadHitRatioObjects(t)
	var rows []*hitRatioRow // a client that cannot run keeps rows without passes
	t.Cleanup(func() { t.Log("\n" + hitRatioReport(rows)) })
	for _, c := range downloadClients {
		t.Run(c.name, func(t *testing.T) {
			mine := make([]*hitRatioRow, len(hitRatioObjects))
			for i, obj := range hitRatioObjects {
				mine[i] = &hitRatioRow{client: c.name, object: obj.name, size: obj.size}
			}
			rows = append(rows, mine...)
			if c.need != nil {
				c.need(t)
			}
			back := newRelay(t, backendAddr(t))
			p := startProxy(t, proxyOptions{Backend: back.Addr(), Env: hitRatioEnv, Bare: true})
			front := newRelay(t, p.Addr)
			e := endpoint{URL: front.URL(), Access: testAccess, Secret: testSecret}
			dir := t.TempDir()
			for i, obj := range hitRatioObjects {
				row := mine[i]
				t.Run(obj.name, func(t *testing.T) {
					want := bodies[i]
					path := "/" + bucket + "/" + obj.name
					for pass := 1; pass <= 2; pass++ {
						front.quiet(t)
						back.quiet(t)
						fm, bm := front.mark(), back.mark()
						dst := filepath.Join(dir, fmt.Sprintf("%s.pass%d", obj.name, pass))
						err := c.download(t, e, bucket, obj.name, dst)
						if err == nil {
							err = sameFile(dst, want)
						}
						_ = os.Remove(dst)
						// A fill the proxy finishes after answering belongs to
						// this pass.
						front.quiet(t)
						back.quiet(t)
						row.passes = append(row.passes, hitRatioPass{
							backend:    back.since(bm, path),
							fromClient: requestPattern(front.records()[fm:], path),
							toBackend:  requestPattern(back.records()[bm:], path),
							err:        err,
						})
						if err != nil {
							t.Errorf("pass %d: %v", pass, err)
						}
					}
					// No client asks for a byte twice in one download (each
					// asks once, or for disjoint ranges), so pass 1 can read
					// each byte from the backend at most once.
					p1, p2 := row.passes[0].backend, row.passes[1].backend
					if p1.Bytes < int64(obj.size) && row.passes[0].err == nil {
						// Through an empty cache every byte comes from the
						// backend: anything less is a miscount, which would
						// make pass 2 look like hits.
						t.Errorf("pass 1 read %d body bytes from the backend for a %d-byte object through an empty cache: the relay's count is wrong",
							p1.Bytes, obj.size)
					}
					if p1.Bytes > int64(obj.size) {
						t.Errorf("pass 1 read %d body bytes from the backend in %d requests for a %d-byte object: some bytes more than once",
							p1.Bytes, p1.Requests, obj.size)
					}
					if p2.Bytes*100 > int64(obj.size) {
						t.Errorf("pass 2 read %d body bytes (%.1f%%) from the backend in %d requests, want at most 1%% of %d",
							p2.Bytes, 100*float64(p2.Bytes)/float64(obj.size), p2.Requests, obj.size)
					}
				})
			}
		})
	}
}

// uploadHitRatioObjects puts the objects straight into versitygw (not
// through a relay or a proxy) in a fresh bucket, and returns its name and
// their bodies, in the order of hitRatioObjects.
func uploadHitRatioObjects(t *testing.T) (string, [][]byte) {
	t.Helper()
	e := endpoint{URL: "http://" + backendAddr(t), Access: testAccess, Secret: testSecret}
	bucket := newBucket(t, e)
	bodies := make([][]byte, len(hitRatioObjects))
	for i, obj := range hitRatioObjects {
		bodies[i] = hitRatioBody(obj.name, obj.size)
		putBytes(t, e, bucket, obj.name, bodies[i])
	}
	return bucket, bodies
}

// hitRatioBody returns the size pseudo-random bytes of the object key.
func hitRatioBody(key string, size int) []byte {
	var seed [32]byte
	copy(seed[:], "hitratio/"+key)
	b := make([]byte, size)
	_, _ = rand.NewChaCha8(seed).Read(b)
	return b
}

// sameFile reports whether the file at path holds exactly want.
func sameFile(path string, want []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("downloaded file: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	off := 0
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if off+n > len(want) {
				return fmt.Errorf("downloaded file: longer than the %d bytes uploaded", len(want))
			}
			if !bytes.Equal(buf[:n], want[off:off+n]) {
				return fmt.Errorf("downloaded file: differs from the upload in bytes %d-%d", off, off+n-1)
			}
			off += n
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("downloaded file: %w", err)
		}
	}
	if off != len(want) {
		return fmt.Errorf("downloaded file: %d bytes, want %d", off, len(want))
	}
	return nil
}

// needPython fails the test unless python3 can import module.
func needPython(module, install string) func(t *testing.T) {
	return func(t *testing.T) {
		t.Helper()
		if out, err := exec.Command("python3", "-c", "import "+module).CombinedOutput(); err != nil {
			t.Fatalf("python3 cannot import %s (install: %s): %v\n%s", module, install, err, out)
		}
	}
}

// runClient runs name with args in the environment env and returns an error
// with its output if it fails.
func runClient(t *testing.T, env []string, dir, name string, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env, cmd.Dir = env, dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func awsCLIDownload(t *testing.T, e endpoint, bucket, key, dst string) error {
	_, err := awsCLI(t, e, "s3", "cp", "--no-progress", "s3://"+bucket+"/"+key, dst)
	return err
}

func boto3Download(t *testing.T, e endpoint, bucket, key, dst string) error {
	res := boto3Ops{}.run(t, e, []op{{Op: "download_file", Bucket: bucket, Key: key, Path: dst}})
	if res[0].Err != "" {
		return fmt.Errorf("boto3 download_file: %s", res[0])
	}
	return nil
}

func sdkManagerDownload(t *testing.T, e endpoint, bucket, key, dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	_, err = manager.NewDownloader(sdkClient(e)).Download(ctx, f, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	return errors.Join(err, f.Close())
}

func sdkTransferManagerDownload(t *testing.T, e endpoint, bucket, key, dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	_, err = transfermanager.New(sdkClient(e)).DownloadObject(ctx, &transfermanager.DownloadObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), WriterAt: f})
	return errors.Join(err, f.Close())
}

func minioDownload(t *testing.T, e endpoint, bucket, key, dst string) error {
	c, _ := minioClient(t, e)
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	return c.FGetObject(ctx, bucket, key, dst, minio.GetObjectOptions{})
}

func needRclone(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("rclone"); err != nil {
		t.Fatalf("rclone not found on PATH (install: apt-get install rclone): %v", err)
	}
}

// rcloneDownload runs `rclone copy` of the object into a directory of its
// own, with a remote configured by environment variables alone, and moves
// the file to dst. A failure is not retried (--retries 1), as with the
// other clients.
func rcloneDownload(t *testing.T, e endpoint, bucket, key, dst string) error {
	dir, err := os.MkdirTemp(filepath.Dir(dst), "rclone-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env := append(cleanEnv(nil),
		"RCLONE_CONFIG="+filepath.Join(dir, "rclone.conf"), // absent: nothing from the machine
		"RCLONE_CONFIG_HIT_TYPE=s3",
		"RCLONE_CONFIG_HIT_PROVIDER=Other",
		"RCLONE_CONFIG_HIT_ENDPOINT="+e.URL,
		"RCLONE_CONFIG_HIT_ACCESS_KEY_ID="+e.Access,
		"RCLONE_CONFIG_HIT_SECRET_ACCESS_KEY="+e.Secret,
		"RCLONE_CONFIG_HIT_REGION="+testRegion,
		"RCLONE_CONFIG_HIT_FORCE_PATH_STYLE=true",
	)
	out := filepath.Join(dir, "out")
	if err := runClient(t, env, "", "rclone", "copy", "--no-check-dest", "--retries", "1", "--low-level-retries", "1",
		"hit:"+bucket+"/"+key, out); err != nil {
		return err
	}
	return os.Rename(filepath.Join(out, key), dst)
}

const s5cmdInstall = "go install github.com/peak/s5cmd/v2@v2.3.0"

func needS5cmd(t *testing.T) {
	t.Helper()
	if _, err := installedBinary("s5cmd", "S3CACHE_E2E_S5CMD", s5cmdInstall); err != nil {
		t.Fatal(err)
	}
}

// s5cmdDownload runs `s5cmd cp`; a failure is not retried (-r 0), as with
// the other clients.
func s5cmdDownload(t *testing.T, e endpoint, bucket, key, dst string) error {
	bin, err := installedBinary("s5cmd", "S3CACHE_E2E_S5CMD", s5cmdInstall)
	if err != nil {
		return err
	}
	env := append(awsEnv(t, e), "AWS_REGION="+testRegion)
	return runClient(t, env, "", bin, "--endpoint-url", e.URL, "-r", "0", "cp", "s3://"+bucket+"/"+key, dst)
}

// jsDir holds the JavaScript client: download.mjs and the SDK's
// package.json and package-lock.json.
const jsDir = "testdata/js"

func needJS(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node not found on PATH (install: apt-get install nodejs npm): %v", err)
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@aws-sdk", "client-s3")); err != nil {
		t.Fatalf("the AWS SDK for JavaScript v3 is not installed (install: cd e2e/%s && npm ci): %v", jsDir, err)
	}
}

// jsDownload runs testdata/js/download.mjs in mode get (GetObject, the
// body streamed to the file) or presigned (a presigned URL fetched with
// node's fetch).
func jsDownload(mode string) func(t *testing.T, e endpoint, bucket, key, dst string) error {
	return func(t *testing.T, e endpoint, bucket, key, dst string) error {
		return runClient(t, awsEnv(t, e), jsDir, "node", "download.mjs", mode, bucket, key, dst)
	}
}

// requestPattern sums up the requests for path: each kind (method,
// query parameters, Range length, conditional and checksum headers) with
// how many were sent, in the order first seen, e.g.
// "HEAD →200 ×1; GET Range(8 MiB) If-Match →206 ×2".
func requestPattern(recs []relayRecord, path string) string {
	var kinds []string
	count := map[string]int{}
	for _, rec := range recs {
		if rec.Path != path {
			continue
		}
		k := requestKind(rec)
		if count[k] == 0 {
			kinds = append(kinds, k)
		}
		count[k]++
	}
	if len(kinds) == 0 {
		return "none"
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s ×%d", k, count[k])
	}
	return strings.Join(parts, "; ")
}

// requestKind describes a request by what matters to a cache: the method,
// the query (a presigned URL's X-Amz-* parameters as "presigned"), the
// length of its Range, its conditional and checksum headers, and the
// status of the answer (0: none).
func requestKind(rec relayRecord) string {
	words := []string{rec.Method}
	q, _ := url.ParseQuery(rec.Query)
	var params []string
	presigned := false
	for name, vs := range q {
		switch {
		case strings.EqualFold(name, "X-Amz-Signature"):
			presigned = true
		case strings.HasPrefix(strings.ToLower(name), "x-amz-") && !strings.EqualFold(name, "x-amz-checksum-mode"):
		case name == "partNumber":
			params = append(params, name+"=N") // one kind for every part
		default:
			params = append(params, name+"="+strings.Join(vs, ","))
		}
	}
	slices.Sort(params)
	if presigned {
		params = append([]string{"presigned"}, params...)
	}
	if len(params) > 0 {
		words = append(words, "?"+strings.Join(params, "&"))
	}
	if r := rec.Header.Get("Range"); r != "" {
		words = append(words, "Range("+rangeLength(r)+")")
	}
	for _, h := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if rec.Header.Get(h) != "" {
			words = append(words, h)
		}
	}
	if m := rec.Header.Get("X-Amz-Checksum-Mode"); m != "" {
		words = append(words, "x-amz-checksum-mode:"+m)
	}
	words = append(words, "→"+strconv.Itoa(rec.Status))
	return strings.Join(words, " ")
}

// rangeLength describes a single range: its length ("8 MiB") for
// bytes=a-b, where it starts ("8 MiB-") for bytes=a-; any other form as
// it is.
func rangeLength(h string) string {
	spec, ok := strings.CutPrefix(h, "bytes=")
	first, last, ok2 := strings.Cut(spec, "-")
	a, err := strconv.ParseInt(first, 10, 64)
	if !ok || !ok2 || err != nil {
		return h
	}
	if last == "" {
		return sizeText(a) + "-"
	}
	b, err := strconv.ParseInt(last, 10, 64)
	if err != nil || b < a {
		return h
	}
	return sizeText(b - a + 1)
}

// sizeText formats n bytes in the largest binary unit it reaches: "1 KiB",
// "12 MiB", "1.50 MiB", "100 B".
func sizeText(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		switch {
		case n >= u.size && n%u.size == 0:
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		case n >= u.size:
			return fmt.Sprintf("%.2f %s", float64(n)/float64(u.size), u.name)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// hitRatioReport is the markdown report of TestHitRatio: the bytes from
// the backend per client, object and pass, then the requests.
func hitRatioReport(rows []*hitRatioRow) string {
	var b strings.Builder
	b.WriteString("| client | object | pass 1: bytes from backend = share of object (requests) | pass 2: the same |\n")
	b.WriteString("| --- | --- | ---: | ---: |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s |", r.client, r.object)
		for i := range 2 {
			if i >= len(r.passes) {
				b.WriteString(" not run |")
				continue
			}
			p := r.passes[i]
			fmt.Fprintf(&b, " %d = %.2f%% (%d)", p.backend.Bytes, 100*float64(p.backend.Bytes)/float64(r.size), p.backend.Requests)
			if p.err != nil {
				b.WriteString(" download failed")
			}
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\nRequests for the object, client → proxy and proxy → backend:\n\n")
	b.WriteString("| client | object | pass | client → proxy | proxy → backend |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		for i, p := range r.passes {
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %s |\n", r.client, r.object, i+1, p.fromClient, p.toBackend)
		}
	}
	return b.String()
}
