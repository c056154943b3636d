package e2e

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"
)

// randomBytes returns n reproducible pseudo-random bytes seeded by the
// test's name.
func randomBytes(t *testing.T, n int) []byte {
	var seed [32]byte
	copy(seed[:], t.Name())
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(seed).Read(b)
	return b
}

const multipartSize = 20 << 20

// TestMultipart uploads 20 MiB objects in parts through the proxy (aws CLI
// over its 8 MiB threshold; minio-go with 5 MiB parts and signed streaming
// chunks) and checks they download byte-identical, including over a key
// that was cached before the multipart overwrite.
func TestMultipart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	data := randomBytes(t, multipartSize)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}

	// upload functions store data at key through the proxy.
	cliUpload := func(t *testing.T, key string) {
		mustAWS(t, e, "s3", "cp", "--no-progress", src, "s3://"+bucket+"/"+key)
	}
	minioUpload := func(t *testing.T, key string) {
		c, _ := minioClient(t, e)
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		defer cancel()
		info, err := c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{PartSize: 5 << 20, ContentType: "application/octet-stream"})
		if err != nil {
			t.Fatalf("minio PutObject: %v", err)
		}
		if info.Size != int64(len(data)) {
			t.Errorf("minio PutObject size %d, want %d", info.Size, len(data))
		}
	}
	cliDownload := func(t *testing.T, key string) []byte {
		dst := filepath.Join(t.TempDir(), "dst.bin")
		mustAWS(t, e, "s3", "cp", "--no-progress", "s3://"+bucket+"/"+key, dst)
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	minioDownload := func(t *testing.T, key string) []byte {
		c, _ := minioClient(t, e)
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		defer cancel()
		obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatalf("minio GetObject: %v", err)
		}
		defer obj.Close()
		b, err := io.ReadAll(obj)
		if err != nil {
			t.Fatalf("minio GetObject: reading: %v", err)
		}
		return b
	}

	tests := []struct {
		name     string
		upload   func(*testing.T, string)
		download func(*testing.T, string) []byte
		cached   bool // the key holds a cached small object before the upload
	}{
		{name: "aws cli cp", upload: cliUpload, download: cliDownload},
		{name: "minio-go 5 MiB parts", upload: minioUpload, download: minioDownload},
		{name: "aws cli over cached key", upload: cliUpload, download: cliDownload, cached: true},
		{name: "minio-go over cached key", upload: minioUpload, download: minioDownload, cached: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "mp/" + string(rune('a'+i)) + ".bin"
			if tc.cached {
				old := []byte("old small object")
				putBytes(t, e, bucket, key, old)
				for _, want := range []string{"MISS", "HIT"} {
					g := sdkGet(t, e, bucket, key)
					if g.Status != 200 || !bytes.Equal(g.Body, old) {
						t.Fatalf("GET before overwrite: %d, %d bytes", g.Status, len(g.Body))
					}
					wantXCache(t, "GET before overwrite", g.Header, want)
				}
			}
			tc.upload(t, key)
			if got := tc.download(t, key); !bytes.Equal(got, data) {
				t.Errorf("downloaded %d bytes, not the %d uploaded", len(got), len(data))
			}
			g := sdkGet(t, e, bucket, key)
			if !bytes.Equal(g.Body, data) {
				t.Errorf("SDK GET after upload: status %d, %d bytes, want the %d uploaded", g.Status, len(g.Body), len(data))
			}
		})
	}
}

// TestChecksumTrailersReachBackend uploads with minio-go, which over plain
// HTTP sends its CRC32C as a signed trailer of an aws-chunked body, once
// whole and once in parts. The proxy verifies the trailer and must pass it
// on: the backend receives aws-chunked bodies with the same trailer and
// reports the client's checksum afterwards.
func TestChecksumTrailersReachBackend(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	c, _ := minioClient(t, e)
	for _, tc := range []struct {
		key  string
		size int
	}{{"single.bin", 300 << 10}, {"parts.bin", 6 << 20}} {
		data := randomBytes(t, tc.size)
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		defer cancel()
		if _, err := c.PutObject(ctx, bucket, tc.key, bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C, PartSize: 5 << 20}); err != nil {
			t.Fatalf("minio PutObject %s with CRC32C: %v", tc.key, err)
		}
		uploads := 0
		for _, rec := range h.relay.records() {
			if rec.Method != http.MethodPut || rec.Path != "/"+bucket+"/"+tc.key {
				continue
			}
			uploads++
			if got := rec.Header.Get("X-Amz-Trailer"); got != "x-amz-checksum-crc32c" {
				t.Errorf("%s: backend PUT %s?%s: X-Amz-Trailer %q, want x-amz-checksum-crc32c", tc.key, rec.Path, rec.Query, got)
			}
			if got := rec.Header.Get("X-Amz-Content-Sha256"); got != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" {
				t.Errorf("%s: backend PUT: X-Amz-Content-Sha256 %q", tc.key, got)
			}
		}
		if uploads == 0 {
			t.Fatalf("%s: the backend saw no upload", tc.key)
		}
		info, err := c.StatObject(ctx, bucket, tc.key, minio.StatObjectOptions{Checksum: true})
		if err != nil {
			t.Fatalf("StatObject %s: %v", tc.key, err)
		}
		if info.ChecksumCRC32C == "" {
			t.Errorf("%s: the backend reports no CRC32C: the client's checksum was lost", tc.key)
		}
		obj, err := c.GetObject(ctx, bucket, tc.key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: GetObject: %d bytes, %v; want the %d uploaded", tc.key, len(got), err, len(data))
		}
	}
}
