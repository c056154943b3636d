package proxy

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aws/aws-sdk-go-v2/aws"
)

var (
	linSeeds = flag.Int("linearizability.seeds", 8, "seeds each linearizability test runs")
)

// Bounds of one linearizability run.
const (
	linClients    = 12
	linOpsEach    = 30               // operations per client
	linRunBudget  = 10 * time.Second // no operation starts later than this
	linOpTimeout  = 5 * time.Second
	linCheckLimit = 10 * time.Second // porcupine's search
)

// linKeys are the registers: few, so that operations collide.
var linKeys = []string{"k0", "k1", "a//b", "dir/k3"}

// TestLinearizability runs concurrent clients doing PUT, GET, HEAD, DELETE
// and DeleteObjects on a few keys, through both front ends, against a
// backend that pauses at random so that fills race writes. Every operation
// is recorded with its call and return times and the history is checked
// for linearizability, one register per key, with porcupine. Then a proxy
// whose writes skip invalidation must be caught by the same check.
//
// The seed picks the operations and the backend's pauses; the goroutine
// schedule adds its own. Rerun one with -run 'Linearizability/seed=N', or
// more with -linearizability.seeds.
func TestLinearizability(t *testing.T) {
	for seed := range uint64(*linSeeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := runLinearizability(t, seed, linMutation{})
			t.Logf("seed %d: %d operations, %d GETs of which %d hits, %d writes left by their clients",
				seed, len(r.ops), r.gets, r.hits, r.abandoned)
			if r.hits == 0 {
				t.Errorf("seed %d: no GET was a hit (%d GETs): the run says nothing about the cache", seed, r.gets)
			}
			switch r.result {
			case porcupine.Ok:
			case porcupine.Illegal:
				t.Errorf("seed %d: history of %d operations is not linearizable\n%s", seed, len(r.ops), r.explain(t))
			default:
				t.Errorf("seed %d: checker gave up after %v on %d operations", seed, linCheckLimit, len(r.ops))
			}
		})
	}
	// The mutation: without invalidation a write leaves the old bytes
	// cached, and the checker must notice.
	for _, m := range []linMutation{
		{name: "writes skip invalidation", mutate: func(p *Proxy) { p.skipInvalidation = true }},
		// Clients that leave after sending a whole PUT, against a
		// backend that stalls before it answers: a fence that ended with
		// the client lets a read that raced the write store the old
		// bytes after the write took effect. It takes a server that
		// cancels a request when its client leaves: net/http does (and
		// so HTTP/2 in s3cache), the lean loop's hand-over does not.
		{name: "fences end with their clients", mutate: func(p *Proxy) { p.fenceEndsWithClient = true }, netHTTP: true},
	} {
		t.Run(m.name, func(t *testing.T) {
			illegal := 0
			for seed := range uint64(*linSeeds) {
				if r := runLinearizability(t, seed, m); r.result == porcupine.Illegal {
					illegal++
				}
			}
			t.Logf("checker found a violation in %d of %d seeds", illegal, *linSeeds)
			if illegal == 0 {
				t.Errorf("no seed of %d found a violation with the mutation: the check cannot fail", *linSeeds)
			}
		})
	}
}

