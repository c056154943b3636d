package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The backend's credentials; s3cache verifies clients with the same keys.
const (
	accessKey = "benchaccesskey"
	secretKey = "bench-secret-key-0123456789"
	region    = "us-east-1"
	bucket    = "bench"
)

// ensureTools checks for nginx, wrk and versitygw and, if install is set,
// installs what is missing.
func ensureTools(ctx context.Context, install bool) error {
	var missing []string
	for _, pkg := range []string{"nginx", "wrk"} {
		if _, err := lookPath(pkg); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		if !install {
			return fmt.Errorf("missing %s (install them, or drop -no-install)", strings.Join(missing, ", "))
		}
		fmt.Printf("installing %s from the distribution's packages\n", strings.Join(missing, ", "))
		if out, err := exec.CommandContext(ctx, "apt-get", "update").CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get update: %w\n%s", err, out)
		}
		args := append([]string{"install", "-y", "--no-install-recommends"}, missing...)
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get install: %w\n%s", err, out)
		}
	}
	if _, err := versityPath(); err != nil {
		if !install {
			return err
		}
		fmt.Println("installing versitygw v1.8.0 with go install")
		if out, err := exec.CommandContext(ctx, "go", "install", "github.com/versity/versitygw/cmd/versitygw@v1.8.0").CombinedOutput(); err != nil {
			return fmt.Errorf("go install versitygw: %w\n%s", err, out)
		}
	}
	return nil
}

// lookPath finds a program on PATH or in the sbin directories, where
// Debian puts nginx.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

