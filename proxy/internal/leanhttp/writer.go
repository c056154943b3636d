package leanhttp

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// leanWriter is the ResponseWriter of the lean loop. It holds small
// writes back (up to maxPending bytes) and sends the status line, header
// and body bytes together: a response whose body is written at once, or
// fits, leaves in one writev, and the write that completes a declared
// length is never held back. Larger bodies go out as they come, in
// batches. A response without a Content-Length is sent with one if it
// ended within the buffer, else chunked. Flush sends what is held.
//
// The header is read when the body starts (the first Write, Flush or the
// handler's return); as with net/http, later changes are not reliable.
type leanWriter struct {
	conn     net.Conn
	header   http.Header
	hbuf     []byte      // rendered status line and header
	pend     []byte      // body bytes held back
	bufs     net.Buffers // scratch for writev
	status   int
	head     bool  // HEAD: no body goes out
	close    bool  // the connection ends after this response
	started  bool  // the body started: framing decided
	sent     bool  // status line and header are out
	chunked  bool  // framing: chunked
	noBody   bool  // the status or method has no body
	declared int64 // Content-Length, or -1
	written  int64 // body bytes accepted from the handler
	err      error
}

// maxPending bounds the body bytes a leanWriter holds back.
const maxPending = 32 << 10

func (w *leanWriter) reset(head, close bool) {
	if w.header == nil {
		w.header = make(http.Header, 16)
	} else {
		clear(w.header)
	}
	w.hbuf, w.pend = w.hbuf[:0], w.pend[:0]
	w.status, w.head, w.close = 0, head, close
	w.started, w.sent, w.chunked, w.noBody = false, false, false, false
	w.declared, w.written, w.err = -1, 0, nil
}

func (w *leanWriter) Header() http.Header { return w.header }

func (w *leanWriter) WriteHeader(code int) {
	if w.status != 0 || w.started {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 {
		return // informational answers are not sent
	}
	w.status = code
}

// bodyAllowed reports whether the status may carry a body.
func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}

// start fixes the status and the declared length when the body starts.
func (w *leanWriter) start() {
	w.started = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.noBody = w.head || !bodyAllowed(w.status)
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.declared = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

// render writes the status line and header into hbuf, choosing the
// framing of a body without a declared length: its length when done (the
// handler returned with all of it held), else chunked.
func (w *leanWriter) render(done bool) {
	h := w.header
	if w.declared < 0 && bodyAllowed(w.status) && !w.head {
		if done {
			w.declared = w.written
			h["Content-Length"] = []string{strconv.FormatInt(w.written, 10)}
		} else {
			w.chunked = true
			h["Transfer-Encoding"] = []string{"chunked"}
		}
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = []string{httpDate()}
	}
	if w.close {
		h["Connection"] = []string{"close"}
	}
	b := w.hbuf[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(w.status)...)
	b = append(b, "\r\n"...)
	for k, vs := range h {
		for _, v := range vs {
			if !validHeaderValue(v) {
				continue // never let a value split the header
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	w.hbuf = b
}

func (w *leanWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if !w.started {
		w.start()
	}
	if w.noBody {
		w.written += int64(len(p))
		return len(p), nil
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		w.err = http.ErrContentLength
		return 0, w.err
	}
	complete := w.declared >= 0 && w.written+int64(len(p)) == w.declared
	if !complete && len(w.pend)+len(p) <= maxPending {
		w.pend = append(w.pend, p...)
		w.written += int64(len(p))
		return len(p), nil
	}
	if err := w.send(false, p, false); err != nil {
		return 0, err
	}
	w.written += int64(len(p))
	return len(p), nil
}

// send writes, in one system call, the header if it is not out yet, the
// held bytes and p (a chunk when chunked), and the final chunk if last.
func (w *leanWriter) send(done bool, p []byte, last bool) error {
	if !w.sent {
		w.render(done)
	}
	var frame [20]byte
	w.bufs = w.bufs[:0]
	if !w.sent {
		w.bufs = append(w.bufs, w.hbuf)
	}
	n := len(w.pend) + len(p)
	if w.chunked && n > 0 {
		f := strconv.AppendInt(frame[:0], int64(n), 16)
		w.bufs = append(w.bufs, append(f, '\r', '\n'))
	}
	if len(w.pend) > 0 {
		w.bufs = append(w.bufs, w.pend)
	}
	if len(p) > 0 {
		w.bufs = append(w.bufs, p)
	}
	if w.chunked && n > 0 {
		w.bufs = append(w.bufs, crlf)
	}
	if w.chunked && last {
		w.bufs = append(w.bufs, lastChunk)
	}
	w.sent = true
	bufs := w.bufs
	if _, err := writeBuffers(w.conn, &bufs); err != nil {
		w.err = err
		return err
	}
	w.pend = w.pend[:0]
	return nil
}

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

// FlushError sends the header and the held body bytes.
func (w *leanWriter) FlushError() error {
	if w.err != nil {
		return w.err
	}
	if !w.started {
		w.start()
	}
	if w.sent && len(w.pend) == 0 {
		return nil
	}
	return w.send(false, nil, false)
}

// Flush is FlushError for http.Flusher.
func (w *leanWriter) Flush() { w.FlushError() }

// SetWriteDeadline bounds the response's writes.
func (w *leanWriter) SetWriteDeadline(t time.Time) error { return w.conn.SetWriteDeadline(t) }

// finish completes the response after the handler returned and reports
// whether the connection may carry another request.
func (w *leanWriter) finish() bool {
	if w.err != nil {
		return false
	}
	if !w.started {
		w.start()
	}
	if !w.sent || len(w.pend) > 0 || w.chunked {
		if err := w.send(true, nil, true); err != nil {
			return false
		}
	}
	if !w.noBody && w.declared >= 0 && w.written != w.declared {
		return false // the client would wait for bytes that never come
	}
	return !w.close
}

// httpDate returns the current time in HTTP date format, formatted at
// most once a second.
func httpDate() string {
	now := time.Now().Unix()
	if d := cachedDate.Load(); d != nil && d.unix == now {
		return d.text
	}
	d := &dateText{unix: now, text: time.Unix(now, 0).UTC().Format(http.TimeFormat)}
	cachedDate.Store(d)
	return d.text
}

type dateText struct {
	unix int64
	text string
}

var cachedDate atomic.Pointer[dateText]
