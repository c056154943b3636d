package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// testAuth is the configuration of the authorization tests: alice owns
// photos, bob reads logs, carol reads photos, root may do everything.
func testAuth(t testing.TB) *AuthConfig {
	t.Helper()
	a, err := NewAuthConfig([]User{
		{AccessKey: "alice", SecretKey: "alice-secret", Buckets: map[string]Permission{"photos": PermReadWrite, "logs": PermRead}},
		{AccessKey: "bob", SecretKey: "bob-secret", Buckets: map[string]Permission{"logs": PermReadWrite}},
		{AccessKey: "carol", SecretKey: "carol-secret", Buckets: map[string]Permission{"photos": PermRead}},
		{AccessKey: "writer", SecretKey: "writer-secret", Buckets: map[string]Permission{"drop": PermWrite}},
		{AccessKey: "root", SecretKey: "root-secret", Buckets: map[string]Permission{AllBuckets: PermReadWrite}},
		{AccessKey: "auditor", SecretKey: "auditor-secret", Buckets: map[string]Permission{AllBuckets: PermRead}},
	}, map[string]Permission{"public": PermRead})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAuthorize(t *testing.T) {
	a := testAuth(t)
	op := func(method, bucket, key, query string, hdr ...string) (s3api.Operation, string, http.Header) {
		q, _ := url.ParseQuery(query)
		h := http.Header{}
		for i := 0; i+1 < len(hdr); i += 2 {
			h.Set(hdr[i], hdr[i+1])
		}
		return s3api.Classify(method, bucket, key, q, h), bucket, h
	}
	type req = func() (s3api.Operation, string, http.Header)
	r := func(method, bucket, key, query string, hdr ...string) req {
		return func() (s3api.Operation, string, http.Header) { return op(method, bucket, key, query, hdr...) }
	}
	tests := []struct {
		user string // "" is anonymous
		req  req
		want bool
	}{
		{"alice", r("GET", "photos", "a.jpg", ""), true},
		{"alice", r("HEAD", "photos", "a.jpg", ""), true},
		{"alice", r("PUT", "photos", "a.jpg", ""), true},
		{"alice", r("DELETE", "photos", "a.jpg", ""), true},
		{"alice", r("GET", "photos", "", "list-type=2"), true},
		{"alice", r("GET", "logs", "x", ""), true},
		{"alice", r("PUT", "logs", "x", ""), false},
		{"alice", r("POST", "logs", "x", "uploads"), false},
		{"alice", r("GET", "other", "x", ""), false},
		{"alice", r("GET", "", "", ""), true},             // ListBuckets, filtered
		{"alice", r("PUT", "photos", "", ""), false},      // CreateBucket needs write on "*"
		{"alice", r("DELETE", "photos", "", ""), true},    // DeleteBucket: write on the bucket
		{"alice", r("PUT", "photos", "", "policy"), true}, // bucket configuration: write
		{"alice", r("PUT", "logs", "", "policy"), false},
		{"alice", r("GET", "photos", "", "frobnicate&x"), true}, // an unknown GET is ListObjects...
		{"alice", r("POST", "photos", "", "frobnicate"), true},  // Unknown: write on photos
		{"alice", r("POST", "logs", "", "frobnicate"), false},
		{"alice", r("PATCH", "logs", "k", ""), false},
		{"alice", r("POST", "", "", ""), false}, // service-level Unknown
		{"alice", r("PUT", "photos", "copy", "", "X-Amz-Copy-Source", "logs/src"), true},
		{"alice", r("PUT", "photos", "copy", "", "X-Amz-Copy-Source", "/logs/src?versionId=3"), true},
		{"alice", r("PUT", "photos", "copy", "", "X-Amz-Copy-Source", "%2Flogs%2Fsrc%20key"), true},
		{"alice", r("PUT", "photos", "copy", "", "X-Amz-Copy-Source", "other/src"), false},
		{"alice", r("PUT", "logs", "copy", "", "X-Amz-Copy-Source", "photos/src"), false},
		{"alice", r("PUT", "photos", "p", "uploadId=1&partNumber=1", "X-Amz-Copy-Source", "other/src"), false},
		{"alice", r("PUT", "photos", "p", "uploadId=1&partNumber=1", "X-Amz-Copy-Source", "photos/src"), true},
		{"bob", r("GET", "photos", "a.jpg", ""), false},
		{"bob", r("HEAD", "photos", "a.jpg", ""), false},
		{"bob", r("PUT", "logs", "x", ""), true},
		{"carol", r("GET", "photos", "a.jpg", ""), true},
		{"carol", r("PUT", "photos", "a.jpg", ""), false},
		{"carol", r("PUT", "photos", "a.jpg", "tagging"), false},
		{"writer", r("PUT", "drop", "x", ""), true},
		{"writer", r("GET", "drop", "x", ""), false},
		{"writer", r("PUT", "drop", "x", "", "X-Amz-Copy-Source", "drop/y"), false}, // no read on the source
		{"root", r("PUT", "newbucket", "", ""), true},
		{"root", r("POST", "", "", ""), true},
		{"root", r("GET", "anything", "k", ""), true},
		{"auditor", r("GET", "anything", "k", ""), true},
		{"auditor", r("PUT", "anything", "k", ""), false},
		{"auditor", r("PUT", "newbucket", "", ""), false},
		{"", r("GET", "public", "k", ""), true},
		{"", r("HEAD", "public", "k", ""), true},
		{"", r("GET", "public", "", ""), true},
		{"", r("GET", "public", "", "list-type=2"), true},
		{"", r("GET", "public", "", "acl"), false},
		{"", r("GET", "public", "k", "tagging"), false},
		{"", r("PUT", "public", "k", ""), false},
		{"", r("GET", "photos", "k", ""), false},
		{"", r("GET", "", "", ""), false},
	}
	for _, tc := range tests {
		o, bucket, h := tc.req()
		name := fmt.Sprintf("%s %s %s %s", cmpOr(tc.user, "anonymous"), o.Name, bucket, h.Get("X-Amz-Copy-Source"))
		t.Run(name, func(t *testing.T) {
			pr := a.anon
			if tc.user != "" {
				pr = a.user(tc.user)
			}
			err := authorize(pr, o, bucket, h)
			if got := err == nil; got != tc.want {
				t.Errorf("authorize = %v, want allowed=%v", err, tc.want)
			}
		})
	}
}

func TestAuthorizeBadCopySource(t *testing.T) {
	a := testAuth(t)
	for _, src := range []string{"", "photos", "photos/", "/", "Bad_Bucket/k", "%zz/k"} {
		h := http.Header{"X-Amz-Copy-Source": {src}}
		o := s3api.Classify("PUT", "photos", "k", nil, h)
		if src == "" {
			o = s3api.Operation{Name: "CopyObject", Write: true, Effect: s3api.EffectKey}
		}
		err := authorize(a.user("alice"), o, "photos", h)
		if err != errBadCopySource {
			t.Errorf("copy source %q: %v, want InvalidArgument", src, err)
		}
	}
}

// refNeed is the reference table of the property test: what each S3
// operation needs, written out by hand rather than derived from the
// operation table.
var refNeed = map[string]string{
	"ListBuckets": "any", "CreateBucket": "star-write",
	"HeadBucket": "read", "ListMultipartUploads": "read", "ListObjectVersions": "read", "ListObjectsV2": "read",
	"GetBucketLocation": "read", "GetBucketAcl": "read", "GetBucketTagging": "read", "GetBucketPolicy": "read",
	"GetBucketPolicyStatus": "read", "GetBucketVersioning": "read", "GetBucketCors": "read",
	"GetBucketLifecycleConfiguration": "read", "GetObjectLockConfiguration": "read", "GetBucketOwnershipControls": "read",
	"GetBucketEncryption": "read", "GetBucketWebsite": "read", "GetBucketLogging": "read",
	"GetBucketNotificationConfiguration": "read", "GetBucketReplication": "read", "GetBucketAccelerateConfiguration": "read",
	"GetBucketRequestPayment": "read", "GetPublicAccessBlock": "read", "ListObjects": "read",
	"PutBucketAcl": "write", "PutBucketTagging": "write", "PutBucketPolicy": "write", "PutBucketVersioning": "write",
	"PutBucketCors": "write", "PutBucketLifecycleConfiguration": "write", "PutObjectLockConfiguration": "write",
	"PutBucketOwnershipControls": "write", "PutBucketEncryption": "write", "PutBucketWebsite": "write",
	"PutBucketLogging": "write", "PutBucketNotificationConfiguration": "write", "PutBucketReplication": "write",
	"PutPublicAccessBlock": "write",
	"DeleteBucketTagging":  "write", "DeleteBucketPolicy": "write", "DeleteBucketCors": "write", "DeleteBucketLifecycle": "write",
	"DeleteBucketOwnershipControls": "write", "DeleteBucketEncryption": "write", "DeleteBucketWebsite": "write",
	"DeleteBucketReplication": "write", "DeletePublicAccessBlock": "write", "DeleteBucket": "write",
	"DeleteObjects": "write",
	"HeadObject":    "read", "ListParts": "read", "GetObjectAcl": "read", "GetObjectTagging": "read", "GetObjectRetention": "read",
	"GetObjectLegalHold": "read", "GetObjectAttributes": "read", "GetObjectTorrent": "read", "GetObject": "read",
	"UploadPartCopy": "write+src", "UploadPart": "write", "PutObjectTagging": "write", "PutObjectAcl": "write",
	"PutObjectRetention": "write", "PutObjectLegalHold": "write", "CopyObject": "write+src", "PutObject": "write",
	"AbortMultipartUpload": "write", "DeleteObjectTagging": "write", "DeleteObject": "write",
	"CreateMultipartUpload": "write", "CompleteMultipartUpload": "write", "RestoreObject": "write",
	"SelectObjectContent": "read",
	"Unknown":             "write",
}

// anonymousOps are the only operations an unsigned request may run.
var anonymousOps = map[string]bool{"GetObject": true, "HeadObject": true, "ListObjects": true, "ListObjectsV2": true}

// TestAuthorizeProperty draws random (user, bucket, operation) triples and
// checks authorize against the reference table.
func TestAuthorizeProperty(t *testing.T) {
	for _, name := range s3api.OperationNames() {
		if refNeed[name] == "" {
			t.Fatalf("operation %s is missing from the reference table", name)
		}
	}
	buckets := []string{"photos", "logs", "public", "drop", "other"}
	perms := []Permission{0, PermRead, PermWrite, PermReadWrite}
	rng := rand.New(rand.NewPCG(4, 2026))
	patterns := s3api.Patterns()
	methods := []string{"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"}
	for i := range 20000 {
		// A random user, or anonymous.
		grants := map[string]Permission{}
		for _, b := range append(buckets, AllBuckets) {
			if p := perms[rng.IntN(len(perms))]; p != 0 && (b != AllBuckets || rng.IntN(4) == 0) {
				grants[b] = p
			}
		}
		anon := rng.IntN(5) == 0
		var a *AuthConfig
		var err error
		if anon {
			for b := range grants {
				grants[b] = PermRead
			}
			a, err = NewAuthConfig(nil, grants)
		} else {
			a, err = NewAuthConfig([]User{{AccessKey: "u", SecretKey: "s", Buckets: grants}}, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		pr := a.user("u")
		if anon {
			pr = a.anon
			if pr == nil {
				continue
			}
		}
		// A random request: a row of the table, or a random one.
		var method, bucket, key string
		q := url.Values{}
		h := http.Header{}
		if rng.IntN(4) > 0 {
			row := patterns[rng.IntN(len(patterns))]
			method = row.Method
			if row.Sub != "" {
				q.Set(row.Sub, "1")
			}
			if row.Header != "" {
				h.Set(row.Header, buckets[rng.IntN(len(buckets))]+"/src")
			}
			if row.Bucket {
				bucket = buckets[rng.IntN(len(buckets))]
			}
			if row.Key {
				key = "k"
			}
		} else {
			method = methods[rng.IntN(len(methods))]
			bucket = buckets[rng.IntN(len(buckets))]
			if rng.IntN(2) == 0 {
				key = "k"
			}
			q.Set("weird", "1")
		}
		o := s3api.Classify(method, bucket, key, q, h)
		got := authorize(pr, o, bucket, h) == nil

		has := func(b string, p Permission) bool { return (grants[b]|grants[AllBuckets])&p != 0 }
		var want bool
		switch refNeed[o.Name] {
		case "any":
			want = true
		case "star-write":
			want = grants[AllBuckets]&PermWrite != 0
		case "read":
			want = has(bucket, PermRead)
		case "write":
			want = has(bucket, PermWrite)
		case "write+src":
			src, _, _ := strings.Cut(h.Get("X-Amz-Copy-Source"), "/")
			want = has(bucket, PermWrite) && has(src, PermRead)
		default:
			t.Fatalf("no reference for %s", o.Name)
		}
		if o.Name == "Unknown" && bucket == "" {
			want = grants[AllBuckets]&PermWrite != 0
		}
		if anon {
			want = want && anonymousOps[o.Name]
		}
		if got != want {
			t.Fatalf("case %d: anonymous=%v grants %v, %s %s/%s?%s (%s): allowed=%v, want %v",
				i, anon, grants, method, bucket, key, q.Encode(), o.Name, got, want)
		}
	}
}

func TestAuthorizeAllocs(t *testing.T) {
	a := testAuth(t)
	o := s3api.Operation{Name: "GetObject"}
	pr := a.user("alice")
	h := http.Header{}
	n := testing.AllocsPerRun(100, func() {
		if authorize(pr, o, "photos", h) != nil || authorize(pr, o, "other", h) == nil {
			t.Fatal("wrong decision")
		}
	})
	if n != 0 {
		t.Errorf("authorize allocates %v times per decision, want 0", n)
	}
}

// doAs sends a request signed with access and secret (anonymous when
// access is "") with the given headers.
func doAs(t *testing.T, method, url, access, secret string, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if access != "" {
		sum := sha256.Sum256(body)
		signAs(t, req, hex.EncodeToString(sum[:]), access, secret)
	}
	res, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// TestCachedObjectNeedsRead fills the cache as alice and checks that bob,
// who may not read the bucket, gets 403 with nothing of the object while
// the backend never hears of him, and that carol, who may, gets a hit.
func TestCachedObjectNeedsRead(t *testing.T) {
	fake, backend := newFakeS3(t)
	_, srv := newTestProxy(t, backend, func(c *Config) { c.Auth = testAuth(t) })
	const secret = "alice's cached bytes"
	for _, front := range []string{"/photos/", "/objects/photos/"} {
		t.Run(front, func(t *testing.T) {
			key := "k" + strings.ReplaceAll(front, "/", "")
			u := srv.URL + front + key
			if res := doAs(t, "PUT", u, "alice", "alice-secret", []byte(secret), nil); res.StatusCode/100 != 2 {
				t.Fatalf("alice PUT: %d %s", res.StatusCode, readBody(t, res))
			}
			for _, want := range []string{"MISS", "HIT"} {
				res := doAs(t, "GET", u, "alice", "alice-secret", nil, nil)
				if body := readBody(t, res); res.StatusCode != 200 || body != secret || res.Header.Get("X-Cache") != want {
					t.Fatalf("alice GET: %d X-Cache %q %q, want 200 %s", res.StatusCode, res.Header.Get("X-Cache"), body, want)
				}
			}
			gets := fake.getCount("/photos/" + key)
			for _, m := range []string{"GET", "HEAD"} {
				for _, who := range []struct{ access, secret string }{{"bob", "bob-secret"}, {"", ""}} {
					res := doAs(t, m, u, who.access, who.secret, nil, map[string]string{"Range": "bytes=0-3"})
					body := readBody(t, res)
					if res.StatusCode != http.StatusForbidden || (m == "GET" && !strings.Contains(body, "<Code>AccessDenied</Code>")) {
						t.Errorf("%s %s as %q: %d %q, want 403 AccessDenied", m, u, who.access, res.StatusCode, body)
					}
					if strings.Contains(body, "alice") || res.Header.Get("X-Cache") != "" || res.Header.Get("ETag") != "" {
						t.Errorf("%s as %q leaked the object: X-Cache %q ETag %q body %q", m, who.access, res.Header.Get("X-Cache"), res.Header.Get("ETag"), body)
					}
				}
			}
			res := doAs(t, "GET", u, "carol", "carol-secret", nil, nil)
			if body := readBody(t, res); res.StatusCode != 200 || body != secret || res.Header.Get("X-Cache") != "HIT" {
				t.Errorf("carol GET: %d X-Cache %q %q, want 200 HIT", res.StatusCode, res.Header.Get("X-Cache"), body)
			}
			if res := doAs(t, "PUT", u, "carol", "carol-secret", []byte("overwrite"), nil); res.StatusCode != http.StatusForbidden {
				t.Errorf("carol PUT: %d, want 403", res.StatusCode)
			}
			if got := fake.getCount("/photos/" + key); got != gets {
				t.Errorf("backend saw %d more GETs after the fill, want 0", got-gets)
			}
		})
	}
}

const listBucketsXML = `<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID><DisplayName>o</DisplayName></Owner><Buckets>
  <Bucket><Name>logs</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>
  <Bucket><Name>photos</Name><CreationDate>2026-01-02T00:00:00.000Z</CreationDate></Bucket>
  <Bucket><Name>public</Name><CreationDate>2026-01-03T00:00:00.000Z</CreationDate></Bucket>
</Buckets></ListAllMyBucketsResult>`

func TestListBucketsFiltered(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/" {
			return false
		}
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, listBucketsXML)
		return true
	}
	_, srv := newTestProxy(t, backend, func(c *Config) { c.Auth = testAuth(t) })
	drop := func(names ...string) string {
		s := listBucketsXML
		for _, n := range names {
			i := strings.Index(s, "<Bucket><Name>"+n+"<")
			j := strings.Index(s[i:], "</Bucket>") + i + len("</Bucket>")
			s = s[:i] + s[j:]
		}
		return s
	}
	tests := []struct{ user, want string }{
		{"alice", drop("public")},
		{"bob", drop("photos", "public")},
		{"writer", drop("logs", "photos", "public")},
		{"root", listBucketsXML},
		{"auditor", listBucketsXML},
	}
	for _, tc := range tests {
		t.Run(tc.user, func(t *testing.T) {
			res := doAs(t, "GET", srv.URL+"/", tc.user, tc.user+"-secret", nil, map[string]string{"Accept-Encoding": "gzip"})
			body := readBody(t, res)
			if res.StatusCode != 200 || body != tc.want {
				t.Errorf("ListBuckets: %d\n%s\nwant\n%s", res.StatusCode, body, tc.want)
			}
			if res.ContentLength != int64(len(tc.want)) {
				t.Errorf("Content-Length %d, want %d", res.ContentLength, len(tc.want))
			}
		})
	}
	if res := doAs(t, "GET", srv.URL+"/", "", "", nil, nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous ListBuckets: %d, want 403", res.StatusCode)
	}
}

func TestFilterBucketsXMLMalformed(t *testing.T) {
	for _, doc := range []string{"<ListAllMyBucketsResult><Buckets><Bucket><Name>a", "not xml <"} {
		if _, err := filterBucketsXML([]byte(doc), func(string) bool { return false }); err == nil {
			t.Errorf("%q: no error", doc)
		}
	}
}

// TestSetAuth swaps the configuration while the proxy runs: bob gains
// read on photos, alice loses her access, and the default single user
// comes back with nil.
func TestSetAuth(t *testing.T) {
	_, backend := newFakeS3(t)
	p, srv := newTestProxy(t, backend, func(c *Config) { c.Auth = testAuth(t) })
	u := srv.URL + "/photos/k"
	if res := doAs(t, "PUT", u, "alice", "alice-secret", []byte("v"), nil); res.StatusCode != 200 {
		t.Fatalf("alice PUT: %d", res.StatusCode)
	}
	if res := doAs(t, "GET", u, "bob", "bob-secret", nil, nil); res.StatusCode != 403 {
		t.Fatalf("bob GET before reload: %d, want 403", res.StatusCode)
	}
	next, err := NewAuthConfig([]User{{AccessKey: "bob", SecretKey: "bob-secret", Buckets: map[string]Permission{"photos": PermRead}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.SetAuth(next)
	if res := doAs(t, "GET", u, "bob", "bob-secret", nil, nil); res.StatusCode != 200 {
		t.Errorf("bob GET after reload: %d, want 200", res.StatusCode)
	}
	res := doAs(t, "GET", u, "alice", "alice-secret", nil, nil)
	if body := readBody(t, res); res.StatusCode != 403 || !strings.Contains(body, "InvalidAccessKeyId") {
		t.Errorf("alice GET after reload: %d %s, want 403 InvalidAccessKeyId", res.StatusCode, body)
	}
	p.SetAuth(nil)
	if res := doAs(t, "GET", u, testKey, testSecret, nil, nil); res.StatusCode != 200 {
		t.Errorf("default user after SetAuth(nil): %d, want 200", res.StatusCode)
	}
	if res := doAs(t, "GET", u, "", "", nil, nil); res.StatusCode != 403 {
		t.Errorf("anonymous after SetAuth(nil): %d, want 403", res.StatusCode)
	}
}

func BenchmarkAuthorize(b *testing.B) {
	a := testAuth(b)
	pr := a.user("alice")
	o := s3api.Operation{Name: "GetObject"}
	h := http.Header{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if authorize(pr, o, "photos", h) != nil {
				b.Fatal("denied")
			}
		}
	})
}