func versityPath() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOPATH: %w", err)
	}
	for _, gp := range filepath.SplitList(strings.TrimSpace(string(out))) {
		p := filepath.Join(gp, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("versitygw not found on PATH nor in $GOPATH/bin")
}

// server is one process under test.
type server struct {
	name  string
	addr  string // host:port
	pprof string // host:port of its profiles (s3cache with -profile); "" if none
	cmd   *exec.Cmd
	log   *bytes.Buffer
}

// start runs bin with args and env in its own process group, on the CPUs
// cpus lists (taskset's syntax, e.g. "1" or "2-3"; "" for any).
func start(name, cpus, bin string, env []string, args ...string) (*server, error) {
	s := &server{name: name, log: new(bytes.Buffer)}
	if cpus != "" {
		// taskset sets the affinity and executes bin in its place: same
		// pid, and children (nginx workers) inherit it.
		args = append([]string{"-c", cpus, bin}, args...)
		bin = "taskset"
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	return s, nil
}

// stop ends the process group: SIGTERM, then SIGKILL after five seconds.
func (s *server) stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
}

// cpuTime is the user plus system CPU time of the server's processes: the
// process itself and its children (nginx workers).
func (s *server) cpuTime() (time.Duration, error) {
	pids := append([]int{s.cmd.Process.Pid}, childPIDs(s.cmd.Process.Pid)...)
	var total time.Duration
	for _, pid := range pids {
		d, err := procCPU(pid)
		if err != nil {
			return 0, err
		}
		total += d
	}
	return total, nil
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times; 100 on Linux.
const clockTick = 100

// procCPU reads utime + stime of one process from /proc.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTick, nil
}

// childPIDs lists the direct children of pid.
func childPIDs(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var kids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kids = append(kids, p)
		}
	}
	return kids
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitHTTP polls url until it answers with any HTTP status, or fails
// after 60 seconds or when s exits.
func waitHTTP(ctx context.Context, s *server, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if s.cmd.ProcessState != nil {
			return fmt.Errorf("%s exited:\n%s", s.name, s.log)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer on %s: %w\n%s", s.name, url, err, s.log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// regime is how the servers share the machine's CPUs in one part of a
// run. The zero regime lets every process use every core.
type regime struct {
	Name string `json:"name"` // "pinned" or "free"
	// ServerCPUs are the CPUs the servers under test (both s3cache
	// processes, nginx and its workers) may run on, and LoadCPUs those of
	// wrk and the backend, as taskset lists them; "" for any.
	ServerCPUs string `json:"server_cpus,omitempty"`
	LoadCPUs   string `json:"load_cpus,omitempty"`
	// Procs is s3cache's GOMAXPROCS and nginx's worker_processes; 0 leaves
	// GOMAXPROCS to Go (every core) and gives nginx one worker per core.
	Procs int `json:"procs"`

	serverCPUs, loadCPUs string // as above, for the code
	procs                int
}

// regimes returns the regimes of a run: "pinned" gives the servers under
// test the last cores of the machine, each with that many threads of
// work (GOMAXPROCS, worker_processes), and wrk and the backend the
// others (or, when cores is every core, shares them: as far apart as the
// machine allows); "free" lets every process use every core.
func regimes(mode string, cores int) ([]regime, error) {
	n := runtime.NumCPU()
	if cores < 1 || cores > n {
		return nil, fmt.Errorf("-cores %d: want 1 to %d", cores, n)
	}
	pinned := regime{Name: "pinned", Procs: cores, ServerCPUs: cpuList(n-cores, n-1)}
	if cores < n {
		pinned.LoadCPUs = cpuList(0, n-cores-1)
	}
	free := regime{Name: "free"}
	var out []regime
	switch mode {
	case "both":
		out = []regime{pinned, free}
	case "pinned":
		out = []regime{pinned}
	case "free":
		out = []regime{free}
	default:
		return nil, fmt.Errorf("-mode %q: want pinned, free or both", mode)
	}
	for i := range out {
		out[i].serverCPUs, out[i].loadCPUs, out[i].procs = out[i].ServerCPUs, out[i].LoadCPUs, out[i].Procs
	}
	return out, nil
}

// cpuList renders CPUs first to last as taskset's -c list.
func cpuList(first, last int) string {
	if first == last {
		return strconv.Itoa(first)
	}
	return strconv.Itoa(first) + "-" + strconv.Itoa(last)
}

// describe says in words where each process ran.
func (rg regime) describe() string {
	if rg.ServerCPUs == "" {
		return "free: every process may use every core (s3cache GOMAXPROCS unset, nginx one worker per core), wrk and the backend too"
	}
	load := "CPUs " + rg.LoadCPUs
	if rg.LoadCPUs == "" {
		load = "any CPU (no core is left for them)"
	}
	return fmt.Sprintf("pinned: the servers under test on CPU %s (s3cache GOMAXPROCS=%d, nginx worker_processes %d), wrk -t1 and the backend on %s",
		rg.ServerCPUs, rg.Procs, rg.Procs, load)
}

// environment is every server of one benchmark run.
type environment struct {
	work    string
	regime  regime
	backend *server // versitygw
	cached  *server // s3cache, cache on
	nocache *server // s3cache, every GET bypasses the cache
	nginx   *server // nginx proxy_cache in front of the backend
	all     []*server
}

func startEnvironment(ctx context.Context, work string, rg regime, profile bool) (*environment, error) {
	env := &environment{work: work, regime: rg}
	ok := false
	defer func() {
		if !ok {
			env.stop()
		}
	}()
	var err error
	if env.backend, err = startVersity(ctx, work, rg.loadCPUs); err != nil {
		return nil, err
	}
	env.all = append(env.all, env.backend)
	bin := filepath.Join(work, "s3cache")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/s3cache")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/s3cache (run from the repository root): %w\n%s", err, out)
	}
	policy := filepath.Join(work, "bypass.yaml")
	if err := os.WriteFile(policy, []byte("rules:\n  - bucket: \"*\"\n    bypass: true\n"), 0o644); err != nil {
		return nil, err
	}
	var extra []string
	if rg.procs > 0 {
		extra = append(extra, "GOMAXPROCS="+strconv.Itoa(rg.procs))
	}
	if env.cached, err = startS3cache(ctx, "s3cache", rg.serverCPUs, bin, env.backend.addr, profile, extra); err != nil {
		return nil, err
	}
	env.all = append(env.all, env.cached)
	if env.nocache, err = startS3cache(ctx, "s3cache-nocache", rg.serverCPUs, bin, env.backend.addr, profile, append(extra, "CACHE_POLICY_FILE="+policy)); err != nil {
		return nil, err
	}
	env.all = append(env.all, env.nocache)
	workers := rg.procs
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	if env.nginx, err = startNginx(ctx, work, rg.serverCPUs, env.backend.addr, workers); err != nil {
		return nil, err
	}
	env.all = append(env.all, env.nginx)
	ok = true
	return env, nil
}

// logs returns what the servers printed, and nginx's error log.
func (env *environment) logs() string {
	var b strings.Builder
	for _, s := range env.all {
		fmt.Fprintf(&b, "--- %s:\n%s\n", s.name, s.log)
	}
	if el, err := os.ReadFile(filepath.Join(env.work, "nginx", "error.log")); err == nil {
		fmt.Fprintf(&b, "--- nginx error.log:\n%s\n", el)
	}
	return b.String()
}

func (env *environment) stop() {
	for i := len(env.all) - 1; i >= 0; i-- {
		env.all[i].stop()
	}
}