// TestLinearizabilityWriteInFlight replays the schedule behind violations
// an earlier version showed: a GET miss that starts after a DELETE was
// forwarded reads the backend before the DELETE is applied; a HEAD after
// the backend applied it misses the cache and sees the key absent; if the
// fill were then stored (or shared) while the DELETE is still in flight, a
// later GET would return the old bytes after the HEAD saw them gone. The
// write fence (cache.Write) forbids both.
func TestLinearizabilityWriteInFlight(t *testing.T) {
	fake, _ := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("v1")
	forwarded, apply, applied, answer := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
	backend := &jitterS3{fakeS3: fake, hold: func(done bool) {
		if !done {
			close(forwarded)
			<-apply
			return
		}
		close(applied)
		<-answer
	}}
	bsrv := httptest.NewServer(backend)
	t.Cleanup(bsrv.Close)
	p, srv := newTestProxy(t, bsrv, nil)
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	t.Cleanup(client.CloseIdleConnections)
	h := &linHistory{start: time.Now()}
	lc := &linClient{t: t, base: srv.URL, http: client, h: h}
	h.add(0, regInput{op: regPut, key: "k", value: "v1", via: "setup"}, 0, regOutput{}, 0)
	read := func(client int, method, path string) {
		in := regInput{op: regGet, key: "k", via: method}
		if method == "HEAD" {
			in.op = regHead
		}
		call := h.now()
		res, body, err := lc.do(method, path, nil, nil)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return
		}
		out := regOutput{exists: res.StatusCode == 200}
		if method == "GET" && res.StatusCode == 200 {
			out.value = string(body)
		}
		h.add(client, in, call, out, h.now())
		t.Logf("client %d: %s %s: %d %q X-Cache %s", client, method, path, res.StatusCode, body, res.Header.Get("X-Cache"))
	}

	deleted := make(chan struct{})
	delCall := h.now()
	go func() {
		defer close(deleted)
		if res, _, err := lc.do("DELETE", "/bkt/k", nil, nil); err != nil || res.StatusCode != 204 {
			t.Errorf("DELETE: %v %v", res, err)
		}
	}()
	<-forwarded // the proxy invalidated the key; the backend has not deleted yet
	fillRead, fillGo := make(chan struct{}), make(chan struct{})
	var first sync.Once
	fake.onGet = func(_ http.ResponseWriter, r *http.Request) bool {
		// Only the racing fill is held; the last GET must find no stored
		// fill and go to the backend, which now has no object.
		if r.Method != http.MethodGet {
			return false
		}
		first.Do(func() {
			close(fillRead) // the backend read "v1"
			<-fillGo
		})
		return false
	}
	filled := make(chan struct{})
	go func() {
		defer close(filled)
		read(1, "GET", "/bkt/k")
	}()
	<-fillRead
	close(apply)
	<-applied // the backend deleted the key; the DELETE has not answered yet
	read(2, "HEAD", "/bkt/k")
	close(fillGo)
	<-filled
	p.cache.Wait()
	read(3, "GET", "/bkt/k")
	close(answer)
	<-deleted
	h.add(0, regInput{op: regDelete, key: "k", via: "S3"}, delCall, regOutput{}, h.now())
	if r := porcupine.CheckOperationsTimeout(registerModel, h.ops, linCheckLimit); r != porcupine.Ok {
		t.Errorf("history is not linearizable (%v)\n%s", r, (&linRun{ops: h.ops}).explain(t))
	}
}

// linRun is the outcome of one run.
type linRun struct {
	ops       []porcupine.Operation
	result    porcupine.CheckResult
	gets      int // GETs answered 200 or 404
	hits      int // of which X-Cache: HIT
	abandoned int // PUTs whose clients left before the answer
}

