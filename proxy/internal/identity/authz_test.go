package identity

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// testAuth is the configuration of the authorization tests, testdata/users.yaml:
// alice owns photos, bob reads logs, carol reads photos, root may do
// everything.
func testAuth(t testing.TB) *Config {
	t.Helper()
	f, err := os.Open("testdata/users.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := ParseConfig(f, "users.yaml")
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
		name := fmt.Sprintf("%s %s %s %s", cmp.Or(tc.user, "anonymous"), o.Name, bucket, h.Get("X-Amz-Copy-Source"))
		t.Run(name, func(t *testing.T) {
			pr := a.Anonymous()
			if tc.user != "" {
				pr = a.User(tc.user)
			}
			err := Authorize(pr, o, bucket, h)
			if got := err == nil; got != tc.want {
				t.Errorf("Authorize = %v, want allowed=%v", err, tc.want)
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
		err := Authorize(a.User("alice"), o, "photos", h)
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
// checks Authorize against the reference table.
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
		var a *Config
		var err error
		if anon {
			for b := range grants {
				grants[b] = PermRead
			}
			a, err = NewConfig(nil, grants)
		} else {
			a, err = NewConfig([]User{{AccessKey: "u", SecretKey: "s", Buckets: grants}}, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		pr := a.User("u")
		if anon {
			pr = a.Anonymous()
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
		got := Authorize(pr, o, bucket, h) == nil

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
	pr := a.User("alice")
	h := http.Header{}
	n := testing.AllocsPerRun(100, func() {
		if Authorize(pr, o, "photos", h) != nil || Authorize(pr, o, "other", h) == nil {
			t.Fatal("wrong decision")
		}
	})
	if n != 0 {
		t.Errorf("Authorize allocates %v times per decision, want 0", n)
	}
}

func TestFilterBucketsXMLMalformed(t *testing.T) {
	for _, doc := range []string{"<ListAllMyBucketsResult><Buckets><Bucket><Name>a", "not xml <"} {
		if _, err := filterBucketsXML([]byte(doc), func(string) bool { return false }); err == nil {
			t.Errorf("%q: no error", doc)
		}
	}
}

func BenchmarkAuthorize(b *testing.B) {
	a := testAuth(b)
	pr := a.User("alice")
	o := s3api.Operation{Name: "GetObject"}
	h := http.Header{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if Authorize(pr, o, "photos", h) != nil {
				b.Fatal("denied")
			}
		}
	})
}
