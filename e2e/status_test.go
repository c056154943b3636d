package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/chromedp/chromedp"
)

// statusScreenshot names where TestStatusPageInBrowser writes its
// screenshot (the one in docs/ is made so); with it, the traffic runs for
// statusTraffic before, so that the chart has some history:
//
//	go test -run TestStatusPageInBrowser ./e2e -args -status-screenshot=$PWD/docs/status-page.png
var (
	statusScreenshot = flag.String("status-screenshot", "", "write the status page's screenshot to this PNG file, after -status-traffic of traffic")
	statusTraffic    = flag.Duration("status-traffic", 3*time.Minute, "with -status-screenshot: how long the traffic runs before the screenshot")
)

// TestStatusPageInBrowser opens the status page in headless Chromium,
// driven through the DevTools protocol: it refuses a wrong token, signs
// in with ADMIN_TOKEN, and while clients read two buckets (hits, misses
// after overwrites, HEADs, missing keys) its chart moves; once the
// traffic stopped, every figure on the page — the text shown and the
// number behind it — is the one GET /-/admin/stats gives, and each
// bucket's savings are those /-/metrics exports. The page must raise no
// script error and break no rule of its Content-Security-Policy. A
// machine without Chromium fails the test: the README's test command
// installs it.
func TestStatusPageInBrowser(t *testing.T) {
	t.Parallel()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found on PATH (Debian: apt-get install chromium): %v", err)
	}
	const token = "e2e-status-token"
	h := newHarness(t, map[string]string{
		"ADMIN_TOKEN":              token,
		"SAVINGS_PRICE_PER_GB":     "0.09",
		"SAVINGS_PRICE_PER_1K_GET": "0.0004",
	})
	e := h.endpoint()
	photos, logs := newBucket(t, e), newBucket(t, e)
	type object struct{ bucket, key string }
	var objects []object
	for i := range 12 {
		k := fmt.Sprintf("thumbs/%02d.jpg", i)
		putBytes(t, e, photos, k, randomBytes(t, (i+1)*9<<10))
		objects = append(objects, object{photos, k})
	}
	for i := range 4 {
		k := fmt.Sprintf("app/%d.log", i)
		putBytes(t, e, logs, k, randomBytes(t, 40<<10))
		objects = append(objects, object{logs, k})
	}

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the tests run as root
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium makes its singleton socket directory under TMPDIR and
		// leaves it behind: give it one the test removes.
		chromedp.Env("TMPDIR="+t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	)...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	// Every script error, console error and broken rule of the page's
	// Content-Security-Policy is kept, to fail the test with.
	var mu sync.Mutex
	var pageErrors []string
	messages := chromedp.Console(browser)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				pageErrors = append(pageErrors, m.String())
				mu.Unlock()
			}
		}
	}()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(browser, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(browser, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluating %s: %v", js, err)
		}
		return s
	}
	waitState := func(want, message string) {
		t.Helper()
		if err := poll(ctx, 30*time.Second, func(context.Context) error {
			s, msg := eval(`document.body.dataset.state`), eval(`document.getElementById("login-error").textContent`)
			if s != want || msg != message {
				return fmt.Errorf("page state %q, login message %q; want %q, %q", s, msg, want, message)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	run("opening the page", chromedp.Navigate(e.URL+"/-/"))
	waitState("login", "")
	run("signing in with a wrong token", chromedp.SendKeys(chromedp.ID("token"), "not-the-token"), chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)))
	waitState("login", "The token was refused.")
	mu.Lock()
	pageErrors = nil // the refused request logs its 403
	mu.Unlock()
	run("signing in", chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)))
	waitState("ok", "")

	// A warm job, for the page to list.
	if res := curl(t, "-H", "Authorization: Bearer "+token, "-X", "POST", "--data-binary",
		fmt.Sprintf(`[{"bucket":%q,"prefix":"app/"}]`, logs), e.URL+"/-/admin/warm"); res.Status != http.StatusAccepted {
		t.Fatalf("POST /-/admin/warm: %d %s", res.Status, res.Body)
	}

	// Traffic: hits, with misses after overwrites and of missing keys.
	trafficFor := 30 * time.Second // stopped once the chart moved
	if *statusScreenshot != "" {
		trafficFor = *statusTraffic
	}
	stop := make(chan struct{})
	type outcome struct {
		reads int // GETs and HEADs sent
		err   error
	}
	done := make(chan outcome, 1)
	go func() {
		n, err := readTraffic(ctx, e, stop, trafficFor, len(objects), func(i int) (string, string) { return objects[i].bucket, objects[i].key })
		done <- outcome{n, err}
	}()
	stopTraffic := sync.OnceValue(func() outcome {
		if *statusScreenshot == "" {
			close(stop)
		}
		return <-done
	})
	defer stopTraffic()

	// The chart moves while the traffic runs: its hit area changes from
	// one poll to a later one.
	first := readPage(t, browser)
	if err := poll(ctx, 30*time.Second, func(context.Context) error {
		now := readPage(t, browser)
		if now.Polls < first.Polls+2 || now.Chart.Hit == first.Chart.Hit || now.Chart.LastEnd <= first.Chart.LastEnd {
			return fmt.Errorf("chart before %+v, now %+v", first.Chart, now.Chart)
		}
		return nil
	}); err != nil {
		t.Fatalf("the chart did not move: %v", err)
	}
	traffic := stopTraffic()
	if traffic.err != nil {
		t.Fatalf("traffic: %v", traffic.err)
	}

	// Once every read is counted (a request is, when its handler
	// returned), the page's next polls show the same figures as the
	// admin API.
	var stats adminStats
	if err := poll(ctx, 30*time.Second, func(context.Context) error {
		res := curl(t, "-H", "Authorization: Bearer "+token, e.URL+"/-/admin/stats")
		if res.Status != 200 || json.Unmarshal(res.Body, &stats) != nil {
			t.Fatalf("GET /-/admin/stats: %d %s", res.Status, res.Body)
		}
		if stats.Savings.Reads != float64(traffic.reads) {
			return fmt.Errorf("/-/admin/stats counts %v reads, want the %d sent", stats.Savings.Reads, traffic.reads)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before := readPage(t, browser).Polls
	var page pageFigures
	if err := poll(ctx, 30*time.Second, func(context.Context) error {
		if page = readPage(t, browser); page.Polls < before+2 {
			return fmt.Errorf("the page polled %d times since, want 2", page.Polls-before)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if stats.Savings.Reads < 50 || stats.Savings.RequestsSaved == 0 || stats.Savings.RequestsSaved == stats.Savings.Reads {
		t.Fatalf("the traffic made %+v: want many reads, hits and misses", stats.Savings)
	}
	sv := stats.Savings
	var reads float64
	for _, n := range stats.Reads {
		reads += n
	}
	for _, c := range []struct {
		id   string
		want float64
		text string
	}{
		{"request-hit-ratio", sv.RequestHitRatio, pct(sv.RequestHitRatio)},
		{"byte-hit-ratio", sv.ByteHitRatio, pct(sv.ByteHitRatio)},
		{"requests-saved", sv.RequestsSaved, count(sv.RequestsSaved)},
		{"bytes-saved", sv.BytesSaved, byteSize(sv.BytesSaved)},
		{"money-saved", *sv.MoneySaved, money(*sv.MoneySaved)},
		{"reads-total", reads, count(reads)},
		{"cache-entries", stats.Entries, count(stats.Entries)},
		{"cache-bytes", stats.Bytes, byteSize(stats.Bytes)},
		{"cache-max-bytes", stats.MaxBytes, byteSize(stats.MaxBytes)},
		{"evictions", stats.Evictions, count(stats.Evictions)},
	} {
		got, ok := page.Figures[c.id]
		if !ok || got.Value != c.want || got.Text != c.text {
			t.Errorf("#%s shows %q (%v), want %q (%v) as /-/admin/stats says", c.id, got.Text, got.Value, c.text, c.want)
		}
	}
	metrics := scrapeMetrics(t, e)
	rows := map[string]pageRow{}
	for _, r := range page.Buckets {
		rows[r.Name] = r
	}
	if len(page.Buckets) != len(stats.Buckets) {
		t.Errorf("the page lists %d buckets, /-/admin/stats %d", len(page.Buckets), len(stats.Buckets))
	}
	for _, b := range stats.Buckets {
		r, ok := rows[b.Bucket]
		if !ok || len(r.Cells) != 6 {
			t.Errorf("bucket %s: row %+v, want 6 figures", b.Bucket, r)
			continue
		}
		want := []pageFigure{
			{count(b.Reads), b.Reads}, {pct(b.RequestHitRatio), b.RequestHitRatio}, {pct(b.ByteHitRatio), b.ByteHitRatio},
			{count(b.RequestsSaved), b.RequestsSaved}, {byteSize(b.BytesSaved), b.BytesSaved}, {money(*b.MoneySaved), *b.MoneySaved},
		}
		for i, w := range want {
			if r.Cells[i] != w {
				t.Errorf("bucket %s, column %d: %+v, want %+v", b.Bucket, i+2, r.Cells[i], w)
			}
		}
		for name, v := range map[string]float64{
			"s3cache_backend_bytes_saved_total": b.BytesSaved, "s3cache_backend_requests_saved_total": b.RequestsSaved, "s3cache_reads_total": b.Reads,
		} {
			if m := metrics[name+`{bucket="`+b.Bucket+`"}`]; m != v {
				t.Errorf("bucket %s: /-/metrics has %s %v, the page %v", b.Bucket, name, m, v)
			}
		}
	}
	if _, ok := rows[photos]; !ok {
		t.Errorf("the page lists no row for %s: %+v", photos, page.Buckets)
	}
	if len(page.Keys) == 0 || len(page.Keys) != len(stats.TopKeys) || page.Keys[0] != stats.TopKeys[0].Bucket+"/"+stats.TopKeys[0].Key {
		t.Errorf("hottest keys on the page %v, /-/admin/stats %+v", page.Keys, stats.TopKeys)
	}
	mu.Lock()
	if len(pageErrors) > 0 {
		t.Errorf("the page logged errors: %q", pageErrors)
	}
	mu.Unlock()

	shot, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("taking a screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil || img.Bounds().Dx() < 1000 {
		t.Fatalf("screenshot: %v (%d bytes)", err, len(shot))
	}
	path := *statusScreenshot
	if path == "" {
		path = t.TempDir() + "/status.png"
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %dx%d, %d KiB: %s", img.Bounds().Dx(), img.Bounds().Dy(), len(shot)>>10, path)
}

// readTraffic reads n objects (named by object) through e until stop is
// closed or d passed, about 30 operations a second with quieter spells:
// mostly GETs of a few hot keys, with HEADs, GETs of a key that does not
// exist, and overwrites that make the next GET a miss. It returns how
// many reads (GETs and HEADs) it sent.
func readTraffic(ctx context.Context, e endpoint, stop <-chan struct{}, d time.Duration, n int, object func(int) (string, string)) (reads int, err error) {
	c := sdkClient(e)
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		select {
		case <-stop:
			return reads, nil
		case <-ctx.Done():
			return reads, ctx.Err()
		default:
		}
		// Zipf-like: key j is read about 1/(j+1) as often as key 0.
		j := (i * 7919) % (n * (n + 1) / 2)
		k := 0
		for j >= n-k {
			j -= n - k
			k++
		}
		bucket, key := object(k)
		if i%37 != 0 {
			reads++
		}
		switch {
		case i%37 == 0:
			_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(bytes.Repeat([]byte{byte(i)}, 8<<10+i))})
		case i%11 == 0:
			_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		case i%29 == 0:
			missing := "missing/" + strconv.Itoa(i)
			if _, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &missing}); err != nil {
				if status, _, _ := sdkErr(err); status == http.StatusNotFound {
					err = nil
				}
			}
		default:
			var out *s3.GetObjectOutput
			if out, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key}); err == nil {
				_, err = io.Copy(io.Discard, out.Body)
				out.Body.Close()
			}
		}
		if err != nil {
			return reads, fmt.Errorf("operation %d on %s/%s: %w", i, bucket, key, err)
		}
		// Pacing, not synchronisation: a steady load with a quiet
		// moment every few seconds, so the chart has a shape.
		pause := 25 * time.Millisecond
		if (i/150)%3 == 2 {
			pause = 60 * time.Millisecond
		}
		time.Sleep(pause)
	}
	return reads, nil
}