func startVersity(ctx context.Context, work, cpus string) (*server, error) {
	bin, err := versityPath()
	if err != nil {
		return nil, err
	}
	root, side := filepath.Join(work, "data"), filepath.Join(work, "meta")
	for _, d := range []string{root, side} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// --keep-alive: S3 services keep connections open, and versitygw
	// closes each one after a response without it, which would make every
	// request through any proxy dial anew.
	s, err := start("versitygw", cpus, bin, os.Environ(), "--access", accessKey, "--secret", secretKey,
		"--region", region, "--port", addr, "--quiet", "--keep-alive", "posix", "--sidecar", side, root)
	if err != nil {
		return nil, err
	}
	s.addr = addr
	return s, waitHTTP(ctx, s, "http://"+addr+"/")
}

func startS3cache(ctx context.Context, name, cpus, bin, backend string, profile bool, extra []string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	var pprofAddr string
	if profile {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		extra = append(extra, "PPROF_ADDR="+pprofAddr)
	}
	env := append(os.Environ(),
		"S3_ENDPOINT="+backend, "S3_ACCESS_KEY="+accessKey, "S3_SECRET_KEY="+secretKey, "S3_REGION="+region,
		"LISTEN_ADDR="+addr, "CACHE_MAX_BYTES=1GiB", "CACHE_MAX_OBJECT_BYTES=32MiB", "CACHE_TTL=1h",
		"LOG_LEVEL=warn")
	s, err := start(name, cpus, bin, append(env, extra...))
	if err != nil {
		return nil, err
	}
	s.addr, s.pprof = addr, pprofAddr
	return s, waitHTTP(ctx, s, "http://"+addr+"/-/healthz")
}

// nginxConf is nginx tuned as a cache in front of one S3 backend: as many
// workers as s3cache has cores (-procs), the cache key is the path alone (a
// presigned query differs per client and would defeat the cache), 200s
// kept ten minutes, concurrent misses locked into one backend request,
// keep-alive to the backend; the large object of the range targets is
// cached in 1 MiB slices (the slice module). sendfile is off: with it on, 64 KiB hits
// ran about 30 times slower on this kind of machine.
const nginxConf = `worker_processes {{procs}};
daemon off;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile off;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path {{dir}}/body;
    proxy_temp_path {{dir}}/proxy_temp;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    proxy_cache_path {{dir}}/cache levels=1:2 keys_zone=s3:64m max_size=4g inactive=1h use_temp_path=off;
    upstream backend {
        server {{backend}};
        keepalive 64;
    }
    server {
        listen {{addr}};
        client_max_body_size 0;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_cache s3;
            proxy_cache_key $uri;
            proxy_cache_valid 200 10m;
            proxy_cache_lock on;
            proxy_request_buffering off;
            add_header X-Cache $upstream_cache_status;
        }
        # The large object of the range targets, cached in 1 MiB slices:
        # each slice is its own entry, fetched with a Range header of its
        # own. The key is the path and the slice, not the query, for the
        # reason above.
        location ^~ {{large}} {
            slice 1m;
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header Range $slice_range;
            proxy_cache s3;
            proxy_cache_key $uri$slice_range;
            proxy_cache_valid 200 206 1h;
            proxy_cache_lock on;
            add_header X-Cache $upstream_cache_status;
        }
    }
}
`

func startNginx(ctx context.Context, work, cpus, backend string, procs int) (*server, error) {
	bin, err := lookPath("nginx")
	if err != nil {
		return nil, err
	}
	// nginx started as root runs its workers as nobody, who must reach the
	// cache and temporary directories.
	dir := filepath.Join(work, "nginx")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	for _, d := range []string{work, dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{backend}}", backend, "{{addr}}", addr, "{{procs}}", strconv.Itoa(procs),
		"{{large}}", "/"+bucket+"/"+largePrefix).Replace(nginxConf)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	s, err := start("nginx", cpus, bin, os.Environ(), "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	if err != nil {
		return nil, err
	}
	s.addr = addr
	return s, waitHTTP(ctx, s, "http://"+addr+"/")
}

// machine describes where the run happened.
func (env *environment) machine() machineInfo {
	m := machineInfo{Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC().Format("2006-01-02")}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) >= 2 {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			m.MemGiB = int((kb + 512<<10) >> 20)
		}
	}
	if bin, err := lookPath("nginx"); err == nil {
		out, _ := exec.Command(bin, "-v").CombinedOutput()
		m.Nginx = strings.TrimSpace(strings.TrimPrefix(string(out), "nginx version: "))
	}
	return m
}

// machineInfo is the machine a report was measured on.
type machineInfo struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	MemGiB int    `json:"mem_gib"`
	Go     string `json:"go"`
	Nginx  string `json:"nginx"`
	Date   string `json:"date"`
}
