package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	le "encoding/binary" // not "binary": the package has a func of that name
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The memory benchmark's proxy configuration and load. Every 64 MiB
// object is four times CACHE_MAX_OBJECT_BYTES, so it is streamed and never
// cached; the 4 MiB objects are cached, and there are more of them than
// the cache holds.
const (
	memCacheMaxBytes  = 32 << 20
	memCacheMaxObject = 16 << 20
	memBigSize        = 64 << 20
	memBigUploads     = 3 // concurrent uploads per round; two rounds
	memDownloaders    = 4 // concurrent downloads of 64 MiB objects
	memSmallSize      = 4 << 20
	memSmallObjects   = 20
	memSmallWorkers   = 4
	memRSSSlack       = 64 << 20 // allowed peak RSS above CACHE_MAX_BYTES
	memBenchTimeout   = 5 * time.Minute
)

// BenchmarkMemoryFlat proves the proxy's memory does not follow object
// size or total traffic: it streams 64 MiB objects through a proxy whose
// cache holds 32 MiB, several at once in both directions (384 MiB up,
// 1 GiB down: more than ten times CACHE_MAX_BYTES each way), while 4 MiB
// objects fill the cache past its budget, and it fails unless the proxy's
// peak RSS (VmHWM) stays below CACHE_MAX_BYTES + 64 MiB. Every download is
// checked against the SHA-256 of what was uploaded, so it cannot pass by
// streaming nothing.
//
// It runs the whole scenario once per call, whatever b.N is; run it as
//
//	go test -run '^$' -bench MemoryFlat -benchtime=1x ./e2e
//
// The bound is for a plain build: a -race binary (S3CACHE_E2E_RACE=1)
// keeps shadow memory for every byte the proxy touches and would exceed
// it, so the benchmark skips then. A binary given by S3CACHE_E2E_BIN must
// be a plain build as well.
func BenchmarkMemoryFlat(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads the proxy's RSS from /proc/<pid>/status (Linux only)")
	}
	if os.Getenv("S3CACHE_E2E_RACE") == "1" {
		b.Skip("the race detector inflates RSS; the bound applies to a plain build")
	}
	p := startMemProxy(b, map[string]string{
		"CACHE_MAX_BYTES":        strconv.Itoa(memCacheMaxBytes),
		"CACHE_MAX_OBJECT_BYTES": strconv.Itoa(memCacheMaxObject),
		// The Go runtime's defaults, whatever the runner's environment
		// says: the bound is for the proxy as it ships.
		"GOGC":       "",
		"GOMEMLIMIT": "",
	})
	pid := p.cmd.Process.Pid
	e := p.endpoint()
	c := sdkClient(e)
	ctx, cancel := context.WithTimeout(b.Context(), memBenchTimeout)
	defer cancel()

	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	bucket := "e2e-memoryflat-" + hex.EncodeToString(rnd[:])
	if _, err := c.CreateBucket(ctx, createBucketInput(bucket)); err != nil {
		b.Fatalf("CreateBucket %q via %s: %v", bucket, e.URL, err)
	}
	big := make([]memObject, 2*memBigUploads)
	for i := range big {
		big[i] = newMemObject(fmt.Sprintf("big/%d.bin", i), uint64(1000+i), memBigSize)
	}
	small := make([]memObject, memSmallObjects)
	for i := range small {
		small[i] = newMemObject(fmt.Sprintf("small/%02d.bin", i), uint64(2000+i), memSmallSize)
	}
	l := &memLoad{c: c, bucket: bucket}

	rss := memSampleRSS(pid, 20*time.Millisecond)
	b.ResetTimer()
	// Round one: three 64 MiB uploads at once, with the 4 MiB objects.
	err := memRunAll(ctx,
		func(ctx context.Context) error { return l.putAll(ctx, big[:memBigUploads], memBigUploads) },
		func(ctx context.Context) error { return l.putAll(ctx, small, memSmallWorkers) },
	)
	// Round two, everything at once: three more 64 MiB uploads, four
	// downloaders reading the first three objects three times each, and the
	// 4 MiB objects read twice each (the first read fills the cache, the
	// second hits it if the entry was kept), which fills the cache to its
	// budget and then churns it.
	if err == nil {
		err = memRunAll(ctx,
			func(ctx context.Context) error { return l.putAll(ctx, big[memBigUploads:], memBigUploads) },
			func(ctx context.Context) error {
				return l.getAll(ctx, memRotations(big[:memBigUploads], memDownloaders, 3), memDownloaders)
			},
			func(ctx context.Context) error { return l.getTwice(ctx, small, memSmallWorkers) },
		)
	}
	// Round three: the second round's uploads read back.
	if err == nil {
		err = l.getAll(ctx, memRotations(big[memBigUploads:], memDownloaders, 1), memDownloaders)
	}
	b.StopTimer()
	sampled, samples, sampleErr := rss.stop()
	if err != nil {
		b.Fatalf("load through the proxy: %v", err)
	}
	if sampleErr != nil {
		b.Fatalf("sampling the proxy's RSS: %v", sampleErr)
	}
	hwm, err := memProcStatusKiB(pid, "VmHWM")
	if err != nil {
		b.Fatalf("reading the proxy's peak RSS: %v", err)
	}

	up, down := l.up.Load(), l.down.Load()
	peak := float64(hwm<<10) / (1 << 20)
	b.SetBytes(up + down)
	b.ReportMetric(peak, "peak-RSS-MiB")
	b.ReportMetric(float64(sampled<<10)/(1<<20), "sampled-RSS-MiB")
	b.ReportMetric(float64(up+down)/(1<<20), "MiB-streamed")
	b.ReportMetric(float64(l.hits.Load()), "cache-hits")
	b.Logf("proxy peak RSS %.1f MiB (largest of %d samples %.1f MiB); streamed %d MiB up, %d MiB down; %d cache hits",
		peak, samples, float64(sampled<<10)/(1<<20), up>>20, down>>20, l.hits.Load())

	if bigUp, bigDown := l.bigUp.Load(), l.bigDown.Load(); bigUp < 10*memCacheMaxBytes || bigDown < 10*memCacheMaxBytes {
		b.Errorf("64 MiB objects streamed %d MiB up and %d MiB down, want at least ten times CACHE_MAX_BYTES (%d MiB) each way",
			bigUp>>20, bigDown>>20, 10*memCacheMaxBytes>>20)
	}
	if l.hits.Load() == 0 {
		b.Errorf("no GET was a cache hit: the cache never held the 4 MiB objects, so its budget was not exercised")
	}
	if limit := int64(memCacheMaxBytes + memRSSSlack); hwm<<10 >= limit {
		b.Fatalf("proxy peak RSS (VmHWM) %d KiB = %.1f MiB, want below CACHE_MAX_BYTES + 64 MiB = %d MiB (largest sampled VmRSS %.1f MiB; streamed %d MiB up, %d MiB down)",
			hwm, peak, limit>>20, float64(sampled<<10)/(1<<20), up>>20, down>>20)
	}
}

