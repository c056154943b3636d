package proxy

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/s3cache/s3cache/proxy/internal/postpolicy"
	"github.com/s3cache/s3cache/proxy/internal/s3api"
	"github.com/s3cache/s3cache/sigv4"
)

// Browser POST uploads: an HTML form posted to a bucket, with the file
// and fields (key, Content-Type, x-amz-meta-*…) in a multipart/form-data
// body, authenticated by a signed policy that bounds what the form may
// hold. The proxy checks it all as S3 does, then stores the file with a
// PutObject of its own, re-signed and framed like any client's upload, so
// it fences and invalidates the key like one; the backend's answer is
// turned into the form's (success_action_status or
// success_action_redirect).

// opPostObject is a browser POST upload: a write of the key the form names.
var opPostObject = s3api.Operation{Name: "PostObject", Write: true, Effect: s3api.EffectKey}

// isPostUpload reports whether r is a browser POST upload: a POST of a
// multipart/form-data body to a bucket, with no query and no other
// authentication (a signed POST to a bucket is some other request, for
// the backend to judge).
func isPostUpload(r *http.Request, rq *request) bool {
	if r.Method != http.MethodPost || rq.front != frontS3 || rq.bucket == "" || rq.key != "" || r.URL.RawQuery != "" {
		return false
	}
	if len(r.Header.Values("Authorization")) > 0 {
		return false
	}
	_, ok := postpolicy.MediaType(r.Header.Get("Content-Type"))
	return ok
}

// postFieldHeaders maps form fields to the PutObject headers they become;
// x-amz-meta-* and the fields listed in postAmzFields keep their names.
var postFieldHeaders = map[string]string{
	"content-type":        "Content-Type",
	"cache-control":       "Cache-Control",
	"content-disposition": "Content-Disposition",
	"content-encoding":    "Content-Encoding",
	"content-language":    "Content-Language",
	"expires":             "Expires",
	"acl":                 "X-Amz-Acl",
}

// postAmzFields are the x-amz-* form fields S3 stores with the object.
var postAmzFields = []string{
	"x-amz-storage-class", "x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id",
	"x-amz-server-side-encryption-context", "x-amz-server-side-encryption-bucket-key-enabled",
	"x-amz-server-side-encryption-customer-algorithm", "x-amz-server-side-encryption-customer-key",
	"x-amz-server-side-encryption-customer-key-md5", "x-amz-website-redirect-location",
	"x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold",
	"x-amz-checksum-algorithm", "x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme",
	"x-amz-checksum-sha1", "x-amz-checksum-sha256",
}

