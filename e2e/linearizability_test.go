package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

var linSeeds = flag.Int("linearizability.seeds", 3, "seeds TestLinearizability runs")

// Bounds of one linearizability run.
const (
	linClients    = 8
	linOpsEach    = 38               // operations per client
	linRunBudget  = 20 * time.Second // no operation starts later than this
	linOpTimeout  = 30 * time.Second
	linCheckLimit = 20 * time.Second // porcupine's search
)

// linKeys are the registers: few, so that operations collide.
var linKeys = []string{"k0", "k1", "dir/k2"}

// TestLinearizability runs concurrent clients — aws-sdk-go-v2, minio-go
// and signed requests to the /objects API, mixed — doing PUT, GET, HEAD,
// DELETE and DeleteObjects on a few keys of a fresh bucket through one
// proxy in front of versitygw. Every operation is recorded with its call
// and return times and the history is checked for linearizability, one
// register per key, with porcupine. Some GETs must be hits, or the run
// says nothing about the cache. (The unit test in proxy/ shows the check
// fails when writes skip invalidation.)
//
// The seed picks the operations; the schedule adds its own. Rerun one with
// -run 'Linearizability/seed=N', or more with -linearizability.seeds.
func TestLinearizability(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	for seed := range uint64(*linSeeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			bucket := newBucket(t, e)
			hist := &linHistory{start: time.Now()}
			deadline := hist.start.Add(linRunBudget)
			clients := make([]*linClient, linClients)
			for c := range clients {
				mc, rec := minioClient(t, e)
				clients[c] = &linClient{t: t, id: c, e: e, bucket: bucket, h: hist,
					rng: rand.New(rand.NewPCG(seed, uint64(c))), sdk: sdkClient(e), minio: mc, minioRec: rec}
			}
			var wg sync.WaitGroup
			for _, c := range clients {
				wg.Go(func() {
					for i := 0; i < linOpsEach && time.Now().Before(deadline); i++ {
						c.step(fmt.Sprintf("s%d-c%d-w%d", seed, c.id, i))
					}
				})
			}
			wg.Wait()
			t.Logf("seed %d: %d operations in %v, %d GETs of which %d hits, %d deletes answered NoSuchKey",
				seed, len(hist.ops), time.Since(hist.start).Round(time.Millisecond), hist.gets, hist.hits, hist.racedDeletes)
			if hist.hits == 0 {
				t.Errorf("seed %d: no GET was a hit (%d GETs): the run says nothing about the cache", seed, hist.gets)
			}
			switch porcupine.CheckOperationsTimeout(registerModel, hist.ops, linCheckLimit) {
			case porcupine.Ok:
			case porcupine.Illegal:
				t.Errorf("seed %d: history of %d operations is not linearizable\n%s", seed, len(hist.ops), explain(t, hist.ops))
			default:
				t.Errorf("seed %d: checker gave up after %v on %d operations", seed, linCheckLimit, len(hist.ops))
			}
		})
	}
}

