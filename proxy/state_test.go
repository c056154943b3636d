package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// lastJob waits for the newest warm job of p to end and returns it.
func lastJob(t *testing.T, p *Proxy) *warmJob {
	t.Helper()
	p.warmer.mu.Lock()
	j := p.warmer.jobs[len(p.warmer.jobs)-1]
	p.warmer.mu.Unlock()
	<-j.done
	return j
}

// TestStateSaveRestore saves what a proxy cached, restores it into a new
// proxy in front of the same backend, and checks the new proxy answers
// those keys from memory, hottest first in the file, with a changed
// object counted as changed and loaded as it is now.
func TestStateSaveRestore(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/hot"] = []byte("hot object")
	fake.objects["/bkt/warm"] = []byte("warm object")
	fake.objects["/bkt/cold"] = []byte("cold object")
	first, srv := newTestProxy(t, backend, nil)
	for path, n := range map[string]int{"/bkt/hot": 3, "/bkt/warm": 2, "/bkt/cold": 1} {
		for range n {
			getXCache(t, first, srv, path)
		}
	}
	var file bytes.Buffer
	n, err := first.SaveState(&file)
	if err != nil || n != 3 {
		t.Fatalf("SaveState: %d keys, %v", n, err)
	}
	lines := strings.Split(strings.TrimSpace(file.String()), "\n")
	var top stateRecord
	if len(lines) != 4 || json.Unmarshal([]byte(lines[1]), &top) != nil || top.Key != "hot" || top.Hits != 2 || top.ETag == "" {
		t.Fatalf("state file:\n%s\nwant a header, then hot (2 hits, with its ETag) first", file.String())
	}

	// The cold object changes on the backend before the restart.
	fake.mu.Lock()
	fake.objects["/bkt/cold"] = []byte("cold object, changed")
	fake.mu.Unlock()
	second, srv2 := newTestProxy(t, backend, nil)
	if n, err := second.RestoreState(bytes.NewReader(file.Bytes())); err != nil || n != 3 {
		t.Fatalf("RestoreState: %d keys, %v", n, err)
	}
	j := lastJob(t, second)
	if got := j.json(); got.State != "done" || got.ObjectsWarmed != 3 || got.Changed != 1 || got.Source != "state file" {
		t.Errorf("restore job %+v, want done, 3 warmed, 1 changed", got)
	}
	second.cache.Wait()
	before := fake.getCount("/bkt/cold")
	for _, path := range []string{"/bkt/hot", "/bkt/warm", "/bkt/cold"} {
		if x := getXCache(t, second, srv2, path); x != xCacheHit {
			t.Errorf("GET %s after the restore: X-Cache %q, want HIT", path, x)
		}
	}
	if got := readBody(t, do(t, "GET", srv2.URL+"/bkt/cold", nil, testSecret)); got != "cold object, changed" {
		t.Errorf("restored changed object: %q, want the new bytes", got)
	}
	if fake.getCount("/bkt/cold") != before {
		t.Errorf("hits after the restore asked the backend")
	}
}

func TestRestoreStateRefusesBadFiles(t *testing.T) {
	_, backend := newFakeS3(t)
	p, _ := newTestProxy(t, backend, nil)
	for name, file := range map[string]string{
		"empty":          "",
		"not json":       "hello\n",
		"other format":   `{"format":"something-else","keys":0}` + "\n",
		"short":          `{"format":"s3cache-state-v1","keys":2}` + "\n" + `{"bucket":"bkt","key":"a","hits":1}` + "\n",
		"long":           `{"format":"s3cache-state-v1","keys":0}` + "\n" + `{"bucket":"bkt","key":"a","hits":1}` + "\n",
		"bad bucket":     `{"format":"s3cache-state-v1","keys":1}` + "\n" + `{"bucket":"B_ad","key":"a","hits":1}` + "\n",
		"unknown field":  `{"format":"s3cache-state-v1","keys":1}` + "\n" + `{"bucket":"bkt","key":"a","secret":"x"}` + "\n",
		"negative count": `{"format":"s3cache-state-v1","keys":-1}` + "\n",
	} {
		if n, err := p.RestoreState(strings.NewReader(file)); !errors.Is(err, ErrStateFile) || n != 0 {
			t.Errorf("%s: %d keys, %v; want ErrStateFile", name, n, err)
		}
	}
	p.warmer.mu.Lock()
	defer p.warmer.mu.Unlock()
	if len(p.warmer.jobs) != 0 {
		t.Errorf("a refused file started %d warm jobs", len(p.warmer.jobs))
	}
}