// explain returns the history of each key whose partition is illegal, and
// writes porcupine's visualization to the test's artifact directory.
func (r *linRun) explain(t *testing.T) string {
	var b strings.Builder
	for _, part := range partitionByKey(r.ops) {
		if porcupine.CheckOperationsTimeout(registerModel, part, linCheckLimit) != porcupine.Illegal {
			continue
		}
		fmt.Fprintf(&b, "key %q:\n", part[0].Input.(regInput).key)
		slices.SortFunc(part, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
		for _, op := range part {
			ret := "?"
			if op.Return != math.MaxInt64 {
				ret = fmt.Sprint(time.Duration(op.Return))
			}
			fmt.Fprintf(&b, "  [%v, %s] client %d: %s\n", time.Duration(op.Call), ret, op.ClientId,
				registerModel.DescribeOperation(op.Input, op.Output))
		}
	}
	_, info := porcupine.CheckOperationsVerbose(registerModel, r.ops, linCheckLimit)
	path := t.ArtifactDir() + "/history.html"
	if err := porcupine.VisualizePath(registerModel, info, path); err != nil {
		fmt.Fprintf(&b, "visualization: %v\n", err)
	} else {
		fmt.Fprintf(&b, "visualization: %s (kept with -artifacts)\n", path)
	}
	return b.String()
}

// linMutation breaks the proxy of a linearizability run on purpose; the
// zero value breaks nothing.
type linMutation struct {
	name   string
	mutate func(*Proxy) // nil for none
	// netHTTP serves the proxy with net/http's server instead of the
	// front end s3cache runs.
	netHTTP bool
}

// runLinearizability drives one proxy, in front of a jittery in-memory
// backend, with linClients concurrent clients and checks the history;
// m, if not zero, breaks the proxy on purpose.
func runLinearizability(t *testing.T, seed uint64, m linMutation) *linRun {
	fake, _ := newFakeS3(t)
	backend := &jitterS3{fakeS3: fake, rng: rand.New(rand.NewPCG(seed, 0))}
	fake.onGet = func(http.ResponseWriter, *http.Request) bool {
		backend.pause() // between reading the object and answering
		return false
	}
	bsrv := httptest.NewServer(backend)
	t.Cleanup(bsrv.Close)
	p, srv := newTestProxy(t, bsrv, nil)
	if m.mutate != nil {
		m.mutate(p)
	}
	base := srv.URL
	if m.netHTTP {
		hs := httptest.NewServer(p)
		t.Cleanup(hs.Close)
		base = hs.URL
	}

	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: linClients}}
	t.Cleanup(client.CloseIdleConnections)
	h := &linHistory{start: time.Now()}
	deadline := h.start.Add(linRunBudget)
	var wg sync.WaitGroup
	for c := range linClients {
		wg.Go(func() {
			lc := &linClient{t: t, id: c, base: base, http: client, h: h,
				rng: rand.New(rand.NewPCG(seed, uint64(c)+1)), backend: fake}
			for i := 0; i < linOpsEach && time.Now().Before(deadline); i++ {
				lc.step(fmt.Sprintf("c%d-w%d", c, i))
			}
		})
	}
	wg.Wait()
	r := &linRun{ops: h.ops, gets: h.gets, hits: h.hits, abandoned: h.abandoned}
	r.result = porcupine.CheckOperationsTimeout(registerModel, r.ops, linCheckLimit)
	return r
}

// The register model: one register per key, partitioned by key. The
// state is the value, "" when the key is absent (written values are never
// empty).

type regOp int

const (
	regPut regOp = iota
	regDelete
	regGet
	regHead
)

type regInput struct {
	op    regOp
	key   string
	value string // put: the value written
	via   string // how the operation was sent, for reports
}

type regOutput struct {
	value  string // get: the value read, "" when absent
	exists bool   // head: the key exists
}

var registerModel = porcupine.Model{
	Partition: partitionByKey,
	Init:      func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in, out, s := input.(regInput), output.(regOutput), state.(string)
		switch in.op {
		case regPut:
			return true, in.value
		case regDelete:
			return true, ""
		case regGet:
			return out.value == s, s
		default:
			return out.exists == (s != ""), s
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		switch in.op {
		case regPut:
			return fmt.Sprintf("put(%q) via %s", in.value, in.via)
		case regDelete:
			return "delete via " + in.via
		case regGet:
			if out.value == "" {
				return "get → absent via " + in.via
			}
			return fmt.Sprintf("get → %q via %s", out.value, in.via)
		default:
			return fmt.Sprintf("head → exists=%t via %s", out.exists, in.via)
		}
	},
	DescribeState: func(state any) string {
		if state.(string) == "" {
			return "absent"
		}
		return fmt.Sprintf("%q", state)
	},
}