// adminStats is the part of GET /-/admin/stats the page shows.
type adminStats struct {
	Entries   float64            `json:"entries"`
	Bytes     float64            `json:"bytes"`
	MaxBytes  float64            `json:"max_bytes"`
	Reads     map[string]float64 `json:"reads"`
	Evictions float64            `json:"evictions"`
	TopKeys   []struct {
		Bucket, Key string
	} `json:"top_keys"`
	Savings savings `json:"savings"`
	Buckets []struct {
		Bucket string `json:"bucket"`
		savings
	} `json:"buckets"`
}

type savings struct {
	Reads           float64  `json:"reads"`
	ReadBytes       float64  `json:"read_bytes"`
	RequestsSaved   float64  `json:"backend_requests_saved"`
	BytesSaved      float64  `json:"backend_bytes_saved"`
	RequestHitRatio float64  `json:"request_hit_ratio"`
	ByteHitRatio    float64  `json:"byte_hit_ratio"`
	MoneySaved      *float64 `json:"money_saved"`
}

// pageFigure is a figure as the page shows it and the number behind it.
type pageFigure struct {
	Text  string  `json:"text"`
	Value float64 `json:"value"`
}

type pageRow struct {
	Name  string       `json:"name"`
	Cells []pageFigure `json:"cells"`
}

