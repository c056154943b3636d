package proxy

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/s3cache/s3cache/proxy/internal/coherence/coherencetest"
)

// metricNames returns the name of every metric family p exports, from
// the collectors' descriptions (so vectors without samples count too).
func metricNames(t *testing.T, p *Proxy) map[string]bool {
	t.Helper()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	ch := make(chan *prometheus.Desc, 512)
	go func() {
		for _, c := range p.metrics.collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	if !names["s3cache_requests_total"] || !names["go_goroutines"] {
		t.Fatalf("metric names not found in the descriptions: %v", names)
	}
	return names
}

// promQLMetric matches the metric names an expression uses.
var promQLMetric = regexp.MustCompile(`\b(?:s3cache|go|process)_[a-z0-9_]+\b`)

// checkExpr fails the test for each metric expr names that p does not
// export; histogram series (_bucket, _sum, _count) count as their family.
func checkExpr(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty expression", where)
	}
	for _, name := range promQLMetric.FindAllString(expr, -1) {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && known[b] {
				base = b
			}
		}
		if !known[base] {
			t.Errorf("%s names %s, which s3cache does not export", where, name)
		}
	}
}

// TestDeployFilesNameRealMetrics checks that every metric the Prometheus
// rules and the Grafana dashboard in deploy/ use is one s3cache exports,
// and that the Kubernetes and systemd files probe and run what exists.
func TestDeployFilesNameRealMetrics(t *testing.T) {
	_, backend := newFakeS3(t)
	// With Redis and the shared tier, so their metrics are exported too.
	redis := coherencetest.StartRedis(t)
	p, _ := newTestProxy(t, backend, func(c *Config) { c.RedisURL = redis.URL(); c.CacheL2 = "redis" })
	known := metricNames(t, p)

	rules, err := filepath.Glob("../deploy/prometheus/*.yaml")
	if err != nil || len(rules) == 0 {
		t.Fatalf("no rule files in deploy/prometheus: %v", err)
	}
	alerts := 0
	for _, path := range rules {
		var f struct {
			Groups []struct {
				Name  string
				Rules []struct {
					Alert string
					Expr  string
				}
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				alerts++
				checkExpr(t, path+": "+r.Alert, r.Expr, known)
			}
		}
	}
	if alerts < 4 {
		t.Errorf("%d alerting rules, want at least backend errors, hit ratio, fullness and one more", alerts)
	}

	dashboards, err := filepath.Glob("../deploy/grafana/*.json")
	if err != nil || len(dashboards) == 0 {
		t.Fatalf("no dashboards in deploy/grafana: %v", err)
	}
	for _, path := range dashboards {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []struct {
				Title   string
				Targets []struct{ Expr string }
			}
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(d.Panels) < 8 {
			t.Errorf("%s: %d panels", path, len(d.Panels))
		}
		for _, panel := range d.Panels {
			if len(panel.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", path, panel.Title)
			}
			for _, target := range panel.Targets {
				checkExpr(t, path+": "+panel.Title, target.Expr, known)
			}
		}
	}

	// The Deployment's probes use the ops endpoints the proxy serves.
	b, err := os.ReadFile("../deploy/kubernetes/s3cache.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	kinds := map[string]bool{}
	for {
		var doc struct {
			Kind string
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							ReadinessProbe struct {
								HTTPGet struct{ Path string } `yaml:"httpGet"`
							} `yaml:"readinessProbe"`
							LivenessProbe struct {
								HTTPGet struct{ Path string } `yaml:"httpGet"`
							} `yaml:"livenessProbe"`
						}
					}
				}
			}
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		kinds[doc.Kind] = true
		if doc.Kind == "Deployment" {
			c := doc.Spec.Template.Spec.Containers
			if len(c) != 1 || c[0].ReadinessProbe.HTTPGet.Path != "/-/readyz" || c[0].LivenessProbe.HTTPGet.Path != "/-/healthz" {
				t.Errorf("Deployment probes: %+v, want readiness on /-/readyz and liveness on /-/healthz", c)
			}
		}
	}
	if !kinds["Deployment"] || !kinds["Service"] {
		t.Errorf("deploy/kubernetes/s3cache.yaml has %v, want a Deployment and a Service", kinds)
	}
	for _, path := range []string{"/-/readyz", "/-/healthz", "/-/metrics"} {
		if h, pattern := p.ops.Handler(httptest.NewRequest("GET", path, nil)); h == nil || pattern == "" {
			t.Errorf("the proxy serves no %s", path)
		}
	}
	unit, err := os.ReadFile("../deploy/systemd/s3cache.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/local/bin/s3cache", "ExecReload=/bin/kill -HUP $MAINPID", "[Install]"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("deploy/systemd/s3cache.service lacks %q", want)
		}
	}
}
