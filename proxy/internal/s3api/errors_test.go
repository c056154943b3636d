package s3api

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestWrite: an error is sent as S3 sends it: its status, an XML body
// with its code, message, elements and the request id (none for HEAD),
// and no header left of the answer prepared before it.
func TestWrite(t *testing.T) {
	type body struct {
		Code, Message, Resource string
		RequestID               string `xml:"RequestId"`
		RangeRequested          string
		ActualObjectSize        string
	}
	tests := []struct {
		name, method, resource, id string
		e                          *Error
		want                       body
	}{
		{"plain", http.MethodGet, "/b/k", "ID1", ErrAccessDenied,
			body{Code: "AccessDenied", Message: "Access Denied.", Resource: "/b/k", RequestID: "ID1"}},
		{"fields", http.MethodGet, "", "ID2", InvalidRange("bytes=9-", 5),
			body{Code: "InvalidRange", Message: "The requested range is not satisfiable", RequestID: "ID2", RangeRequested: "bytes=9-", ActualObjectSize: "5"}},
		{"head", http.MethodHead, "/b/k", "ID3", ErrNoSuchKey, body{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Length", "10")
			rec.Header()["ETag"] = []string{`"x"`}
			rec.Header().Set("Last-Modified", "yesterday")
			Write(rec, tt.method, tt.resource, tt.e, tt.id)
			res := rec.Result()
			if res.StatusCode != tt.e.Status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.e.Status)
			}
			for _, h := range []string{"Content-Length", "ETag", "Last-Modified"} {
				if v := res.Header.Values(h); len(v) > 0 || len(res.Header[h]) > 0 {
					t.Errorf("header %s = %q, want none", h, v)
				}
			}
			if got := res.Header.Get("Content-Type"); got != "application/xml" {
				t.Errorf("Content-Type %q, want application/xml", got)
			}
			if got := res.Header.Get("X-Amz-Request-Id"); got != tt.id {
				t.Errorf("X-Amz-Request-Id %q, want %q", got, tt.id)
			}
			data, _ := io.ReadAll(res.Body)
			if tt.method == http.MethodHead {
				if len(data) != 0 {
					t.Errorf("HEAD body %q, want none", data)
				}
				return
			}
			var got body
			if err := xml.Unmarshal(data, &got); err != nil {
				t.Fatalf("body %q: %v", data, err)
			}
			if got != tt.want {
				t.Errorf("body %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestErrorDocumentText: text is escaped as S3 escapes it (apostrophes
// and quotes as they are), and whatever a message or resource holds, the
// document parses back to it, with what XML cannot carry as U+FFFD.
func TestErrorDocumentText(t *testing.T) {
	doc := string(appendErrorDocument(nil, WrongRegion("eu-west-1", "us-east-1"), `/b/a&b<c>"d"`, "ID1"))
	const want = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region 'eu-west-1' is wrong; expecting 'us-east-1'</Message>` +
		`<Region>us-east-1</Region><Resource>/b/a&amp;b&lt;c&gt;"d"</Resource><RequestId>ID1</RequestId></Error>`
	if doc != want {
		t.Errorf("document\n%s\nwant\n%s", doc, want)
	}
}

// FuzzErrorDocument: any message and resource make a document that
// encoding/xml parses back to them, characters XML cannot carry (and
// invalid UTF-8) replaced by U+FFFD.
func FuzzErrorDocument(f *testing.F) {
	f.Add("it's <b> & \"q\"", "/b/k\r\n")
	f.Add("\x00\xff\U0010FFFF\uFFFE", "")
	f.Fuzz(func(t *testing.T, message, resource string) {
		doc := appendErrorDocument(nil, New(http.StatusBadRequest, "Code", message), resource, "ID")
		var got struct{ Code, Message, Resource, RequestId string }
		if err := xml.Unmarshal(doc, &got); err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if want := xmlText(message); got.Message != want {
			t.Errorf("Message %q, want %q", got.Message, want)
		}
		if want := xmlText(resource); got.Resource != want {
			t.Errorf("Resource %q, want %q", got.Resource, want)
		}
		if got.Code != "Code" || got.RequestId != "ID" {
			t.Errorf("Code %q RequestId %q", got.Code, got.RequestId)
		}
	})
}

// xmlText is s as an XML parser gives it back: characters outside XML's
// range as U+FFFD, and a CR LF or lone CR as it was (an escaped CR is
// not folded).
func xmlText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF {
			b.WriteRune(r)
		} else {
			b.WriteRune(utf8.RuneError)
		}
	}
	return b.String()
}

// TestDerivedErrors: WithCause and WithMessage leave their template as it
// was, and the cause is found in the chain but never in what is sent.
func TestDerivedErrors(t *testing.T) {
	cause := errors.New("connection refused")
	e := ErrUnavailable.WithCause(cause)
	if !errors.Is(e, cause) || e.Code != ErrUnavailable.Code || ErrUnavailable.Err != nil {
		t.Errorf("WithCause: %+v, template %+v", e, ErrUnavailable)
	}
	var as *Error
	if !errors.As(error(e), &as) || as != e {
		t.Errorf("errors.As did not find the *Error")
	}
	m := ErrNotFound.WithMessage("No such thing.")
	if m.Message != "No such thing." || ErrNotFound.Message != "Not found." {
		t.Errorf("WithMessage: %q, template %q", m.Message, ErrNotFound.Message)
	}
}
