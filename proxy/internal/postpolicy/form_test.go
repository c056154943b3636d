package postpolicy

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"strings"
	"testing"
)

// encode builds a form as Go's mime/multipart writer (like browsers, curl
// and requests) does: fields in order, then the file.
func encode(t testing.TB, fields [][2]string, filename string, file []byte) (body []byte, boundary string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	mw.Close()
	return b.Bytes(), mw.Boundary()
}

func readAll(t *testing.T, body []byte, boundary string) (*Form, []byte, error) {
	t.Helper()
	f, err := ReadForm(bytes.NewReader(body), int64(len(body)), boundary)
	if err != nil {
		return nil, nil, err
	}
	got, err := io.ReadAll(f.File)
	return f, got, err
}

func TestReadForm(t *testing.T) {
	file := bytes.Repeat([]byte("0123456789\r\n--"), 10000) // CRLF and dashes, never the boundary
	body, boundary := encode(t, [][2]string{{"Key", "a/${filename}"}, {"policy", "eyJ9"}, {"empty", ""}, {"multi", "line one\r\nline two\r\n"}}, "photo.jpg", file)
	f, got, err := readAll(t, body, boundary)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, file) || f.Length != int64(len(file)) {
		t.Errorf("file: %d bytes (Length %d), want %d", len(got), f.Length, len(file))
	}
	want := map[string]string{"key": "a/${filename}", "policy": "eyJ9", "empty": "", "multi": "line one\r\nline two\r\n"}
	for k, v := range want {
		if f.Fields[k] != v {
			t.Errorf("field %q = %q, want %q", k, f.Fields[k], v)
		}
	}
	if len(f.Fields) != len(want) || f.FileName != "photo.jpg" {
		t.Errorf("fields %q, filename %q", f.Fields, f.FileName)
	}
}

func TestReadFormRefuses(t *testing.T) {
	body, boundary := encode(t, [][2]string{{"key", "k"}}, "f", []byte("hello"))
	cut := body[:len(body)-10]
	cases := []struct {
		name string
		body []byte
		len  int64
		want error
	}{
		{"cut short of its length", cut, int64(len(body)), io.ErrUnexpectedEOF},
		{"no closing CRLF", body[:len(body)-2], int64(len(body) - 2), ErrMalformedForm},
		{"field after the file", append(bytes.TrimSuffix(body, []byte("--"+boundary+"--\r\n")),
			[]byte("--"+boundary+"\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--"+boundary+"--\r\n")...), -2, ErrFileNotLast},
		{"no file", []byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--" + boundary + "--\r\n"), -2, ErrNoFile},
		{"fields too large", []byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n" + strings.Repeat("k", MaxPreData) + "\r\n"), -2, ErrPreData},
		{"unknown length", body, -1, ErrNoLength},
		{"duplicate field", []byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"KEY\"\r\n\r\nj\r\n--" + boundary + "--\r\n"), -2, ErrDuplicate},
		{"part without a name", []byte("--" + boundary + "\r\nContent-Type: text/plain\r\n\r\nk\r\n--" + boundary + "--\r\n"), -2, ErrMalformedForm},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := c.len
			if n == -2 {
				n = int64(len(c.body))
			}
			f, err := ReadForm(bytes.NewReader(c.body), n, boundary)
			var got []byte
			if err == nil {
				got, err = io.ReadAll(f.File)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if len(got) > 0 && bytes.Contains(c.body, got) && int64(len(got)) == f.Length {
				t.Errorf("a refused form's whole file was read (%d bytes)", len(got))
			}
		})
	}
}

// FuzzReadForm checks ReadForm against mime/multipart: a form it reads
// whole is one that mime/multipart reads as the same fields and file.
func FuzzReadForm(f *testing.F) {
	body, boundary := encode(f, [][2]string{{"key", "k"}, {"policy", "p"}}, "f.txt", []byte("hello\r\n-- world"))
	f.Add(body, boundary)
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--b--\r\n"), "b")
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n--b\r\nContent-Disposition: form-data; name=file; filename=\"q\"\r\n\r\n\r\n--b--\r\n"), "b")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		form, err := ReadForm(bytes.NewReader(body), int64(len(body)), boundary)
		if err != nil {
			return
		}
		file, err := io.ReadAll(form.File)
		if err != nil {
			return
		}
		if int64(len(file)) != form.Length {
			t.Fatalf("file of %d bytes, Length %d", len(file), form.Length)
		}
		mr := multipart.NewReader(bytes.NewReader(body), boundary)
		fields := map[string]string{}
		var sawFile bool
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("ReadForm read a form mime/multipart refuses: %v", err)
			}
			v, err := io.ReadAll(p)
			if err != nil {
				t.Fatalf("ReadForm read a part mime/multipart refuses: %v", err)
			}
			name := strings.ToLower(p.FormName())
			if sawFile {
				t.Fatalf("a part %q after the file", name)
			}
			if name == "file" {
				sawFile = true
				if !bytes.Equal(v, file) {
					t.Fatalf("file %q, mime/multipart reads %q", file, v)
				}
				continue
			}
			fields[name] = string(v)
		}
		if !sawFile || len(fields) != len(form.Fields) {
			t.Fatalf("fields %q and a file: mime/multipart reads %q, file %v", form.Fields, fields, sawFile)
		}
		for k, v := range fields {
			if form.Fields[k] != v {
				t.Fatalf("field %q = %q, mime/multipart reads %q", k, form.Fields[k], v)
			}
		}
	})
}
