package sigv4

import (
	"context"
	"encoding/base64"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/minio/crc64nvme"
)

// Transport is an http.RoundTripper that removes the client's SigV4
// authentication from a request and signs it with its own credentials as
// the last step before Base sends it.
//
// The request's URL must already carry the S3-encoded path: EscapedPath()
// is signed as is (no further escaping). The payload hash is taken from the
// request's context (see [WithPayloadHash]), "UNSIGNED-PAYLOAD" by default.
// Only headers the Go transport sends unchanged are signed.
//
// The zero value signs with empty credentials for us-east-1 and sends with
// http.DefaultTransport. A Transport is safe for concurrent use once its
// fields are no longer being changed; it must not be copied after first use.
type Transport struct {
	// Base sends the signed request. If nil, http.DefaultTransport is used.
	Base http.RoundTripper
	// AccessKey and SecretKey are the backend credentials.
	AccessKey string
	SecretKey string
	// Region is the region signed for. If empty, "us-east-1".
	Region string
	// Now returns the signing time. If nil, time.Now is used.
	Now func() time.Time
	// ChunkedUploads sends every body whose payload is unsigned
	// ("UNSIGNED-PAYLOAD": the backend could not tell a prefix from the
	// whole) as aws-chunked, each chunk signed with the backend's key
	// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), so that a body cut short can
	// never look complete. If false, such bodies are sent as they are,
	// framed by Content-Length alone.
	ChunkedUploads bool
	// TrailerUploads, with ChunkedUploads, sends a PutObject body of that
	// kind (one with no checksum of its own) as unsigned aws-chunked with a
	// CRC64NVME trailer computed as it streams
	// (STREAMING-UNSIGNED-PAYLOAD-TRAILER) instead: the trailer goes out only
	// after the whole body did, so a body cut short can never look complete
	// either, the backend verifies the checksum and records it (as S3 does
	// for an object uploaded without one), and the proxy computes a CRC
	// rather than a SHA-256 of every byte. Parts of multipart uploads keep
	// the signed chunks: S3 wants every part's checksum algorithm to be the
	// one CreateMultipartUpload declared.
	TrailerUploads bool
	// ProbeTrailers, with ChunkedUploads and without TrailerUploads, sends
	// such a PutObject with a trailer once the backend has shown it
	// verifies them. Before the first of them the Transport asks it: it
	// sends a small PutObject to a new key of the upload's bucket whose
	// CRC64NVME trailer is wrong. A backend that refuses it as a checksum
	// mismatch takes trailers; one that refuses the framing, or takes the
	// probe (which is then deleted), gets signed chunks for good. A probe
	// that tells nothing (no answer, 403, 5xx) leaves signed chunks for a
	// minute, and the next upload after that probes again. Uploads wait
	// for the probe in flight, at most 10 seconds, or until their request's
	// context is done.
	ProbeTrailers bool
	// OnProbe, if not nil, is told what each probe found.
	OnProbe func(TrailerProbe)

	keys     signingKeyCache
	trailers trailerState
}

var _ http.RoundTripper = (*Transport)(nil)

type payloadHashKey struct{}

// WithPayloadHash returns a context telling [Transport] the hex SHA-256 of
// the request payload (or "UNSIGNED-PAYLOAD", the default without it).
func WithPayloadHash(ctx context.Context, hash string) context.Context {
	return context.WithValue(ctx, payloadHashKey{}, hash)
}

func payloadHash(ctx context.Context) string {
	if h, ok := ctx.Value(payloadHashKey{}).(string); ok && h != "" {
		return h
	}
	return unsignedPayload
}

// clientAuthHeaders are removed from every outbound request.
var clientAuthHeaders = []string{
	headerAuthorization,
	headerAmzDate,
	headerContentSHA256,
	headerSecurityToken,
	headerDecodedLength,
	headerTrailer,
}

// presignParamNames are removed from every outbound query.
var presignParamNames = []string{
	queryAlgorithm, queryCredential, queryDate, queryExpires,
	querySignedHeaders, querySignature, querySecurityToken,
}

