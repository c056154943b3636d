package s3api

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseQuery checks ParseQuery against url.ParseQuery of the same
// query without its presign parameters: the same values, the same verdict.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "versionId=a%2Fb&X-Amz-Signature=00", "uploads", "a=1&a=2&b", "x=%zz", "a;b=c", "X-Amz-Date=1&response-content-type=text%2Fplain",
		"X-Amz-%41=1", "%58-Amz-Credential=%zz", "&&=&", "+=+",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, gerr := ParseQuery(raw)
		want, werr := url.ParseQuery(withoutPresign(raw))
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: error %v, url.ParseQuery %v", raw, gerr, werr)
		}
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %v, url.ParseQuery %v", raw, got, want)
		}
	})
}

// withoutPresign drops the parameters whose name is, or decodes to,
// X-Amz-something, unless the segment has a semicolon.
func withoutPresign(raw string) string {
	var keep []string
	for seg := range strings.SplitSeq(raw, "&") {
		name, _, _ := strings.Cut(seg, "=")
		if strings.HasPrefix(seg, "X-Amz-") {
			continue
		}
		if dn, err := url.QueryUnescape(name); err == nil && !strings.Contains(seg, ";") && strings.HasPrefix(dn, "X-Amz-") {
			continue
		}
		keep = append(keep, seg)
	}
	return strings.Join(keep, "&")
}
