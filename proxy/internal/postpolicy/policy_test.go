package postpolicy

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func enc(doc string) string { return base64.StdEncoding.EncodeToString([]byte(doc)) }

const goodPolicy = `{"expiration": "2026-12-03T13:00:00.000Z", "conditions": [
	{"bucket": "photos"}, ["starts-with", "$key", "user/"], {"acl": "private"},
	["StArTs-WiTh", "$Content-Type", "image/"], ["eq", "$x-amz-meta-tag", "v"],
	["content-length-range", 10, "1048576"]]}`

func TestParseAndCheck(t *testing.T) {
	p, err := Parse(enc(goodPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasLength || p.MinLength != 10 || p.MaxLength != 1048576 {
		t.Errorf("length range %v %d-%d", p.HasLength, p.MinLength, p.MaxLength)
	}
	fields := func(mod ...string) map[string]string {
		f := map[string]string{"bucket": "photos", "key": "user/a.jpg", "acl": "private", "content-type": "image/jpeg",
			"x-amz-meta-tag": "v", "policy": "…", "x-amz-signature": "…", "x-ignore-me": "1"}
		for i := 0; i < len(mod); i += 2 {
			if mod[i+1] == "-" {
				delete(f, mod[i])
			} else {
				f[mod[i]] = mod[i+1]
			}
		}
		return f
	}
	if err := p.Check(fields(), now); err != nil {
		t.Fatalf("a form the policy allows: %v", err)
	}
	refusals := []struct {
		name string
		f    map[string]string
		at   time.Time
		want string
	}{
		{"expired", fields(), now.Add(time.Hour), "Policy expired"},
		{"other bucket", fields("bucket", "other"), now, `"$bucket"`},
		{"key outside the prefix", fields("key", "admin/a.jpg"), now, `"$key"`},
		{"eq broken", fields("x-amz-meta-tag", "w"), now, `"$x-amz-meta-tag"`},
		{"eq field missing", fields("x-amz-meta-tag", "-"), now, `"$x-amz-meta-tag"`},
		{"one of several types", fields("content-type", "image/png, text/html"), now, `"$content-type"`},
		{"extra field", fields("x-amz-meta-other", "x"), now, "Extra input fields: x-amz-meta-other"},
	}
	for _, c := range refusals {
		err := p.Check(c.f, c.at)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		e, ok := err.(*Error)
		if !ok || e.Status != 403 || e.Code != "AccessDenied" || !strings.Contains(e.Message, c.want) {
			t.Errorf("%s: %v, want 403 AccessDenied naming %s", c.name, err, c.want)
		}
	}
	// A backslash in a value is no escape: S3 and MinIO compare it as is.
	esc, err := Parse(enc(`{"expiration": "2026-12-03T13:00:00Z", "conditions": [{"bucket": "b"}, ["starts-with", "$key", "\\$foo"]]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := esc.Check(map[string]string{"bucket": "b", "key": `\$foo.txt`}, now); err != nil {
		t.Errorf("escaped prefix: %v", err)
	}
	for n, want := range map[int64]error{9: ErrTooSmall, 10: nil, 1048576: nil, 1048577: ErrTooLarge} {
		if err := p.CheckLength(n); err != want {
			t.Errorf("CheckLength(%d) = %v, want %v", n, err, want)
		}
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	docs := map[string]string{
		"not base64":            "!!",
		"not JSON":              enc("{"),
		"no expiration":         enc(`{"conditions": []}`),
		"no conditions":         enc(`{"expiration": "2026-12-03T13:00:00Z"}`),
		"CONDITIONS":            enc(`{"expiration": "2026-12-03T13:00:00Z", "CONDITIONS": []}`),
		"EXPIRATION":            enc(`{"EXPIRATION": "2026-12-03T13:00:00Z", "conditions": []}`),
		"bad date":              enc(`{"expiration": "2026-12-03 13:00:00.123+00:00", "conditions": []}`),
		"empty condition":       enc(`{"expiration": "2026-12-03T13:00:00Z", "conditions": [{}]}`),
		"range of one":          enc(`{"expiration": "2026-12-03T13:00:00Z", "conditions": [["content-length-range", 0]]}`),
		"negative range":        enc(`{"expiration": "2026-12-03T13:00:00Z", "conditions": [["content-length-range", -1, 0]]}`),
		"unknown operator":      enc(`{"expiration": "2026-12-03T13:00:00Z", "conditions": [["ends-with", "$key", "x"]]}`),
		"field without dollar":  enc(`{"expiration": "2026-12-03T13:00:00Z", "conditions": [["eq", "key", "x"]]}`),
		"non-string exact":      enc(`{"expiration": "2026-12-03T13:00:00Z", "conditions": [{"key": 1}]}`),
		"conditions not a list": enc(`{"expiration": "2026-12-03T13:00:00Z", "conditions": {}}`),
	}
	for name, doc := range docs {
		_, err := Parse(doc)
		e, ok := err.(*Error)
		if !ok || e.Status != 400 || e.Code != "InvalidPolicyDocument" {
			t.Errorf("%s: %v, want 400 InvalidPolicyDocument", name, err)
		}
	}
}

// FuzzParse checks that no policy makes Parse or Check panic, and that a
// policy Parse accepts allows nothing after its expiration.
func FuzzParse(f *testing.F) {
	f.Add(goodPolicy, "user/a")
	f.Add(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 1e3, "5"]]}`, "")
	f.Fuzz(func(t *testing.T, doc, key string) {
		p, err := Parse(enc(doc))
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		fields := map[string]string{"key": key, "bucket": "b"}
		if p.Check(fields, p.Expiration) == nil {
			t.Fatal("allowed at its expiration")
		}
		p.Check(fields, p.Expiration.Add(-time.Second))
		p.CheckLength(int64(len(key)))
	})
}
