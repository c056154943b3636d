package proxy

import (
	"maps"
	"net/http"
)

// A relayed body can fail before its first byte: the backend sent its
// headers and then cut the connection or stalled. net/http sends the
// status line with the first byte or flush, so an answer aborted before
// either is a connection closed with no answer at all, which a client
// cannot tell from a network fault. heldStatus holds the status back
// until that first byte, so that such a failure is answered with an S3
// error status instead (failBody).

// heldStatus is a ResponseWriter whose status line waits for the first
// body byte; a flush before it sends nothing (the ReverseProxy flushes an
// answer's header at once or after its FlushInterval, before any byte
// came). The zero value is not usable: see holdStatus.
type heldStatus struct {
	http.ResponseWriter
	status int         // held; 0 when none is, or once it went out
	sent   bool        // the status went out
	before http.Header // the header as it was before the answer's own
}

// holdStatus wraps w, keeping a copy of its header so far (the request id
// and the like) for an error answer to start from.
func holdStatus(w http.ResponseWriter) *heldStatus {
	return &heldStatus{ResponseWriter: w, before: w.Header().Clone()}
}

func (h *heldStatus) WriteHeader(code int) {
	if code < 200 {
		h.ResponseWriter.WriteHeader(code) // informational: at once, as net/http sends it
		return
	}
	if !h.sent && h.status == 0 {
		h.status = code
	}
}

func (h *heldStatus) Write(b []byte) (int, error) {
	h.send()
	return h.ResponseWriter.Write(b)
}

// FlushError flushes what was written; before the first byte it does
// nothing.
func (h *heldStatus) FlushError() error {
	if !h.sent {
		return nil
	}
	return http.NewResponseController(h.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the writer beneath.
func (h *heldStatus) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// send writes the held status, if any, to the writer beneath.
func (h *heldStatus) send() {
	if h.sent {
		return
	}
	h.sent = true
	if h.status != 0 {
		h.ResponseWriter.WriteHeader(h.status)
	}
}

// failBody ends an answer, written through h, whose backend body failed
// with err: with backendError's status when nothing of it went out, else
// by aborting it (abortIfBackend). A client that went away needs
// nothing.
func (p *Proxy) failBody(h *heldStatus, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	if !h.sent {
		hdr := h.ResponseWriter.Header()
		clear(hdr)
		maps.Copy(hdr, h.before)
		h.sent = true
		p.writeError(h.ResponseWriter, r, backendError(err))
		return
	}
	bodyCut(h.ResponseWriter, err)
	abortIfBackend(r.Context(), err)
}