// explain returns the history of each key whose partition is illegal, and
// writes porcupine's visualization to the test's artifact directory.
func explain(t *testing.T, ops []porcupine.Operation) string {
	var b strings.Builder
	for _, part := range partitionByKey(ops) {
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
	_, info := porcupine.CheckOperationsVerbose(registerModel, ops, linCheckLimit)
	path := t.ArtifactDir() + "/history.html"
	if err := porcupine.VisualizePath(registerModel, info, path); err != nil {
		fmt.Fprintf(&b, "visualization: %v\n", err)
	} else {
		fmt.Fprintf(&b, "visualization: %s (kept with -artifacts)\n", path)
	}
	return b.String()
}

// The register model: one register per key, partitioned by key. The
// state is the value, "" when the key is absent (written values are never
// empty). It is the model of proxy/linearizability_test.go.

type regOp int

const (
	regPut regOp = iota
	regDelete
	regGet
	regHead
)

type regInput struct {
	op      regOp
	key     string
	value   string // put: the value written
	via     string // the client that sent the operation, for reports
	replica string // the proxy it went to, for reports; "" when there is one
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
		if in.replica != "" {
			in.via += " on " + in.replica
		}
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
	start        time.Time
	mu           sync.Mutex
	ops          []porcupine.Operation
	gets, hits   int
	xcache       map[string]int // GETs by X-Cache
	racedDeletes int            // deletes answered NoSuchKey, see racedDelete
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
	if h.xcache == nil {
		h.xcache = map[string]int{}
	}
	h.xcache[xcache]++
	if xcache == "HIT" {
		h.hits++
	}
	h.mu.Unlock()
}

// linClient is one client of a run, issuing one operation at a time with
// one of its client libraries.
type linClient struct {
	t        *testing.T
	id       int
	e        endpoint
	bucket   string
	h        *linHistory
	rng      *rand.Rand
	sdk      *s3.Client
	minio    *minio.Client
	minioRec *recorder // this client's own: it holds the last response
	replica  string    // names e in reports when there are several proxies
}

var linVias = []string{"aws-sdk-go-v2", "minio-go", "/objects"}

// step sends one random operation and records it. A read that fails is
// dropped; a write that fails has an unknown effect and is recorded as
// never returning. Either fails the test.
func (c *linClient) step(value string) {
	in := regInput{key: linKeys[c.rng.IntN(len(linKeys))], via: linVias[c.rng.IntN(len(linVias))], replica: c.replica}
	switch n := c.rng.IntN(100); {
	case n < 55:
		in.op = regGet
	case n < 65:
		in.op, in.via = regHead, "aws-sdk-go-v2"
	case n < 85:
		in.op, in.value = regPut, value
	case n < 95:
		in.op = regDelete
	default:
		c.deleteObjects()
		return
	}
	if in.op == regPut || in.op == regDelete {
		in.key = c.writeKey()
	}
	ctx, cancel := context.WithTimeout(c.t.Context(), linOpTimeout)
	defer cancel()
	call := c.h.now()
	out, xcache, err := c.send(ctx, in)
	ret := c.h.now()
	if err != nil {
		c.t.Errorf("client %d: %s: %v", c.id, registerModel.DescribeOperation(in, out), err)
		if in.op == regGet || in.op == regHead {
			return
		}
		ret = math.MaxInt64
	}
	if in.op == regGet {
		c.h.countGet(xcache)
	}
	c.h.add(c.id, in, call, out, ret)
}

// send runs one operation with the client library in.via names. A missing
// key is an answer, not an error.
func (c *linClient) send(ctx context.Context, in regInput) (out regOutput, xcache string, err error) {
	b, k := &c.bucket, &in.key
	switch {
	case in.op == regGet && in.via == "aws-sdk-go-v2":
		g, err := c.sdk.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k})
		if err != nil {
			status, code, h := sdkErr(err)
			if status == 404 && code == "NoSuchKey" {
				return out, h.Get("X-Cache"), nil
			}
			return out, "", err
		}
		defer g.Body.Close()
		body, err := io.ReadAll(g.Body)
		return regOutput{value: string(body)}, rawHeader(g.ResultMetadata).Get("X-Cache"), err
	case in.op == regGet && in.via == "minio-go":
		o, err := c.minio.GetObject(ctx, c.bucket, in.key, minio.GetObjectOptions{})
		var body []byte
		if err == nil {
			body, err = io.ReadAll(o)
			o.Close()
		}
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return out, c.minioRec.lastHeader().Get("X-Cache"), nil
		}
		return regOutput{value: string(body)}, c.minioRec.lastHeader().Get("X-Cache"), err
	case in.op == regGet:
		res, err := c.objects(ctx, http.MethodGet, in.key, nil)
		switch {
		case err != nil:
		case res.Status == 200:
			out.value = string(res.Body)
		case res.Status != 404 || res.xmlCode() != "NoSuchKey":
			err = fmt.Errorf("status %d: %s", res.Status, res.Body)
		}
		return out, res.Header.Get("X-Cache"), err
	case in.op == regHead:
		_, err := c.sdk.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k})
		if status, _, _ := sdkErr(err); status == 404 {
			return out, "", nil
		}
		return regOutput{exists: err == nil}, "", err
	case in.op == regPut && in.via == "aws-sdk-go-v2":
		_, err := c.sdk.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader(in.value)})
		return out, "", err
	case in.op == regPut && in.via == "minio-go":
		_, err := c.minio.PutObject(ctx, c.bucket, in.key, strings.NewReader(in.value), int64(len(in.value)),
			minio.PutObjectOptions{})
		return out, "", err
	case in.op == regPut:
		return out, "", c.objectsPut(ctx, in.key, []byte(in.value))
	case in.op == regDelete && in.via == "aws-sdk-go-v2":
		_, err := c.sdk.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k})
		if _, code, _ := sdkErr(err); code == "NoSuchKey" {
			c.racedDelete()
			return out, "", nil
		}
		return out, "", err
	case in.op == regDelete && in.via == "minio-go":
		err := c.minio.RemoveObject(ctx, c.bucket, in.key, minio.RemoveObjectOptions{})
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			c.racedDelete()
			return out, "", nil
		}
		return out, "", err
	default:
		res, err := c.objects(ctx, http.MethodDelete, in.key, nil)
		switch {
		case err != nil:
		case res.Status == 404 && res.xmlCode() == "NoSuchKey":
			c.racedDelete()
			return out, "", nil
		case res.Status != 204:
			err = fmt.Errorf("status %d, want 204: %s", res.Status, res.Body)
		}
		return out, "", err
	}
}

