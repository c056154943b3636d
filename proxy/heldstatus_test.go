package proxy

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestHeldStatus: the status waits for the first byte, a flush before it
// included, an informational status goes at once, and a body that fails
// before its first byte is answered with an S3 error carrying only the
// header that was there before the answer's own; after it, the answer is
// aborted.
func TestHeldStatus(t *testing.T) {
	p := &Proxy{log: discardLogger()}
	r := httptest.NewRequest(http.MethodGet, "/bkt/k", nil)
	cut := errors.New("backend cut")

	t.Run("held until the first byte", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h := holdStatus(rec)
		h.WriteHeader(http.StatusPartialContent)
		if rec.Code != http.StatusOK || rec.Flushed || rec.Body.Len() != 0 {
			t.Fatalf("before any byte: code %d flushed %v, want nothing written", rec.Code, rec.Flushed)
		}
		h.Write([]byte("x"))
		if rec.Code != http.StatusPartialContent || rec.Body.String() != "x" {
			t.Errorf("after a byte: %d %q, want 206 x", rec.Code, rec.Body)
		}
	})
	t.Run("a flush holds it until the first byte", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h := holdStatus(rec)
		h.WriteHeader(http.StatusCreated)
		rc := http.NewResponseController(h)
		if err := rc.Flush(); err != nil || rec.Code != http.StatusOK || rec.Flushed {
			t.Errorf("flush before a byte: %v, code %d flushed %v, want nothing written", err, rec.Code, rec.Flushed)
		}
		h.Write([]byte("x"))
		if err := rc.Flush(); err != nil || rec.Code != http.StatusCreated || !rec.Flushed {
			t.Errorf("flush after a byte: %v, code %d flushed %v, want 201 flushed", err, rec.Code, rec.Flushed)
		}
	})
	t.Run("informational goes at once", func(t *testing.T) {
		w := &statusLog{ResponseWriter: httptest.NewRecorder()}
		h := holdStatus(w)
		h.WriteHeader(http.StatusContinue)
		h.WriteHeader(http.StatusOK)
		h.send()
		if got := strings.Join(w.codes, ","); got != "100,200" {
			t.Errorf("statuses written %s, want 100,200", got)
		}
	})
	t.Run("failed before the first byte", func(t *testing.T) {
		rec := httptest.NewRecorder()
		rec.Header().Set("X-Amz-Request-Id", "ID1")
		h := holdStatus(rec)
		h.Header().Set("Content-Length", "100")
		h.Header().Set("Etag", `"abc"`)
		h.WriteHeader(http.StatusOK)
		p.failBody(h, r, cut)
		body := rec.Body.String()
		if rec.Code != http.StatusBadGateway || !strings.Contains(body, "<Code>BadGateway</Code>") || !strings.Contains(body, "<RequestId>ID1</RequestId>") {
			t.Errorf("%d %s, want 502 BadGateway with the request id", rec.Code, body)
		}
		if got := rec.Header().Get("Etag"); got != "" {
			t.Errorf("the answer's own Etag %q went out with the error", got)
		}
	})
	t.Run("failed after bytes", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h := holdStatus(rec)
		h.WriteHeader(http.StatusOK)
		h.Write([]byte("part"))
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler", v)
			}
		}()
		p.failBody(h, r, cut)
		t.Error("failBody returned after bytes went out; want the answer aborted")
	})
}

// statusLog records the statuses written to it.
type statusLog struct {
	http.ResponseWriter
	codes []string
}

func (s *statusLog) WriteHeader(code int) {
	s.codes = append(s.codes, strconv.Itoa(code))
	s.ResponseWriter.WriteHeader(code)
}
