package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// TestMetadataNamesAsS3SendsThem: boto3 builds a user's Metadata map
// from the header names it receives, so they must be S3's (x-amz-meta-*
// in lower case), on a miss, a hit, a HEAD and a relayed read alike, and
// the same as the backend's own answer. ETag keeps its spelling too, on
// both front-end servers' paths.
func TestMetadataNamesAsS3SendsThem(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	run := func(e endpoint, key string) map[string]map[string]string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "python3", "testdata/metadata.py")
		cmd.Env = append(awsEnv(t, e), "S3_E2E_BUCKET="+bucket, "S3_E2E_KEY="+key)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("python3 testdata/metadata.py: %v\n%s", err, stderr.String())
		}
		var res map[string]map[string]string
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("metadata.py output: %v\n%s", err, out)
		}
		return res
	}
	// Asked directly: the relay in between is a Go reverse proxy, which
	// canonicalises the names itself.
	direct := run(endpoint{URL: "http://" + backendAddr(t), Access: testAccess, Secret: testSecret}, "direct")
	through := run(e, "through")
	want := direct["get, first"]
	if _, ok := want["foo"]; !ok {
		t.Fatalf("the backend's own metadata has no \"foo\": %v", want)
	}
	for read, got := range through {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s through s3cache: Metadata %v, the backend's %v", read, got, want)
		}
	}

	// The exact names on the wire, for a hit (the lean loop) and a relayed
	// read.
	for _, url := range []string{objectURL(e, bucket, "through"), objectURL(e, bucket, "through") + "?response-content-type=text%2Fplain"} {
		head := rawHead(t, e, signedRequest(t, e, http.MethodGet, url, nil))
		for _, name := range []string{"\r\nETag: ", "\r\nx-amz-meta-foo: ", "\r\nx-amz-meta-camelkey: "} {
			if !strings.Contains(head, name) {
				t.Errorf("GET %s: no %q in the answer's head:\n%s", url, strings.TrimSpace(name), head)
			}
		}
	}
}

// rawHead sends req on a connection of its own and returns the answer's
// status line and header block as they came over the wire.
func rawHead(t *testing.T, e endpoint, req *http.Request) string {
	t.Helper()
	conn, err := net.Dial("tcp", e.Host())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the answer's head: %v", err)
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String()
		}
	}
}