// racedDelete accounts for a delete versitygw answered NoSuchKey. S3
// answers 204 to a delete of a missing key, and so does versitygw, except
// when another delete of the key removes it first: the key was absent
// during the call, which is what a delete leaves, so the answer counts as
// the delete's.
func (c *linClient) racedDelete() {
	c.h.mu.Lock()
	c.h.racedDeletes++
	c.h.mu.Unlock()
}

// writeKey picks the key of a write: half of them go to the first key,
// so that the others stay cached long enough to be hit. Reads pick any.
func (c *linClient) writeKey() string {
	if c.rng.IntN(2) == 0 {
		return linKeys[0]
	}
	return linKeys[c.rng.IntN(len(linKeys))]
}

// deleteObjects deletes one or two keys with one DeleteObjects request;
// each key's register sees a delete spanning the request.
func (c *linClient) deleteObjects() {
	keys := []string{c.writeKey(), c.writeKey()}
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	var ids []s3types.ObjectIdentifier
	for _, k := range keys {
		ids = append(ids, s3types.ObjectIdentifier{Key: aws.String(k)})
	}
	ctx, cancel := context.WithTimeout(c.t.Context(), linOpTimeout)
	defer cancel()
	call := c.h.now()
	res, err := c.sdk.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &c.bucket, Delete: &s3types.Delete{Objects: ids}})
	ret := c.h.now()
	if err == nil {
		for _, e := range res.Errors {
			if aws.ToString(e.Code) == "NoSuchKey" {
				c.racedDelete()
				continue
			}
			err = fmt.Errorf("error on %q: %s: %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
	}
	if err != nil {
		c.t.Errorf("client %d: DeleteObjects %q: %v", c.id, keys, err)
		ret = math.MaxInt64
	}
	for _, k := range keys {
		c.h.add(c.id, regInput{op: regDelete, key: k, via: "DeleteObjects", replica: c.replica}, call, regOutput{}, ret)
	}
}

// objects sends a signed request to the /objects API and reads the answer.
func (c *linClient) objects(ctx context.Context, method, key string, body []byte) (httpResult, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.e.URL+"/objects/"+c.bucket+"/"+escapeKey(key), bytes.NewReader(body))
	if err != nil {
		return httpResult{}, err
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: c.e.Access, SecretAccessKey: c.e.Secret}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, "s3", testRegion, time.Now()); err != nil {
		return httpResult{}, err
	}
	return httpDo(c.t, req)
}

// objectsPut stores value under key through the /objects API.
func (c *linClient) objectsPut(ctx context.Context, key string, value []byte) error {
	res, err := c.objects(ctx, http.MethodPut, key, value)
	if err == nil && res.Status != 200 {
		err = fmt.Errorf("status %d, want 200: %s", res.Status, res.Body)
	}
	return err
}