func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := op.Input.(regInput).key
		byKey[k] = append(byKey[k], op)
	}
	parts := make([][]porcupine.Operation, 0, len(byKey))
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		parts = append(parts, byKey[k])
	}
	return parts
}

// linHistory records operations; times are nanoseconds on the monotonic
// clock since start.
type linHistory struct {
	start      time.Time
	mu         sync.Mutex
	ops        []porcupine.Operation
	gets, hits int
	abandoned  int // PUTs whose clients left before the answer
}

func (h *linHistory) now() int64 { return int64(time.Since(h.start)) }

func (h *linHistory) add(client int, in regInput, call int64, out regOutput, ret int64) {
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
}

func (h *linHistory) countGet(xcache string) {
	h.mu.Lock()
	h.gets++
	if xcache == xCacheHit {
		h.hits++
	}
	h.mu.Unlock()
}

// linClient is one client of a run, issuing one operation at a time.
type linClient struct {
	t    *testing.T
	id   int
	base string
	http *http.Client
	h    *linHistory
	rng  *rand.Rand
	// backend, if set, is the store behind the proxy, which a client may
	// read directly.
	backend *fakeS3
}

// step sends one random operation and records it. A read that fails is
// dropped; a write that fails has an unknown effect and is recorded as
// never returning. Either fails the test: the backend is in memory.
func (c *linClient) step(value string) {
	var in regInput
	switch n := c.rng.IntN(100); {
	case n < 30:
		in.op, in.via = regGet, "S3"
	case n < 55:
		in.op, in.via = regGet, "/objects"
	case n < 65:
		in.op, in.via = regHead, "S3"
	case n < 67:
		in.op, in.via, in.value = regPut, "S3", value
	case n < 75:
		c.abandonedPut(value)
		return
	case n < 85:
		in.op, in.via, in.value = regPut, "/objects", value
	case n < 90:
		in.op, in.via = regDelete, "S3"
	case n < 95:
		in.op, in.via = regDelete, "/objects"
	default:
		c.deleteObjects(c.writeKey(), c.writeKey())
		return
	}
	in.key = linKeys[c.rng.IntN(len(linKeys))]
	if in.op == regPut || in.op == regDelete {
		in.key = c.writeKey()
	}
	path := "/bkt/" + in.key
	if in.via == "/objects" {
		path = "/objects/bkt/" + in.key
	}
	method := map[regOp]string{regPut: "PUT", regDelete: "DELETE", regGet: "GET", regHead: "HEAD"}[in.op]
	call := c.h.now()
	res, body, err := c.do(method, path, []byte(in.value), nil)
	ret := c.h.now()
	var out regOutput
	switch {
	case err != nil:
	case in.op == regPut && res.StatusCode == 200, in.op == regDelete && res.StatusCode == 204:
	case in.op == regGet && res.StatusCode == 200:
		out.value = string(body)
		c.h.countGet(res.Header.Get("X-Cache"))
	case in.op == regGet && res.StatusCode == 404 && strings.Contains(string(body), "<Code>NoSuchKey</Code>"):
		c.h.countGet(res.Header.Get("X-Cache"))
	case in.op == regHead && (res.StatusCode == 200 || res.StatusCode == 404):
		out.exists = res.StatusCode == 200
	default:
		err = fmt.Errorf("status %d: %s", res.StatusCode, body)
	}
	if err != nil {
		c.t.Errorf("client %d: %s %s: %v", c.id, method, path, err)
		if in.op == regGet || in.op == regHead {
			return
		}
		ret = math.MaxInt64
	}
	c.h.add(c.id, in, call, out, ret)
}