// startMemProxy starts the plain-HTTP proxy in front of the shared
// versitygw, with env over the suite's defaults, and waits until it is
// ready. It is startProxy for a benchmark, which has no *testing.T: the
// proxy is stopped when the benchmark ends and its output logged if the
// benchmark failed.
func startMemProxy(tb testing.TB, env map[string]string) *proxyProc {
	tb.Helper()
	bin := binary(tb)
	o := proxyOptions{Backend: backendAddr(tb), Env: env}
	var lastOut string
	for attempt := range 3 {
		addr, err := freeAddr()
		if err != nil {
			tb.Fatal(err)
		}
		p, err := startProcess("s3cache", cleanEnv(proxyEnv(o, addr)), bin, o.Args...)
		if err != nil {
			tb.Fatal(err)
		}
		pp := &proxyProc{process: p, Addr: addr}
		err = poll(tb.Context(), startTimeout, func(ctx context.Context) error {
			if p.exited() {
				return errExited
			}
			return wantStatus(pp.endpoint().URL+"/-/readyz", 200)(ctx)
		})
		if err == nil {
			tb.Cleanup(func() {
				if err := p.stop(stopTimeout); err != nil {
					tb.Errorf("stopping s3cache on %s with SIGTERM: %v", addr, err)
				}
				if tb.Failed() {
					tb.Logf("s3cache output:\n%s", p.output())
				}
			})
			return pp
		}
		_ = p.stop(stopTimeout)
		lastOut = p.output()
		tb.Logf("attempt %d: s3cache on %s not ready: %v", attempt+1, addr, err)
	}
	tb.Fatalf("s3cache did not become ready; output:\n%s", lastOut)
	return nil
}