var (
	errPostNoKey       = s3api.New(http.StatusBadRequest, "InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
	errPostNoSignature = s3api.New(http.StatusBadRequest, "InvalidArgument", "Bucket POST must contain a field named 'policy' and its signature ('x-amz-signature', or 'AWSAccessKeyId' and 'signature').  If it is specified, please check the order of the fields.")
	errMalformedXML    = s3api.New(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
)

// servePostUpload answers a browser POST upload (see isPostUpload). It
// stands in for ServeHTTP's authentication: the form's policy signature
// says who uploads, and nothing is read of the file before the policy,
// the signer's permission and the file's length were checked.
func (p *Proxy) servePostUpload(w http.ResponseWriter, r *http.Request, rq *request) {
	rq.op = opPostObject
	if !s3api.ValidBucketName(rq.bucket) {
		p.writeError(w, r, s3api.ErrInvalidBucketName)
		return
	}
	boundary, _ := postpolicy.MediaType(r.Header.Get("Content-Type"))
	form, err := postpolicy.ReadForm(r.Body, r.ContentLength, boundary)
	if err != nil {
		p.writeError(w, r, postError(err))
		return
	}
	f := form.Fields
	pf := sigv4.PostForm{
		Policy: f["policy"], Algorithm: f["x-amz-algorithm"], Credential: f["x-amz-credential"],
		Date: f["x-amz-date"], Signature: f["x-amz-signature"],
		AccessKeyID: f["awsaccesskeyid"], SignatureV2: f["signature"],
	}
	if !pf.Signed() {
		// Anonymous uploads are writes, which no anonymous grant allows.
		p.writeError(w, r, s3api.ErrAccessDenied)
		return
	}
	ak, err := p.verifier.VerifyPostForm(&pf)
	switch {
	case errors.Is(err, sigv4.ErrMissingAuth):
		p.writeError(w, r, errPostNoSignature.WithCause(err))
		return
	case err != nil:
		p.writeError(w, r, err)
		return
	}
	if rq.who = p.auth.Load().User(ak); rq.who == nil {
		p.writeError(w, r, s3api.ErrAccessDenied)
		return
	}
	rq.auth = &sigv4.Result{AccessKey: ak, Body: http.NoBody, PayloadHash: "UNSIGNED-PAYLOAD"}

	key, ok := f["key"]
	if !ok || key == "" {
		p.writeError(w, r, errPostNoKey)
		return
	}
	key = strings.ReplaceAll(key, "${filename}", form.FileName)
	if s3api.KeyLeavesBucket(key) {
		p.writeError(w, r, s3api.ErrKeyLeavesBucket)
		return
	}
	if err := s3api.CheckKey(key); err != nil {
		p.writeError(w, r, err)
		return
	}
	policy, err := postpolicy.Parse(pf.Policy)
	if err != nil {
		p.writeError(w, r, postError(err))
		return
	}
	// The bucket is the one posted to, whatever a bucket field says; the
	// key is the one that will be stored, ${filename} replaced.
	checked := make(map[string]string, len(f)+1)
	for k, v := range f {
		checked[k] = v
	}
	checked["bucket"], checked["key"] = rq.bucket, key
	if err := policy.Check(checked, p.cfg.Now()); err != nil {
		p.writeError(w, r, postError(err))
		return
	}
	if err := policy.CheckLength(form.Length); err != nil {
		p.writeError(w, r, postError(err))
		return
	}
	if form.Length > maxPutBytes {
		p.writeError(w, r, s3api.ErrEntityTooLarge)
		return
	}
	rq.key = key
	if !p.admit(w, r, rq) {
		return
	}
	h, err := postHeaders(f)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	answer := &postAnswer{ResponseWriter: w, rq: rq, status: http.StatusNoContent, location: objectURL(r, rq)}
	if s := f["success_action_status"]; s == "200" || s == "201" {
		answer.status, _ = strconv.Atoi(s)
	}
	for _, name := range []string{"success_action_redirect", "redirect"} {
		if u, err := url.Parse(f[name]); err == nil && u.IsAbs() {
			answer.redirect = u
			break
		}
	}
	put := r.Clone(r.Context())
	put.Method = http.MethodPut
	put.URL = &url.URL{Path: "/" + rq.bucket + "/" + key}
	put.Header = h
	put.ContentLength = form.Length
	rq.auth.Body, rq.auth.ContentLength = io.NopCloser(form.File), form.Length
	p.forward(answer, put, rq, "")
}

// postError turns a form or policy error into the S3 error sent; others
// (the client's body failing) are mapped as for any upload.
func postError(err error) error {
	var pe *postpolicy.Error
	if errors.As(err, &pe) {
		return s3api.New(pe.Status, pe.Code, pe.Message)
	}
	return clientBodyError(err)
}

// postHeaders returns the PutObject headers for a form's fields.
func postHeaders(f map[string]string) (http.Header, error) {
	h := http.Header{}
	for field, v := range f {
		switch {
		case postFieldHeaders[field] != "":
			h.Set(postFieldHeaders[field], v)
		case strings.HasPrefix(field, "x-amz-meta-"):
			h[field] = []string{v} // lower case, as S3 stores the name
		case field == "tagging":
			tags, err := tagQuery(v)
			if err != nil {
				return nil, errMalformedXML.WithCause(err)
			}
			h.Set("X-Amz-Tagging", tags)
		}
	}
	for _, field := range postAmzFields {
		if v, ok := f[field]; ok {
			h.Set(field, v)
		}
	}
	return h, nil
}

// tagQuery turns a form's tagging field, a Tagging XML document, into the
// x-amz-tagging header's query form.
func tagQuery(doc string) (string, error) {
	var t struct {
		Tags []struct {
			Key   string `xml:"Key"`
			Value string `xml:"Value"`
		} `xml:"TagSet>Tag"`
	}
	if err := xml.Unmarshal([]byte(doc), &t); err != nil {
		return "", err
	}
	q := url.Values{}
	for _, tag := range t.Tags {
		q.Add(tag.Key, tag.Value)
	}
	return q.Encode(), nil
}

// objectURL is the URL of the object rq names, as the client reaches it
// through the proxy: S3's Location for a POST upload.
func objectURL(r *http.Request, rq *request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := "/" + rq.bucket + "/" + rq.key
	if rq.vhost {
		path = "/" + rq.key
	}
	return scheme + "://" + r.Host + (&url.URL{Path: path}).EscapedPath()
}

// postAnswer turns the backend's answer to the PutObject of a POST upload
// into the form's: 204 (or success_action_status 200 or 201, the latter
// with a PostResponse document), or a 303 to success_action_redirect.
// Other answers (errors) are relayed as they are.
type postAnswer struct {
	http.ResponseWriter
	rq       *request
	status   int
	redirect *url.URL
	location string
	started  bool
	swallow  bool // the backend's body of a 200 is not the form's
}

func (a *postAnswer) Unwrap() http.ResponseWriter { return a.ResponseWriter }

func (a *postAnswer) WriteHeader(code int) {
	if a.started {
		return
	}
	a.started = true
	if code != http.StatusOK {
		a.ResponseWriter.WriteHeader(code)
		return
	}
	a.swallow = true
	h := a.Header()
	etag := h.Get("Etag")
	if etag == "" {
		etag = firstValue(h, etagS3)
	}
	h.Del("Content-Length")
	if a.redirect != nil {
		u := *a.redirect
		q := "bucket=" + url.QueryEscape(a.rq.bucket) + "&key=" + url.QueryEscape(a.rq.key) + "&etag=" + url.QueryEscape(etag)
		if u.RawQuery != "" {
			q = u.RawQuery + "&" + q
		}
		u.RawQuery = q
		h.Set("Location", u.String())
		a.ResponseWriter.WriteHeader(http.StatusSeeOther)
		return
	}
	h.Set("Location", a.location)
	if a.status != http.StatusCreated {
		a.ResponseWriter.WriteHeader(a.status)
		return
	}
	body, _ := xml.Marshal(struct {
		XMLName  xml.Name `xml:"PostResponse"`
		Location string
		Bucket   string
		Key      string
		ETag     string
	}{Location: a.location, Bucket: a.rq.bucket, Key: a.rq.key, ETag: etag})
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(body)))
	a.ResponseWriter.WriteHeader(http.StatusCreated)
	a.ResponseWriter.Write([]byte(xml.Header))
	a.ResponseWriter.Write(body)
}

func (a *postAnswer) Write(b []byte) (int, error) {
	if !a.started {
		a.WriteHeader(http.StatusOK)
	}
	if a.swallow {
		return len(b), nil
	}
	return a.ResponseWriter.Write(b)
}
