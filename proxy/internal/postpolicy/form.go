package postpolicy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"strings"
)

// MaxPreData bounds the bytes of a form before its file: the fields, the
// policy among them, and their part headers. Past it S3 answers
// MaxPostPreDataLengthExceeded.
const MaxPreData = 64 << 10

// Form is a multipart/form-data POST upload read up to its file, whose
// bytes are then streamed. The zero value holds no form.
type Form struct {
	// Fields holds every field before the file, by lower-case name.
	Fields map[string]string
	// FileName is the file part's filename parameter, for ${filename}.
	FileName string
	// File reads the file's bytes: exactly Length of them, then io.EOF
	// once the rest of the body was checked to be the form's closing
	// boundary and nothing else. It returns its last byte only together
	// with that check, so a reader that stops at the first error never
	// passes on a whole file from a body that was not a whole form. Its
	// errors are *Error values, or io.ErrUnexpectedEOF for a body cut
	// short.
	File io.Reader
	// Length is the file's size, known before it is read: the request's
	// Content-Length less the fields before the file and the closing
	// boundary after it.
	Length int64
}

// Form errors, in S3's words.
var (
	ErrMalformedForm = &Error{Status: 400, Code: "MalformedPOSTRequest", Message: "The body of your POST request is not well-formed multipart/form-data."}
	ErrPreData       = &Error{Status: 400, Code: "MaxPostPreDataLengthExceeded", Message: "Your POST request fields preceding the upload file were too large."}
	ErrNoFile        = &Error{Status: 400, Code: "InvalidArgument", Message: "POST requires exactly one file upload per request."}
	ErrFileNotLast   = &Error{Status: 400, Code: "MalformedPOSTRequest", Message: "The file must be the last field of the form: this server does not take fields after it."}
	ErrDuplicate     = &Error{Status: 400, Code: "InvalidArgument", Message: "A POST form field is given more than once."}
	ErrNoLength      = &Error{Status: 411, Code: "MissingContentLength", Message: "You must provide the Content-Length HTTP header."}
)

// MediaType returns the boundary of a multipart/form-data Content-Type,
// and false for any other type.
func MediaType(contentType string) (boundary string, ok bool) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" {
		return "", false
	}
	return params["boundary"], true
}