// pageFigures is what readPage reads off the page.
type pageFigures struct {
	Polls   int                   `json:"polls"`
	Figures map[string]pageFigure `json:"figures"`
	Buckets []pageRow             `json:"buckets"`
	Keys    []string              `json:"keys"`
	Chart   struct {
		Points  int     `json:"points"`
		LastEnd float64 `json:"lastEnd"`
		Hit     string  `json:"hit"` // the hit area's path
	} `json:"chart"`
}

// readPageJS reads the figures off the page's DOM.
const readPageJS = `(() => {
  const fig = (e) => ({ text: e.textContent, value: Number(e.dataset.value) });
  const out = { polls: Number(document.body.dataset.polls || 0), figures: {}, buckets: [], keys: [], chart: {} };
  for (const e of document.querySelectorAll("[id][data-value]")) out.figures[e.id] = fig(e);
  for (const tr of document.querySelectorAll("#buckets tr[data-bucket]"))
    out.buckets.push({ name: tr.dataset.bucket, cells: [...tr.cells].slice(1).map(fig) });
  for (const tr of document.querySelectorAll("#top-keys tr[data-key]")) out.keys.push(tr.dataset.key);
  const svg = document.querySelector("#chart-reads svg");
  if (svg) {
    const hit = svg.querySelector('path[data-result="hit"]');
    out.chart = { points: Number(svg.dataset.points), lastEnd: Number(svg.dataset.lastEnd), hit: hit ? hit.getAttribute("d") : "" };
  }
  return out;
})()`