// unsignableHeaders are sent but never signed: the Go transport or a hop
// on the way may add, drop or rewrite them.
var unsignableHeaders = map[string]bool{
	"Accept-Encoding":     true,
	"Connection":          true,
	"Content-Length":      true, // signed from ContentLength by the signer
	"Expect":              true,
	"Keep-Alive":          true,
	"Proxy-Authorization": true,
	"Proxy-Connection":    true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
	"User-Agent":          true,
	"X-Amzn-Trace-Id":     true,
}

// RoundTrip implements http.RoundTripper. It never modifies req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	out := req.Clone(ctx)
	if out.Header == nil {
		out.Header = make(http.Header)
	}
	stripClientAuth(out)
	hash := payloadHash(ctx)
	var decoded int64 = -1 // the payload length of a body sent as signed chunks
	switch tr := trailersFrom(ctx); {
	case tr != nil && out.ContentLength >= 0:
		hash = streamingUnsignedTrailer
		encodeTrailers(out, tr)
	case (t.TrailerUploads || t.ProbeTrailers) && t.ChunkedUploads && hash == unsignedPayload && out.ContentLength > 0 && out.Body != nil && out.Body != http.NoBody &&
		out.Method == http.MethodPut && !isPart(out) && !hasChecksumHeader(out.Header) && out.Header.Get(headerSDKChecksum) == "" &&
		(t.TrailerUploads || t.trailersTaken(ctx, out.URL)):
		hash = streamingUnsignedTrailer
		encodeChecksumTrailer(out)
	case t.ChunkedUploads && hash == unsignedPayload && out.ContentLength > 0 && out.Body != nil && out.Body != http.NoBody:
		hash, decoded = streamingSigned, out.ContentLength
		encodeSignedChunks(out)
	}
	out.Header.Set(headerContentSHA256, hash)

	region := t.Region
	if region == "" {
		region = "us-east-1"
	}
	at := t.now().UTC()
	key, scope, seed := t.signHeaders(out, hash, region, at)
	if decoded >= 0 {
		out.Body = newSignedChunkBody(out.Body, decoded, key.key, out.Header.Get(headerAmzDate), scope, seed)
	}

	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	res, err := base.RoundTrip(out)
	if res != nil {
		// aws-chunked frames an upload; S3 does not keep it as the
		// object's Content-Encoding, but some servers (versitygw 1.8) do,
		// and would hand it back for an object the client uploaded plain.
		dropAWSChunked(res.Header)
	}
	return res, err
}

// dropAWSChunked removes the aws-chunked token from h's Content-Encoding,
// and the header if nothing else is left.
func dropAWSChunked(h http.Header) {
	ce := h.Values("Content-Encoding")
	if len(ce) == 0 {
		return
	}
	chunked := false
	for _, v := range ce {
		chunked = chunked || strings.Contains(strings.ToLower(v), "aws-chunked")
	}
	if !chunked {
		return
	}
	var keep []string
	for _, v := range ce {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			if tok != "" && !strings.EqualFold(tok, "aws-chunked") {
				keep = append(keep, tok)
			}
		}
	}
	if len(keep) == 0 {
		h.Del("Content-Encoding")
	} else {
		h.Set("Content-Encoding", strings.Join(keep, ","))
	}
}

// encodeTrailers makes out's body (the decoded payload of out.ContentLength
// bytes) an aws-chunked body that ends with the client's checksum trailers.
func encodeTrailers(out *http.Request, tr *Trailers) {
	src := out.Body
	if src == nil {
		src = http.NoBody
	}
	out.Body = newTrailerBody(src, out.ContentLength, tr)
	out.GetBody = nil
	out.Header.Set(headerDecodedLength, strconv.FormatInt(out.ContentLength, 10))
	out.Header.Set(headerTrailer, strings.Join(tr.names, ","))
	if ce := out.Header.Get("Content-Encoding"); ce != "" {
		out.Header.Set("Content-Encoding", "aws-chunked,"+ce)
	} else {
		out.Header.Set("Content-Encoding", "aws-chunked")
	}
	out.ContentLength = encodedLength(out.ContentLength, tr.names)
}

