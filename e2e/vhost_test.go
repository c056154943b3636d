package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// vhostDomain is the virtual-host domain the proxy is configured with.
// Its names never reach DNS: the clients below dial the proxy directly.
const vhostDomain = "s3.example.test"

// vhostClient returns an aws-sdk-go-v2 client that addresses buckets
// virtual-hosted style under vhostDomain and connects every such name to
// the proxy's loopback address.
func vhostClient(e endpoint) *s3.Client {
	addr := e.Host()
	_, port, _ := net.SplitHostPort(addr)
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return s3.New(s3.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String("http://" + vhostDomain + ":" + port),
		UsePathStyle:     false,
		Credentials:      awscreds.NewStaticCredentialsProvider(e.Access, e.Secret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: dial, DisableCompression: true}},
	})
}

// TestVirtualHost: with S3_VIRTUAL_HOST_DOMAINS set, bucket.domain/key
// works for writing, reading (MISS then HIT) and listing, shares its cache
// entries with path style, and the bucket named "objects" works too.
func TestVirtualHost(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"S3_VIRTUAL_HOST_DOMAINS": vhostDomain})
	e := h.endpoint()
	vc := vhostClient(e)
	ctx := t.Context()

	buckets := []string{bucketName(t), "objects"}
	for _, bucket := range buckets {
		t.Run(bucket, func(t *testing.T) {
			if _, err := vc.CreateBucket(ctx, createBucketInput(bucket)); err != nil {
				t.Fatalf("CreateBucket %s virtual-hosted: %v", bucket, err)
			}
			const key = "dir/a b+c.txt"
			body := randomBytes(t, 8<<10)
			if _, err := vc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			for _, want := range []string{"MISS", "HIT"} {
				out, err := vc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
				if err != nil {
					t.Fatalf("GetObject: %v", err)
				}
				got, err := io.ReadAll(out.Body)
				out.Body.Close()
				if err != nil {
					t.Fatalf("reading GetObject body: %v", err)
				}
				if !bytes.Equal(got, body) {
					t.Fatalf("GetObject: %d bytes, want the %d stored", len(got), len(body))
				}
				wantXCache(t, "virtual-hosted GET", rawHeader(out.ResultMetadata), want)
			}
			list, err := vc.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
			if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != key {
				t.Fatalf("ListObjectsV2: %v, %+v", err, list)
			}
			if n := h.relay.count(http.MethodGet, bucket, key); n != 1 {
				t.Errorf("backend GETs = %d, want 1", n)
			}
			// The same object through curl, Host header and all.
			r := curl(t, append(sigv4(e), "--connect-to", bucket+"."+vhostDomain+":"+port(e)+":"+e.Host(),
				"http://"+bucket+"."+vhostDomain+":"+port(e)+"/dir/a%20b%2Bc.txt")...)
			if r.Status != 200 || !bytes.Equal(r.Body, body) {
				t.Errorf("curl virtual-hosted GET: %d, %d bytes", r.Status, len(r.Body))
			}
			wantXCache(t, "curl virtual-hosted GET", r.Header, "HIT")
			if bucket != "objects" { // path style reserves "objects" for the /objects API
				wantXCache(t, "path-style GET of the same object", sdkGet(t, e, bucket, key).Header, "HIT")
			}
			if _, err := vc.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
				t.Fatalf("DeleteObject: %v", err)
			}
			if _, err := vc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err == nil {
				t.Error("GetObject after DeleteObject: no error, want NoSuchKey")
			} else if status, code, _ := sdkErr(err); status != 404 || code != "NoSuchKey" {
				t.Errorf("GetObject after DeleteObject: %d %s, want 404 NoSuchKey", status, code)
			}
		})
	}
	t.Run("boto3 and the aws CLI", func(t *testing.T) {
		// The bucket named "objects" (created above) is reserved in path
		// style, so these only pass if the clients really address it
		// virtual-hosted style.
		const bucket = "objects"
		ve := e
		ve.URL = "http://" + vhostDomain + ":" + port(e)
		env := append(awsEnv(t, ve), "S3_E2E_ADDRESSING=virtual", "S3_E2E_VHOST_DOMAIN="+vhostDomain)
		python := func(stdin []byte, args ...string) []byte {
			t.Helper()
			cctx, cancel := context.WithTimeout(ctx, cmdTimeout)
			defer cancel()
			cmd := exec.CommandContext(cctx, "python3", append([]string{"testdata/with_hosts.py"}, args...)...)
			cmd.Env = env
			cmd.Stdin = bytes.NewReader(stdin)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("python3 %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
			}
			return out
		}

		body := []byte("put and read by boto3, virtual-hosted")
		in, _ := json.Marshal([]op{
			{Op: "put", Bucket: bucket, Key: "boto3.txt", Body: body},
			{Op: "get", Bucket: bucket, Key: "boto3.txt"},
			{Op: "get", Bucket: bucket, Key: "boto3.txt"},
			{Op: "list", Bucket: bucket},
		})
		var res []opResult
		if err := json.Unmarshal(python(in, "testdata/s3ops.py"), &res); err != nil || len(res) != 4 {
			t.Fatalf("s3ops.py: %v, %v", err, res)
		}
		if res[0].Status != 200 || res[1].Status != 200 || !bytes.Equal(res[2].Body, body) || res[1].XCache != "MISS" || res[2].XCache != "HIT" {
			t.Errorf("boto3 virtual-hosted put, get, get: %v", res[:3])
		}
		if !slices.Equal(res[3].Keys, []string{"boto3.txt"}) {
			t.Errorf("boto3 virtual-hosted list: %v", res[3])
		}

		// The aws CLI, configured for virtual-hosted addressing.
		for _, kv := range env {
			if path, ok := strings.CutPrefix(kv, "AWS_CONFIG_FILE="); ok {
				if err := os.WriteFile(path, []byte("[default]\ns3 =\n    addressing_style = virtual\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		got := python(nil, "-m", "awscli", "--endpoint-url", ve.URL, "s3", "cp", "s3://"+bucket+"/boto3.txt", "-")
		if !bytes.Equal(got, body) {
			t.Errorf("aws s3 cp virtual-hosted: %q, want %q", got, body)
		}
		if ls := python(nil, "-m", "awscli", "--endpoint-url", ve.URL, "s3", "ls", "s3://"+bucket+"/"); !bytes.Contains(ls, []byte("boto3.txt")) {
			t.Errorf("aws s3 ls virtual-hosted: %q", ls)
		}
		if n := h.relay.count(http.MethodGet, bucket, "boto3.txt"); n != 1 {
			t.Errorf("backend GETs of the object = %d, want 1 (one fill, then hits)", n)
		}
	})
	t.Run("invalid bucket name in the host", func(t *testing.T) {
		r := curl(t, append(sigv4(e), "--connect-to", "Bad_Name."+vhostDomain+":"+port(e)+":"+e.Host(),
			"http://Bad_Name."+vhostDomain+":"+port(e)+"/k")...)
		if r.Status != 400 || r.xmlCode() != "InvalidBucketName" {
			t.Errorf("got %d %s, want 400 InvalidBucketName", r.Status, r.Body)
		}
	})
}

// port returns the port of e.
func port(e endpoint) string {
	_, p, _ := net.SplitHostPort(e.Host())
	return p
}