// ReadForm reads a POST upload form of length bytes (its Content-Length;
// -1 when unknown) from body, up to the start of its file, which it must
// hold; boundary comes from MediaType.
//
// The file must be the last part and the body must end with the closing
// boundary and a CRLF, as browsers, curl and the SDKs' form encoders
// write it: that is how its length is known before it is read, which a
// backend needs to store it.
func ReadForm(body io.Reader, length int64, boundary string) (*Form, error) {
	if boundary == "" || len(boundary) > 70 {
		return nil, ErrMalformedForm
	}
	if length < 0 {
		return nil, ErrNoLength
	}
	cr := &countingReader{r: body}
	fr := &formReader{br: bufio.NewReaderSize(cr, 16<<10), cr: cr, dash: "--" + boundary}
	// The form starts with its first boundary: no preamble, which browsers
	// and encoders never send.
	line, err := fr.line()
	if err != nil {
		return nil, err
	}
	if !fr.isBoundary(line) {
		return nil, ErrMalformedForm
	}
	if isClose(line, fr.dash) {
		return nil, ErrNoFile
	}
	f := &Form{Fields: map[string]string{}}
	for {
		name, filename, err := fr.partHeader()
		if err != nil {
			return nil, err
		}
		name = strings.ToLower(name)
		if name == "file" {
			start := cr.n - int64(fr.br.Buffered())
			trailer := "\r\n" + fr.dash + "--\r\n"
			f.FileName = filename
			f.Length = length - start - int64(len(trailer))
			if f.Length < 0 {
				return nil, ErrMalformedForm
			}
			// The CRLF ending the part's header starts tail: a file that
			// begins with the boundary is as refused as one holding it.
			f.File = &fileReader{br: fr.br, left: f.Length, delim: []byte("\r\n" + fr.dash), trailer: []byte(trailer), tail: []byte("\r\n")}
			return f, nil
		}
		value, last, err := fr.value()
		if err != nil {
			return nil, err
		}
		if _, dup := f.Fields[name]; dup {
			return nil, ErrDuplicate
		}
		f.Fields[name] = value
		if last {
			return nil, ErrNoFile
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// formReader reads the parts before the file.
type formReader struct {
	br   *bufio.Reader
	cr   *countingReader
	dash string // "--" + boundary
}

// line returns the next line with its line end, failing once the form
// before the file outgrows MaxPreData. The slice is valid until the next
// read.
func (fr *formReader) line() ([]byte, error) {
	var long []byte
	for {
		b, err := fr.br.ReadSlice('\n')
		if fr.cr.n-int64(fr.br.Buffered()) > MaxPreData {
			return nil, ErrPreData
		}
		switch {
		case err == nil && long == nil:
			return b, nil
		case err == nil:
			return append(long, b...), nil
		case errors.Is(err, bufio.ErrBufferFull):
			long = append(long, b...)
		case errors.Is(err, io.EOF):
			return nil, ErrMalformedForm // the form ended before its file
		default:
			return nil, err
		}
	}
}

// isBoundary reports whether line is a boundary line: the dash boundary,
// optionally "--" (the close), then optional white space and CRLF.
func (fr *formReader) isBoundary(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte(fr.dash))
	if !ok {
		return false
	}
	rest = bytes.TrimPrefix(rest, []byte("--"))
	rest, ok = bytes.CutSuffix(rest, []byte("\r\n"))
	return ok && len(bytes.TrimRight(rest, " \t")) == 0
}

func isClose(line []byte, dash string) bool {
	return bytes.HasPrefix(line, []byte(dash+"--"))
}

// partHeader reads a part's header and returns the name and filename of
// its Content-Disposition.
func (fr *formReader) partHeader() (name, filename string, err error) {
	for {
		line, err := fr.line()
		if err != nil {
			return "", "", err
		}
		if string(line) == "\r\n" {
			break
		}
		text, crlf := strings.CutSuffix(string(line), "\r\n")
		k, v, ok := strings.Cut(text, ":")
		if !crlf || !ok || !isToken(k) || strings.ContainsFunc(v, isCTL) {
			return "", "", ErrMalformedForm
		}
		if !strings.EqualFold(k, "Content-Disposition") {
			continue
		}
		disp, params, err := mime.ParseMediaType(strings.TrimSpace(v))
		if err != nil || disp != "form-data" {
			return "", "", ErrMalformedForm
		}
		name, filename = params["name"], params["filename"]
	}
	if name == "" {
		return "", "", ErrMalformedForm
	}
	return name, filename, nil
}

// isToken reports whether s is a header field name: one or more token
// characters of RFC 9110.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// isCTL reports whether r may not appear in a header value: a control
// character other than a tab.
func isCTL(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }

// value reads a field's value up to the next boundary; last is true when
// that boundary closes the form.
func (fr *formReader) value() (value string, last bool, err error) {
	var acc []byte
	for {
		line, err := fr.line()
		if err != nil {
			return "", false, err
		}
		// The CRLF ending the part's header counts as the delimiter's
		// when the value is empty, as mime/multipart reads it.
		if len(acc) == 0 && fr.isBoundary(line) {
			return "", isClose(line, fr.dash), nil
		}
		if bytes.HasSuffix(acc, []byte("\r\n")) && fr.isBoundary(line) {
			return string(acc[:len(acc)-2]), isClose(line, fr.dash), nil
		}
		acc = append(acc, line...)
	}
}

// fileReader streams a file part of known length; see Form.File.
type fileReader struct {
	br      *bufio.Reader
	left    int64
	delim   []byte // CRLF "--" boundary: never inside a file
	trailer []byte // what must follow the file
	tail    []byte // the last len(delim)-1 bytes returned
	scratch []byte
	err     error
}

func (f *fileReader) Read(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	if f.left == 0 {
		// An empty file: its trailer is all there is to check.
		if f.err = f.checkTrailer(); f.err == nil {
			f.err = io.EOF
		}
		return 0, f.err
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.br.Read(p)
	if n > 0 {
		if f.crossesDelim(p[:n]) {
			f.err = ErrFileNotLast
			return 0, f.err
		}
		f.left -= int64(n)
		if f.left == 0 {
			if cerr := f.checkTrailer(); cerr != nil {
				f.err = cerr
				return 0, cerr
			}
			f.err = io.EOF
			return n, io.EOF
		}
	}
	if errors.Is(err, io.EOF) {
		f.err = io.ErrUnexpectedEOF
		return n, f.err
	}
	if err != nil {
		f.err = err
	}
	return n, err
}

// crossesDelim reports whether the boundary delimiter appears in b or
// across the end of what was returned before and b, and remembers b's
// tail.
func (f *fileReader) crossesDelim(b []byte) bool {
	if bytes.Contains(b, f.delim) {
		return true
	}
	k := len(f.delim) - 1
	f.scratch = append(append(f.scratch[:0], f.tail...), b[:min(len(b), k)]...)
	if bytes.Contains(f.scratch, f.delim) {
		return true
	}
	f.scratch = append(f.scratch[:0], f.tail...)
	f.scratch = append(f.scratch, b[max(0, len(b)-k):]...)
	f.tail = append(f.tail[:0], f.scratch[max(0, len(f.scratch)-k):]...)
	return false
}

// checkTrailer reads what follows the file: exactly the closing boundary.
func (f *fileReader) checkTrailer() error {
	got := make([]byte, len(f.trailer)+1)
	n, err := io.ReadFull(f.br, got)
	ended := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	switch {
	case ended && n == len(f.trailer) && bytes.Equal(got[:n], f.trailer):
		return nil
	case ended && n < len(f.trailer) && bytes.HasPrefix(f.trailer, got[:n]):
		return io.ErrUnexpectedEOF // cut short of its Content-Length
	case err != nil && !ended:
		return err
	}
	// It ends in another way than the closing boundary and a CRLF.
	return ErrMalformedForm
}