// encodeChecksumTrailer sends out's body (the payload of out.ContentLength
// bytes; not nil) as unsigned aws-chunked with an x-amz-checksum-crc64nvme trailer
// of the payload, computed as it streams.
func encodeChecksumTrailer(out *http.Request) {
	tr := &Trailers{names: []string{checksumPrefix + "crc64nvme"}}
	out.Body = &checksumSource{ReadCloser: out.Body, h: crc64nvme.New(), tr: tr}
	out.Header.Set(headerSDKChecksum, "CRC64NVME")
	encodeTrailers(out, tr)
}

// checksumSource computes the checksum of what it reads and, at the end of
// its source, sets it as the one value of tr, for trailerBody to send.
type checksumSource struct {
	io.ReadCloser
	h  hash.Hash
	tr *Trailers
}

func (s *checksumSource) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	s.h.Write(p[:n])
	if err == io.EOF {
		s.tr.values = []string{base64.StdEncoding.EncodeToString(s.h.Sum(nil))}
	}
	return n, err
}

// isPart reports whether r uploads a part of a multipart upload (UploadPart;
// UploadPartCopy has no body).
func isPart(r *http.Request) bool {
	q := r.URL.RawQuery
	return q != "" && r.URL.Query().Has("uploadId")
}

// encodeSignedChunks declares out's body (the payload of out.ContentLength
// bytes) as signed aws-chunked; RoundTrip wraps the body once the request
// is signed, as every chunk signature chains from the request's.
func encodeSignedChunks(out *http.Request) {
	out.GetBody = nil
	out.Header.Set(headerDecodedLength, strconv.FormatInt(out.ContentLength, 10))
	if ce := out.Header.Get("Content-Encoding"); ce != "" {
		out.Header.Set("Content-Encoding", "aws-chunked,"+ce)
	} else {
		out.Header.Set("Content-Encoding", "aws-chunked")
	}
	out.ContentLength = signedEncodedLength(out.ContentLength)
}

// closeBody honours the RoundTripper contract of closing the body on error.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// stripClientAuth removes the client's SigV4 material from r's headers and
// query.
func stripClientAuth(r *http.Request) {
	for _, h := range clientAuthHeaders {
		r.Header.Del(h)
	}
	dropAWSChunked(r.Header)
	if r.Header.Get(headerSDKChecksum) != "" && !hasChecksumHeader(r.Header) && trailersFrom(r.Context()) == nil {
		r.Header.Del(headerSDKChecksum)
	}
	if r.URL != nil && r.URL.RawQuery != "" {
		r.URL.RawQuery = stripPresignQuery(r.URL.RawQuery)
		r.URL.ForceQuery = false
	}
}

// hasChecksumHeader reports whether h carries an x-amz-checksum-<alg> value
// (as opposed to x-amz-checksum-mode, -type or -algorithm).
func hasChecksumHeader(h http.Header) bool {
	for k := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, checksumPrefix) {
			continue
		}
		switch lk[len(checksumPrefix):] {
		case "mode", "type", "algorithm":
			continue
		}
		return true
	}
	return false
}

// stripPresignQuery drops the presign parameters from a raw query, leaving
// every other parameter byte for byte as it was.
func stripPresignQuery(raw string) string {
	var b strings.Builder
	changed := false
	rest := raw
	for rest != "" {
		var seg string
		seg, rest, _ = strings.Cut(rest, "&")
		name, _, _ := strings.Cut(seg, "=")
		dn := decodeQueryComponent(name)
		drop := false
		for _, p := range presignParamNames {
			if strings.EqualFold(dn, p) {
				drop = true
				break
			}
		}
		if drop {
			changed = true
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(seg)
	}
	if !changed {
		return raw
	}
	return b.String()
}