func readPage(t *testing.T, browser context.Context) pageFigures {
	t.Helper()
	p, err := chromedp.Run(browser, chromedp.Evaluate[pageFigures](readPageJS))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return p
}

// The page's number formats (status.html), in Go.

func count(n float64) string {
	s := strconv.FormatInt(int64(n+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func pct(r float64) string { return toFixed(r*100, 1) + "%" }

func byteSize(n float64) string {
	if n < 1024 {
		return strconv.FormatInt(int64(n+0.5), 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	u := -1
	for {
		n /= 1024
		u++
		if n < 1024 || u == len(units)-1 {
			break
		}
	}
	return toFixed(n, 1) + " " + units[u]
}

func money(m float64) string {
	if m < 1 {
		return toFixed(m, 4)
	}
	return toFixed(m, 2)
}

// toFixed is JavaScript's Number.prototype.toFixed for x ≥ 0: the exact
// binary value rounded to d decimals, halves up (Go's formatting rounds
// them to even).
func toFixed(x float64, d int) string {
	exact := new(big.Float).SetFloat64(x).Text('f', 1100)
	whole, frac, _ := strings.Cut(exact, ".")
	n, _ := new(big.Int).SetString(whole+frac[:d], 10)
	if frac[d] >= '5' {
		n.Add(n, big.NewInt(1))
	}
	s := n.String()
	if len(s) < d+1 {
		s = strings.Repeat("0", d+1-len(s)) + s
	}
	if d == 0 {
		return s
	}
	return s[:len(s)-d] + "." + s[len(s)-d:]
}

// TestStatusDevMode checks the status page with -dev, as the README
// tells a newcomer to open it: the page is served, and its JSON twin,
// asked with ADMIN_TOKEN or signed by the dev user (an admin), counts a
// curl client's miss and hit, the hit as one backend request and its
// bytes saved.
func TestStatusDevMode(t *testing.T) {
	t.Parallel()
	const token = "e2e-dev-token"
	p := startProxy(t, proxyOptions{
		Args: []string{"-dev"},
		Bare: true,
		Env:  map[string]string{"DEV_DATA_DIR": t.TempDir(), "ADMIN_TOKEN": token},
	})
	e := endpoint{URL: "http://" + p.Addr, Access: "minioadmin", Secret: "minioadmin"}
	if r := curl(t, append(sigv4(e), "-X", "PUT", e.URL+"/devstatus")...); r.Status != 200 {
		t.Fatalf("PUT bucket: %d %s", r.Status, r.Body)
	}
	body := bytes.Repeat([]byte("dev status "), 1000)
	if r := curl(t, append(sigv4(e), "-X", "PUT", "--data-binary", string(body), e.URL+"/devstatus/hello.txt")...); r.Status != 200 {
		t.Fatalf("PUT object: %d %s", r.Status, r.Body)
	}
	for _, want := range []string{"MISS", "HIT"} {
		r := curl(t, append(sigv4(e), e.URL+"/devstatus/hello.txt")...)
		wantXCache(t, "GET", r.Header, want)
	}
	page := curl(t, e.URL+"/-/")
	if page.Status != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") || !bytes.Contains(page.Body, []byte("s3cache status")) {
		t.Errorf("GET /-/: %d %s", page.Status, page.Header.Get("Content-Type"))
	}
	for name, auth := range map[string][]string{
		"bearer": {"-H", "Authorization: Bearer " + token},
		"sigv4":  sigv4(e),
	} {
		var s struct {
			Savings savings `json:"savings"`
			Redis   string  `json:"redis"`
			Backend struct {
				Ready bool `json:"ready"`
			} `json:"backend"`
		}
		err := poll(t.Context(), 10*time.Second, func(context.Context) error {
			r := curl(t, append(auth, e.URL+"/-/status.json")...)
			if r.Status != 200 || json.Unmarshal(r.Body, &s) != nil {
				return fmt.Errorf("GET /-/status.json (%s): %d %s", name, r.Status, r.Body)
			}
			if s.Savings.Reads != 2 || s.Savings.RequestsSaved != 1 || s.Savings.BytesSaved != float64(len(body)) {
				return fmt.Errorf("%s: savings %+v, want 2 reads, 1 request and %d bytes saved", name, s.Savings, len(body))
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		if !s.Backend.Ready || s.Redis != "off" {
			t.Errorf("%s: backend ready %v, redis %q", name, s.Backend.Ready, s.Redis)
		}
	}
	if r := curl(t, e.URL+"/-/status.json"); r.Status != 403 {
		t.Errorf("GET /-/status.json without credentials: %d, want 403", r.Status)
	}
}