// memObject is one object of the memory benchmark: its key, the pattern of
// its bytes, and the SHA-256 of those bytes.
type memObject struct {
	key  string
	seed uint64
	size int64
	sum  [sha256.Size]byte
}

// newMemObject describes the object of size bytes generated from seed,
// hashing its bytes once.
func newMemObject(key string, seed uint64, size int64) memObject {
	o := memObject{key: key, seed: seed, size: size}
	h := sha256.New()
	_, _ = io.Copy(h, o.body())
	h.Sum(o.sum[:0])
	return o
}

// body returns a fresh reader of the object's bytes.
func (o memObject) body() *memPattern { return &memPattern{seed: o.seed, size: o.size} }

// memRotations returns rounds passes of workers downloads over objs, each
// pass starting one object further on, so that concurrent downloaders
// read different objects.
func memRotations(objs []memObject, workers, rounds int) []memObject {
	var out []memObject
	for r := range rounds {
		for w := range workers {
			out = append(out, objs[(w+r)%len(objs)])
		}
	}
	return out
}

// memLoad drives the benchmark's requests through one client and counts
// what went through the proxy.
type memLoad struct {
	c      *s3.Client
	bucket string

	up, down       atomic.Int64 // body bytes of every upload and download
	bigUp, bigDown atomic.Int64 // the part of those that were 64 MiB objects
	hits           atomic.Int64 // downloads answered with X-Cache: HIT
}

// putAll uploads objs with at most workers uploads at once.
func (l *memLoad) putAll(ctx context.Context, objs []memObject, workers int) error {
	return memForEach(ctx, objs, workers, l.put)
}

// getAll downloads objs, checking each, with at most workers at once.
func (l *memLoad) getAll(ctx context.Context, objs []memObject, workers int) error {
	return memForEach(ctx, objs, workers, l.get)
}

// getTwice downloads each of objs twice in a row, checking each, with at
// most workers objects at once: the second download is a hit whenever the
// cache kept what the first one filled.
func (l *memLoad) getTwice(ctx context.Context, objs []memObject, workers int) error {
	return memForEach(ctx, objs, workers, func(ctx context.Context, o memObject) error {
		if err := l.get(ctx, o); err != nil {
			return err
		}
		return l.get(ctx, o)
	})
}

// put uploads o with PutObject, its body generated as it is sent.
func (l *memLoad) put(ctx context.Context, o memObject) error {
	_, err := l.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(l.bucket),
		Key:           aws.String(o.key),
		Body:          o.body(),
		ContentLength: aws.Int64(o.size),
	})
	if err != nil {
		return fmt.Errorf("PutObject %s: %w", o.key, err)
	}
	l.up.Add(o.size)
	if o.size > memCacheMaxObject {
		l.bigUp.Add(o.size)
	}
	return nil
}