// abandonedPut sends a PUT whose client leaves a moment after sending it
// whole, maybe before the backend answered. Its outcome is unknown to the
// client: it is recorded as never returning (it may take effect at any
// point after its call, or never). One that is answered in time is
// recorded as usual.
func (c *linClient) abandonedPut(value string) {
	in := regInput{op: regPut, key: c.writeKey(), value: value, via: "S3, client left"}
	wait := time.Duration(500+c.rng.IntN(1500)) * time.Microsecond
	call := c.h.now()
	res, _, err := c.doWithin(wait, "PUT", "/bkt/"+in.key, []byte(value), http.Header{stallHeader: {"1"}})
	ret := c.h.now()
	switch {
	case err == nil && res.StatusCode == 200:
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		ret = math.MaxInt64
		c.h.mu.Lock()
		c.h.abandoned++
		c.h.mu.Unlock()
	case err != nil:
		c.t.Errorf("client %d: PUT %s: %v", c.id, in.key, err)
		ret = math.MaxInt64
	default:
		c.t.Errorf("client %d: PUT %s: status %d", c.id, in.key, res.StatusCode)
		ret = math.MaxInt64
	}
	c.h.add(c.id, in, call, regOutput{}, ret)
	if ret != math.MaxInt64 || c.backend == nil {
		return
	}
	// The client that left reads the key through the proxy (a fill that
	// must not be stored while the write may still take effect), then
	// watches the backend itself until it holds the value or 50 ms
	// passed, and reads through the proxy again: a fill stored from the
	// backend's old state would now be served after the backend showed
	// the new one.
	c.read("/bkt/"+in.key, in.key)
	var seen string
	var seenCall, seenRet int64
	for until := time.Now().Add(50 * time.Millisecond); ; {
		seenCall = c.h.now()
		c.backend.mu.Lock()
		seen = string(c.backend.objects["/bkt/"+in.key])
		c.backend.mu.Unlock()
		seenRet = c.h.now()
		if seen == value || time.Now().After(until) {
			break
		}
		runtime.Gosched()
	}
	c.h.add(c.id, regInput{op: regGet, key: in.key, via: "the backend itself"}, seenCall, regOutput{value: seen}, seenRet)
	c.read("/bkt/"+in.key, in.key)
}

// read GETs path through the proxy and records it as a read of key.
func (c *linClient) read(path, key string) {
	in := regInput{op: regGet, key: key, via: "S3"}
	call := c.h.now()
	res, body, err := c.do("GET", path, nil, nil)
	ret := c.h.now()
	var out regOutput
	switch {
	case err != nil:
	case res.StatusCode == 200:
		out.value = string(body)
	case res.StatusCode == 404 && strings.Contains(string(body), "<Code>NoSuchKey</Code>"):
	default:
		err = fmt.Errorf("status %d: %s", res.StatusCode, body)
	}
	if err != nil {
		c.t.Errorf("client %d: GET %s: %v", c.id, path, err)
		return
	}
	c.h.countGet(res.Header.Get("X-Cache"))
	c.h.add(c.id, in, call, out, ret)
}

// writeKey picks the key of a write: half of them go to the first key,
// so that the others stay cached long enough to be hit. Reads pick any.
func (c *linClient) writeKey() string {
	if c.rng.IntN(2) == 0 {
		return linKeys[0]
	}
	return linKeys[c.rng.IntN(len(linKeys))]
}

// deleteObjects deletes keys with one DeleteObjects request; each key's
// register sees a delete spanning the request.
func (c *linClient) deleteObjects(keys ...string) {
	var b bytes.Buffer
	b.WriteString("<Delete><Quiet>true</Quiet>")
	for _, k := range keys {
		b.WriteString("<Object><Key>")
		xml.EscapeText(&b, []byte(k))
		b.WriteString("</Key></Object>")
	}
	b.WriteString("</Delete>")
	sum := md5.Sum(b.Bytes())
	hdr := http.Header{"Content-Md5": {base64.StdEncoding.EncodeToString(sum[:])}}
	call := c.h.now()
	res, body, err := c.do("POST", "/bkt?delete", b.Bytes(), hdr)
	ret := c.h.now()
	if err == nil && res.StatusCode != 200 {
		err = fmt.Errorf("status %d: %s", res.StatusCode, body)
	}
	if err != nil {
		c.t.Errorf("client %d: DeleteObjects %q: %v", c.id, keys, err)
		ret = math.MaxInt64
	}
	for _, k := range keys {
		c.h.add(c.id, regInput{op: regDelete, key: k, via: "DeleteObjects"}, call, regOutput{}, ret)
	}
}

