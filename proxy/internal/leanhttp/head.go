package leanhttp

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// MaxHeadBytes bounds a request's head, its request line and header
// fields: as S3, the server refuses a longer one with
// 400 RequestHeaderSectionTooLarge.
const MaxHeadBytes = 8 << 10

// headEnd returns the length of the request head at the start of b,
// through the empty line that ends it, or -1 if b holds no whole head.
// Lines end as net/http reads them: at "\n", with a "\r" before it
// dropped. An empty first line ends the head too (it is malformed).
func headEnd(b []byte) int {
	start := 0
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return -1
		}
		line := b[start : start+i]
		start += i + 1
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			return start
		}
	}
}

// parsedHead is what the server learnt from a request head.
type parsedHead struct {
	req *http.Request
	// lean says the lean loop serves the request: HTTP/1.1 GET or HEAD
	// with no body, no Expect and no Upgrade. Otherwise Fallback does,
	// reading the body framed as req says.
	lean bool
}

// parseHead parses a whole request head (as headEnd measures it) the way
// net/http's server does, and answers what net/http would refuse with the
// refusal to send. The common GET or HEAD is parsed by hand without
// copies; anything else is parsed by net/http's own reader (slowHead), so
// that both accept and refuse the same requests.
func parseHead(head []byte, remote string) (parsedHead, *Refusal) {
	if req, ok := fastHead(head); ok {
		req.RemoteAddr = remote
		return parsedHead{req: req, lean: true}, nil
	}
	return slowHead(head, remote)
}

// fastHead parses a head made only of what an S3 client sends for a GET or
// HEAD: CRLF line ends, HTTP/1.1, an origin-form target, one valid Host,
// no body and nothing net/http would rewrite. ok is false for anything
// else, which slowHead then judges: fastHead accepts a subset of what
// net/http accepts and never refuses.
func fastHead(head []byte) (req *http.Request, ok bool) {
	if len(head) < 4 || string(head[len(head)-4:]) != "\r\n\r\n" {
		return nil, false
	}
	line, rest, _ := bytes.Cut(head[:len(head)-2], []byte("\r\n"))
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 || string(proto) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return nil, false
	}
	var m string
	switch string(method) {
	case http.MethodGet:
		m = http.MethodGet
	case http.MethodHead:
		m = http.MethodHead
	default:
		return nil, false
	}
	// One string holds the target and every header value, and one slice
	// every header's value list: two allocations where a string and a
	// slice per header were.
	all := string(head)
	str := func(b []byte) string { // b is a part of head, or empty
		if len(b) == 0 {
			return ""
		}
		off := cap(head) - cap(b)
		return all[off : off+len(b)]
	}
	rawTarget := str(target)
	u, err := url.ParseRequestURI(rawTarget)
	if err != nil {
		return nil, false
	}
	values := make([]string, bytes.Count(rest, []byte("\r\n"))+1)
	h := make(http.Header, len(values))
	var host string
	hosts := 0
	closeConn := false
	for len(rest) > 0 {
		var hl []byte
		hl, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, found := bytes.Cut(hl, []byte(":"))
		if !found || len(name) == 0 || !validHeaderName(name) || !validHeaderValue(value) {
			return nil, false // includes obsolete line folding and a bare CR or LF
		}
		value = bytes.Trim(value, " \t")
		key := canonicalHeader(name)
		switch key {
		case "Host":
			if hosts++; hosts > 1 || !validHostHeader(value) {
				return nil, false
			}
			host = str(value)
			continue
		case "Content-Length":
			if string(value) != "0" || h[key] != nil {
				return nil, false
			}
		case "Transfer-Encoding", "Expect", "Upgrade", "Trailer", "Pragma":
			return nil, false
		case "Connection":
			for tok := range strings.SplitSeq(string(value), ",") {
				switch strings.ToLower(strings.Trim(tok, " \t")) {
				case "close":
					closeConn = true
				case "upgrade":
					return nil, false
				}
			}
		}
		if vs := h[key]; vs != nil {
			h[key] = append(vs, str(value))
		} else {
			values[0] = str(value)
			h[key], values = values[:1:1], values[1:]
		}
	}
	if hosts != 1 {
		return nil, false
	}
	return &http.Request{
		Method:     m,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
		Host:       host,
		RequestURI: rawTarget,
		Close:      closeConn,
	}, true
}