// get downloads o with GetObject, hashing the body as it arrives, and
// fails unless it is exactly the bytes uploaded.
func (l *memLoad) get(ctx context.Context, o memObject) error {
	out, err := l.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(o.key)})
	if err != nil {
		return fmt.Errorf("GetObject %s: %w", o.key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		return fmt.Errorf("GetObject %s: reading body after %d bytes: %w", o.key, n, err)
	}
	var sum [sha256.Size]byte
	if n != o.size || !bytes.Equal(h.Sum(sum[:0]), o.sum[:]) {
		return fmt.Errorf("GetObject %s: got %d bytes with SHA-256 %x, want the %d uploaded (%x)", o.key, n, sum, o.size, o.sum)
	}
	l.down.Add(n)
	if o.size > memCacheMaxObject {
		l.bigDown.Add(n)
	}
	if rawHeader(out.ResultMetadata).Get("X-Cache") == "HIT" {
		l.hits.Add(1)
	}
	return nil
}

// memForEach calls fn for every object, at most workers at once, and
// returns the first error, which cancels the calls not yet finished.
func memForEach(ctx context.Context, objs []memObject, workers int, fn func(context.Context, memObject) error) error {
	next := make(chan memObject)
	fns := make([]func(context.Context) error, workers)
	for i := range fns {
		fns[i] = func(ctx context.Context) error {
			for o := range next {
				if err := fn(ctx, o); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return memRunAll(ctx, append(fns, func(ctx context.Context) error {
		defer close(next)
		for _, o := range objs {
			select {
			case next <- o:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})...)
}

// memRunAll runs every fn concurrently and waits for all of them. The first
// error cancels the context the others run with; memRunAll returns that
// error, or why ctx ended, or nil.
func memRunAll(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Go(func() {
			if err := fn(ctx); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// memPattern is a seekable reader of size reproducible pseudo-random bytes:
// the eight bytes at offset 8i are memSplitmix64(seed+i), little-endian. It
// lets a client send a 64 MiB body (which the SDK reads more than once,
// to hash it) without holding it.
type memPattern struct {
	seed      uint64
	size, off int64
}

// Read fills p with the bytes at the current offset.
func (r *memPattern) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.size-r.off)]
	n := 0
	for n < len(p) {
		var w [8]byte
		le.LittleEndian.PutUint64(w[:], memSplitmix64(r.seed+uint64(r.off/8)))
		c := copy(p[n:], w[r.off%8:])
		n += c
		r.off += int64(c)
	}
	return n, nil
}

// Seek moves the offset as io.Seeker does.
func (r *memPattern) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, fmt.Errorf("pattern: bad whence %d", whence)
	}
	if offset < 0 {
		return 0, errors.New("pattern: negative offset")
	}
	r.off = offset
	return offset, nil
}

// memSplitmix64 is the SplitMix64 output function of x.
func memSplitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// memRSSSampler records the largest VmRSS of a process seen by a sampling
// goroutine.
type memRSSSampler struct {
	done    chan struct{}
	stopped chan struct{}
	max     int64 // KiB; written by the goroutine, read after stopped
	samples int
	err     error
}

// memSampleRSS starts reading VmRSS of pid every interval.
func memSampleRSS(pid int, every time.Duration) *memRSSSampler {
	s := &memRSSSampler{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(s.stopped)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			kib, err := memProcStatusKiB(pid, "VmRSS")
			if err != nil {
				s.err = err
				return
			}
			s.max = max(s.max, kib)
			s.samples++
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the largest VmRSS seen, in KiB, the
// number of samples, and the error that ended sampling early, if any.
func (s *memRSSSampler) stop() (maxKiB int64, samples int, err error) {
	close(s.done)
	<-s.stopped
	return s.max, s.samples, s.err
}

// memProcStatusKiB returns a "kB" field of /proc/<pid>/status, such as VmRSS
// (resident set size) or VmHWM (its peak), in KiB.
func memProcStatusKiB(pid int, field string) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		v, ok := strings.CutSuffix(strings.TrimSpace(rest), " kB")
		if !ok {
			return 0, fmt.Errorf("/proc/%d/status: %s: unexpected %q", pid, field, rest)
		}
		return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}
