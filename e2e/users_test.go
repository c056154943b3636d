package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// authFile is an AUTH_CONFIG for TestUsers in which bob may read bobReads.
// pad keeps its size fixed between versions, so that only SIGHUP (not the
// change poller) can notice an edit made with the old modification time.
func authFile(photos, logs, public, bobReads, pad string) string {
	return fmt.Sprintf(`users:
  - access_key: alice
    secret_key: alice-secret-key-0001
    buckets:
      %[1]s: read-write
      %[3]s: read-write
  - access_key: bob
    secret_key: bob-secret-key-0002
    buckets:
      %[2]s: read-write
      %[4]s: read
anonymous:
  %[3]s: read
# %[5]s
`, photos, logs, public, bobReads, pad)
}

// TestUsers runs the proxy with an AUTH_CONFIG of two users and anonymous
// read on one bucket, and drives it with aws-sdk-go-v2 and the aws CLI.
func TestUsers(t *testing.T) {
	t.Parallel()
	r := newRelay(t, backendAddr(t))
	root := endpoint{URL: r.URL(), Access: testAccess, Secret: testSecret}
	photos, logs, public := newBucket(t, root), newBucket(t, root), newBucket(t, root)

	path := filepath.Join(t.TempDir(), "auth.yaml")
	// bob starts with read on a bucket that does not exist, named as long
	// as photos.
	before := authFile(photos, logs, public, strings.Repeat("z", len(photos)), "padding")
	if err := os.WriteFile(path, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{Backend: r.Addr(), Env: map[string]string{"AUTH_CONFIG": path}})
	e := p.endpoint()
	alice := e.withKeys("alice", "alice-secret-key-0001")
	bob := e.withKeys("bob", "bob-secret-key-0002")
	secret := []byte("alice's photo, cached by the proxy")

	t.Run("alice writes and reads her bucket", func(t *testing.T) {
		putBytes(t, alice, photos, "cat.jpg", secret)
		for _, want := range []string{"MISS", "HIT"} {
			g := sdkGet(t, alice, photos, "cat.jpg")
			if g.Status != 200 || string(g.Body) != string(secret) {
				t.Fatalf("alice GET: %d %q", g.Status, g.Body)
			}
			wantXCache(t, "alice GET", g.Header, want)
		}
		mustAWS(t, alice, "s3", "cp", "--no-progress", "s3://"+photos+"/cat.jpg", filepath.Join(t.TempDir(), "cat"))
	})

	t.Run("bob cannot read it, cached or not", func(t *testing.T) {
		n := r.total()
		g := sdkGet(t, bob, photos, "cat.jpg")
		if g.Status != http.StatusForbidden || g.Code != "AccessDenied" || string(g.Body) != "" {
			t.Errorf("bob SDK GET: %d %s %q, want 403 AccessDenied", g.Status, g.Code, g.Body)
		}
		for _, res := range (boto3Ops{}).run(t, bob, []op{{Op: "get", Bucket: photos, Key: "cat.jpg"}, {Op: "put", Bucket: photos, Key: "bob.txt", Body: []byte("x")}}) {
			if res.Status != http.StatusForbidden || res.Code != "AccessDenied" || len(res.Body) != 0 {
				t.Errorf("bob boto3: %v, want 403 AccessDenied", res)
			}
		}
		out, err := awsCLI(t, bob, "s3", "cp", "--no-progress", "s3://"+photos+"/cat.jpg", "-")
		if err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(out, string(secret)) {
			t.Errorf("bob aws s3 cp: err %v, out %q; want a 403 and nothing served", err, out)
		}
		if _, err := awsCLI(t, bob, "s3", "cp", "--no-progress", "-", "s3://"+photos+"/bob.txt"); err == nil {
			t.Error("bob wrote into alice's bucket")
		}
		if got := r.total() - n; got != 0 {
			t.Errorf("the backend saw %d requests from bob, want 0", got)
		}
	})

	t.Run("ListBuckets shows only granted buckets", func(t *testing.T) {
		var res struct{ Buckets []struct{ Name string } }
		for _, tc := range []struct {
			who       endpoint
			want, not []string
		}{
			{bob, []string{logs}, []string{photos, public}},
			{alice, []string{photos, public}, []string{logs}},
		} {
			out := mustAWS(t, tc.who, "s3api", "list-buckets", "--output", "json")
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("list-buckets output %q: %v", out, err)
			}
			var names []string
			for _, b := range res.Buckets {
				names = append(names, b.Name)
			}
			if len(names) != len(tc.want) {
				t.Errorf("%s sees %v, want exactly %v", tc.who.Access, names, tc.want)
			}
			for _, w := range tc.want {
				if !slices.Contains(names, w) {
					t.Errorf("%s sees %v, want %s among them", tc.who.Access, names, w)
				}
			}
			for _, n := range tc.not {
				if slices.Contains(names, n) {
					t.Errorf("%s sees %s: %v", tc.who.Access, n, names)
				}
			}
		}
	})

	t.Run("anonymous GET on the public bucket only", func(t *testing.T) {
		putBytes(t, alice, public, "logo.png", []byte("public bytes"))
		if g := curl(t, objectURL(e, public, "logo.png")); g.Status != 200 || string(g.Body) != "public bytes" {
			t.Errorf("anonymous GET public: %d %q", g.Status, g.Body)
		}
		n := r.total()
		for _, u := range []string{objectURL(e, photos, "cat.jpg"), e.URL + "/objects/" + photos + "/cat.jpg"} {
			g := curl(t, u)
			if g.Status != http.StatusForbidden || g.xmlCode() != "AccessDenied" || strings.Contains(string(g.Body), string(secret)) {
				t.Errorf("anonymous GET %s: %d %q, want 403 AccessDenied", u, g.Status, g.Body)
			}
		}
		if g := curl(t, "-X", "PUT", "--data-binary", "x", objectURL(e, public, "graffiti")); g.Status != http.StatusForbidden {
			t.Errorf("anonymous PUT public: %d, want 403", g.Status)
		}
		if got := r.total() - n; got != 0 {
			t.Errorf("the backend saw %d anonymous requests that were denied, want 0", got)
		}
	})

	t.Run("SIGHUP grants bob read without a restart", func(t *testing.T) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		after := authFile(photos, logs, public, photos, "padding")
		if len(after) != len(before) {
			t.Fatalf("test bug: versions of the file differ in size: %d, %d", len(after), len(before))
		}
		if err := os.WriteFile(path, []byte(after), 0o600); err != nil {
			t.Fatal(err)
		}
		// Same size and time: the poller cannot tell; the signal must.
		if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		err = poll(t.Context(), 10*time.Second, func(context.Context) error {
			if !strings.Contains(p.output(), "auth config reloaded") {
				return fmt.Errorf("no reload logged")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%v; output:\n%s", err, p.output())
		}
		n := r.count(http.MethodGet, photos, "cat.jpg")
		g := sdkGet(t, bob, photos, "cat.jpg")
		if g.Status != 200 || string(g.Body) != string(secret) {
			t.Fatalf("bob GET after reload: %d %s", g.Status, g.Code)
		}
		wantXCache(t, "bob GET after reload", g.Header, "HIT")
		if got := r.count(http.MethodGet, photos, "cat.jpg") - n; got != 0 {
			t.Errorf("backend saw %d GETs, want 0 (a hit)", got)
		}
		if p.exited() {
			t.Fatal("the proxy exited on SIGHUP")
		}
	})

	t.Run("a bad file on change keeps the old config", func(t *testing.T) {
		bad := "users:\n  - access_key: bob\n    secret_key: bob-secret-key-0002\n    buckets:\n      " + photos + ": admin\n"
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		err := poll(t.Context(), 15*time.Second, func(context.Context) error {
			if !strings.Contains(p.output(), "auth config not reloaded") {
				return fmt.Errorf("no reload error logged")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%v; output:\n%s", err, p.output())
		}
		out := p.output()
		if !strings.Contains(out, path) || !strings.Contains(out, "line 5") {
			t.Errorf("reload error does not name the file and line:\n%s", out)
		}
		for _, s := range []string{"alice-secret-key-0001", "bob-secret-key-0002"} {
			if strings.Contains(out, s) {
				t.Errorf("the proxy logged a secret")
			}
		}
		if g := sdkGet(t, bob, photos, "cat.jpg"); g.Status != 200 {
			t.Errorf("bob GET after a bad reload: %d %s, want 200 (old config kept)", g.Status, g.Code)
		}
		if g := sdkGet(t, alice, photos, "cat.jpg"); g.Status != 200 {
			t.Errorf("alice GET after a bad reload: %d %s, want 200 (old config kept)", g.Status, g.Code)
		}
	})
}