// do sends a request signed for the proxy and reads the whole answer.
func (c *linClient) do(method, path string, body []byte, hdr http.Header) (*http.Response, []byte, error) {
	return c.doWithin(linOpTimeout, method, path, body, hdr)
}

// doWithin is do with the client giving up after d.
func (c *linClient) doWithin(d time.Duration, method, path string, body []byte, hdr http.Header) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := newTestSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret},
		req, hash, "s3", "us-east-1", time.Now()); err != nil {
		return nil, nil, err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

// jitterS3 is fakeS3 that pauses at random before and after each request
// and between reading an object and answering a GET, so that backend reads
// race writes through the proxy; it also answers DeleteObjects. The pauses
// only shuffle the interleaving; nothing waits on them.
type jitterS3 struct {
	*fakeS3
	rngMu sync.Mutex
	rng   *rand.Rand // nil: no pauses
	// hold, if set, runs before and after a DELETE is applied.
	hold func(applied bool)
}

func (j *jitterS3) pause() {
	if j.rng == nil {
		return
	}
	j.rngMu.Lock()
	n, d := j.rng.IntN(8), time.Duration(j.rng.IntN(1000))*time.Microsecond
	j.rngMu.Unlock()
	switch {
	case n < 3:
	case n < 6:
		runtime.Gosched()
	default:
		<-time.After(d)
	}
}

func (j *jitterS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	j.pause()
	switch {
	case r.Method == http.MethodPost && r.URL.Query().Has("delete"):
		j.deleteObjects(w, r)
	case r.Method == http.MethodPut:
		j.putObject(w, r)
	case r.Method == http.MethodDelete && j.hold != nil:
		j.hold(false)
		j.fakeS3.ServeHTTP(w, r)
		j.hold(true)
	default:
		j.fakeS3.ServeHTTP(w, r)
	}
	j.pause() // the answer is buffered until the handler returns
}

// putObject stores the body with no spare capacity: fakeS3 computes its
// ETag with sha256.New().Sum(obj), which appends to obj, and concurrent
// GETs of one object would write the same spare bytes.
func (j *jitterS3) putObject(w http.ResponseWriter, r *http.Request) {
	res, err := j.verifier.Verify(r)
	if err != nil {
		j.t.Errorf("backend: outbound signature of PUT %s: %v", r.URL, err)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.Header.Get(stallHeader) != "" {
		// The backend stalls with the whole body in hand, longer than
		// the client waits, then stores the object.
		<-time.After(10 * time.Millisecond)
	}
	j.mu.Lock()
	j.objects[r.URL.Path] = slices.Clip(body)
	j.mu.Unlock()
}

// stallHeader, on a PUT, makes jitterS3 stall before it answers.
const stallHeader = "X-Test-Stall"

func (j *jitterS3) deleteObjects(w http.ResponseWriter, r *http.Request) {
	res, err := j.verifier.Verify(r)
	if err != nil {
		j.t.Errorf("backend: outbound signature of DeleteObjects: %v", err)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	var del struct {
		Objects []struct {
			Key string `xml:"Key"`
		} `xml:"Object"`
	}
	if err := xml.NewDecoder(res.Body).Decode(&del); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	j.mu.Lock()
	for _, o := range del.Objects {
		delete(j.objects, r.URL.Path+"/"+o.Key)
	}
	j.mu.Unlock()
	w.Header().Set("Content-Type", "application/xml")
	io.WriteString(w, "<DeleteResult></DeleteResult>")
}
