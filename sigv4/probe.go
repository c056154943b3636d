package sigv4

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/crc64nvme"
)

// TrailerProbe is what [Transport] learnt from one probe of the backend's
// checksum trailers (see Transport.ProbeTrailers).
type TrailerProbe struct {
	// Taken is true when the backend verified the probe's trailer, so
	// uploads go with one from now on. When false, Settled says whether
	// signed chunks are kept for good (the backend does not verify
	// trailers) or only until the next probe (the probe told nothing).
	Taken   bool
	Settled bool
	// Status and Code are the backend's answer to the probe (0 and "" if
	// none came), and Err what kept it from answering.
	Status int
	Code   string
	Err    error
}

func (p TrailerProbe) String() string {
	switch {
	case p.Taken:
		return fmt.Sprintf("backend verifies checksum trailers (refused a wrong one: %d %s)", p.Status, p.Code)
	case p.Err != nil:
		return fmt.Sprintf("backend's checksum trailers not known: %v", p.Err)
	case p.Settled && p.Status/100 == 2:
		return fmt.Sprintf("backend does not verify checksum trailers (took a wrong one: %d)", p.Status)
	case p.Settled:
		return fmt.Sprintf("backend does not take checksum trailers (%d %s)", p.Status, p.Code)
	}
	return fmt.Sprintf("backend's checksum trailers not known (%d %s)", p.Status, p.Code)
}

// Probe bounds.
const (
	// probeTimeout bounds one probe, which uploads wait for.
	probeTimeout = 10 * time.Second
	// probeRetry is how long after a probe that told nothing uploads go
	// with signed chunks before the next one probes again.
	probeRetry = time.Minute
)

// probePayload is the body of a probe: small, and sent with a trailer that
// is not its checksum.
var probePayload = []byte("s3cache checksum trailer probe\n")

// trailerState is a Transport's knowledge of its backend's trailers. The
// zero value knows nothing.
type trailerState struct {
	known atomic.Int32 // 0 not known, 1 taken, 2 not taken

	mu      sync.Mutex    // guards next and probing
	next    time.Time     // no probe before then
	probing chan struct{} // closed when the probe in flight ends; nil if none is
}

const (
	trailersUnknown = iota
	trailersTaken
	trailersRefused
)

// trailersTaken reports whether an eligible upload to u may go with a
// checksum trailer, probing the backend first if nothing is known yet.
// Uploads that arrive while a probe is in flight wait for it, or until
// ctx is done (false: the upload fails on its own then).
func (t *Transport) trailersTaken(ctx context.Context, u *url.URL) bool {
	s := &t.trailers
	for {
		switch s.known.Load() {
		case trailersTaken:
			return true
		case trailersRefused:
			return false
		}
		s.mu.Lock()
		if k := s.known.Load(); k != trailersUnknown {
			s.mu.Unlock()
			return k == trailersTaken
		}
		if wait := s.probing; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return false
			}
		}
		now := t.now()
		if now.Before(s.next) {
			s.mu.Unlock()
			return false
		}
		done := make(chan struct{})
		s.probing = done
		s.mu.Unlock()

		var p TrailerProbe
		func() {
			// Deferred, so that a probe that panics (in Base, say) still
			// lets the uploads waiting for it go, as one that told
			// nothing.
			defer func() {
				s.mu.Lock()
				switch {
				case p.Taken:
					s.known.Store(trailersTaken)
				case p.Settled:
					s.known.Store(trailersRefused)
				default:
					s.next = now.Add(probeRetry)
				}
				s.probing = nil
				close(done)
				s.mu.Unlock()
			}()
			p = t.probeTrailers(ctx, u)
		}()
		if t.OnProbe != nil {
			t.OnProbe(p)
		}
		return p.Taken
	}
}

// probeTrailers sends the backend a PutObject of probePayload to a new key
// of u's bucket, framed as Transport frames uploads with a trailer, whose
// CRC64NVME trailer is wrong. A backend that verifies trailers refuses it
// and stores nothing; one that takes it without checking has it deleted.
func (t *Transport) probeTrailers(ctx context.Context, u *url.URL) TrailerProbe {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
	defer cancel()
	bucket, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if bucket == "" {
		return TrailerProbe{Err: fmt.Errorf("sigv4: probe: no bucket in %q", u.Path)}
	}
	var id [8]byte
	rand.Read(id[:])
	path := "/" + bucket + "/.s3cache-trailer-probe-" + hex.EncodeToString(id[:])
	target := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: path, RawPath: EscapePath(path)}

	sum := crc64nvme.New()
	sum.Write(probePayload)
	wrong := sum.Sum(nil)
	wrong[len(wrong)-1] ^= 1
	tr := &Trailers{names: []string{checksumPrefix + "crc64nvme"}, values: []string{base64.StdEncoding.EncodeToString(wrong)}}
	req, err := http.NewRequestWithContext(WithTrailers(ctx, tr), http.MethodPut, target.String(), bytes.NewReader(probePayload))
	if err != nil {
		return TrailerProbe{Err: err}
	}
	req.URL = target
	req.Header.Set(headerSDKChecksum, "CRC64NVME")
	res, err := t.RoundTrip(req)
	if err != nil {
		return TrailerProbe{Err: err}
	}
	p := TrailerProbe{Status: res.StatusCode, Code: errorCode(res.Body)}
	res.Body.Close()
	switch {
	case p.Status/100 == 2:
		// Taken with a wrong checksum: the backend does not check
		// trailers, and the probe is an object now.
		p.Settled = true
		del, err := http.NewRequestWithContext(ctx, http.MethodDelete, target.String(), nil)
		if err == nil {
			del.URL = target
			if res, err := t.RoundTrip(del); err == nil {
				io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
				res.Body.Close()
			}
		}
	case p.Status == http.StatusBadRequest && checksumRefusal(p.Code):
		p.Taken, p.Settled = true, true
	case p.Status == http.StatusBadRequest || p.Status == http.StatusNotImplemented || p.Status == http.StatusLengthRequired:
		// The framing itself is refused.
		p.Settled = true
	}
	// Anything else (403, 404, 5xx, a timeout) says nothing of trailers:
	// the key may not write this bucket, or the backend is in trouble.
	return p
}

// checksumRefusal reports whether an S3 error code is the one a backend
// gives for a checksum that does not match the body: AWS S3 and MinIO
// answer BadDigest, versitygw and some others one of the others.
func checksumRefusal(code string) bool {
	switch code {
	case "BadDigest", "XAmzContentChecksumMismatch", "InvalidChecksum", "XAmzContentSHA256Mismatch":
		return true
	}
	return false
}

// errorCode returns the Code of an S3 error body, or "".
func errorCode(body io.Reader) string {
	var e struct{ Code string }
	if xml.NewDecoder(io.LimitReader(body, 64<<10)).Decode(&e) != nil {
		return ""
	}
	return e.Code
}

func (t *Transport) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}