// slowHead judges a head with net/http's request reader and the checks
// net/http's server adds (HTTP version, Host, Expect), refusing what they
// refuse with the refusal for it.
func slowHead(head []byte, remote string) (parsedHead, *Refusal) {
	// The header as net/http's reader sees it, Host included (ReadRequest
	// drops it).
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	line, _ := tp.ReadLine()
	mh, mimeErr := tp.ReadMIMEHeader()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		if mimeErr == nil && len(mh["Host"]) <= 1 && unsupportedTE(line, mh) {
			return parsedHead{}, &refuseTransferCode
		}
		return parsedHead{}, withCause(&refuseMalformed, err)
	}
	isH2Upgrade := req.Method == "PRI" && req.RequestURI == "*" && req.Proto == "HTTP/2.0"
	if req.ProtoMajor != 1 && !isH2Upgrade {
		return parsedHead{}, &refuseHTTPVersion
	}
	hosts := mh["Host"]
	if req.ProtoAtLeast(1, 1) && len(hosts) == 0 && !isH2Upgrade && req.Method != http.MethodConnect {
		return parsedHead{}, &refuseMalformed
	}
	if len(hosts) == 1 && !validHostHeader(hosts[0]) {
		return parsedHead{}, &refuseMalformed
	}
	for k, vs := range mh {
		if !validHeaderName([]byte(k)) {
			return parsedHead{}, &refuseMalformed
		}
		for _, v := range vs {
			if !validHeaderValue(v) {
				return parsedHead{}, &refuseMalformed
			}
		}
	}
	expect := req.Header.Get("Expect")
	if expect != "" && !hasToken(expect, "100-continue") {
		return parsedHead{}, &refuseExpectation
	}
	req.RemoteAddr = remote
	lean := (req.Method == http.MethodGet || req.Method == http.MethodHead) &&
		req.ProtoMajor == 1 && req.ProtoMinor == 1 && req.URL.Host == "" &&
		req.ContentLength == 0 && len(req.TransferEncoding) == 0 && expect == "" &&
		req.Header["Upgrade"] == nil && req.Header["Trailer"] == nil &&
		!headerHasToken(req.Header["Connection"], "upgrade")
	if lean {
		req.Body = http.NoBody
	}
	return parsedHead{req: req, lean: lean}, nil
}

// unsupportedTE reports whether net/http refuses a head whose request
// line and header it read for its Transfer-Encoding, which it answers 501:
// a well-formed HTTP/1.1 (or later) request line and a Transfer-Encoding
// other than one "chunked". net/http reads the body of an HTTP/0.0
// request as HTTP/1.1's (transferReader), so that counts as 1.1.
func unsupportedTE(line string, mh textproto.MIMEHeader) bool {
	te, ok := mh["Transfer-Encoding"]
	if !ok || len(te) == 1 && asciiEqualFold(te[0], "chunked") {
		return false
	}
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	major, minor, ok3 := http.ParseHTTPVersion(proto)
	if major == 0 && minor == 0 {
		major, minor = 1, 1
	}
	if !ok1 || !ok2 || !ok3 || method == "" || !validHeaderName([]byte(method)) || major < 1 || major == 1 && minor < 1 {
		return false
	}
	if method == http.MethodConnect && !strings.HasPrefix(target, "/") {
		target = "http://" + target
	}
	_, err := url.ParseRequestURI(target)
	return err == nil
}

// asciiEqualFold is strings.EqualFold for ASCII only, as net/http
// compares protocol words.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// headerHasToken reports whether one of the comma-separated lists in vs
// holds token, compared without regard to case.
func headerHasToken(vs []string, token string) bool {
	for _, v := range vs {
		for tok := range strings.SplitSeq(v, ",") {
			if asciiEqualFold(strings.Trim(tok, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// hasToken reports whether v holds token as net/http's Expect check
// reads it: without regard to case, bounded by the start or end, a space,
// a comma or a tab.
func hasToken(v, token string) bool {
	if len(token) > len(v) || token == "" {
		return false
	}
	if v == token {
		return true
	}
	boundary := func(b byte) bool { return b == ' ' || b == ',' || b == '\t' }
	for sp := 0; sp <= len(v)-len(token); sp++ {
		if sp > 0 && !boundary(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !boundary(v[end]) {
			continue
		}
		if asciiEqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

// validHostHeader reports whether h is a Host value net/http's server
// accepts: only bytes that may appear in a host, a port or an IPv6
// literal.
func validHostHeader[S ~string | ~[]byte](h S) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// canonicalHeader returns the canonical form of a header name, without
// allocating for the common names clients send.
func canonicalHeader(name []byte) string {
	switch string(name) {
	case "Host", "host":
		return "Host"
	case "Authorization", "authorization":
		return "Authorization"
	case "X-Amz-Date", "x-amz-date":
		return "X-Amz-Date"
	case "X-Amz-Content-Sha256", "x-amz-content-sha256":
		return "X-Amz-Content-Sha256"
	case "User-Agent", "user-agent":
		return "User-Agent"
	case "Accept", "accept":
		return "Accept"
	case "Accept-Encoding", "accept-encoding":
		return "Accept-Encoding"
	case "Connection", "connection":
		return "Connection"
	case "Range", "range":
		return "Range"
	}
	return http.CanonicalHeaderKey(string(name))
}

// validHeaderName reports whether b is an HTTP token.
func validHeaderName(b []byte) bool {
	for _, c := range b {
		if !tokenByte[c] {
			return false
		}
	}
	return true
}

// tokenByte holds the bytes of an HTTP token (a header name).
var tokenByte = func() (t [256]bool) {
	for c := '!'; c < 0x7f; c++ {
		t[c] = !strings.ContainsRune(`()<>@,;:\"/[]?={}`, c)
	}
	return t
}()

// validHeaderValue rejects control characters other than tab.
func validHeaderValue[S ~string | ~[]byte](b S) bool {
	for i := 0; i < len(b); i++ {
		if c := b[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
