package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// workspace is one run's temporary directory, the wacard binary built into
// it, and every process started from it.
type workspace struct {
	env benchEnv
	dir string
	bin string

	mu     sync.Mutex
	procs  []*proc
	redis  []*redisServer
	failed bool // keep the directory: its logs explain the failure
}

// newWorkspace builds cmd/wacard once into a fresh temporary directory.
func newWorkspace(ctx context.Context, env benchEnv) (*workspace, error) {
	dir, err := os.MkdirTemp("", "wacardbench-")
	if err != nil {
		return nil, err
	}
	w := &workspace{env: env, dir: dir, bin: filepath.Join(dir, "wacard")}
	env.logf("building wacard into %s", dir)
	out, err := exec.CommandContext(ctx, "go", "build", "-o", w.bin, "github.com/wacard/wacard/cmd/wacard").CombinedOutput()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("go build ./cmd/wacard: %v\n%s", err, out)
	}
	return w, nil
}

// close stops every process still running and removes the directory, unless
// the run failed or -keep was given.
func (w *workspace) close() {
	w.mu.Lock()
	procs, servers := w.procs, w.redis
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { _ = p.stop(15 * time.Second) })
	}
	wg.Wait()
	for _, r := range servers {
		_ = r.stop()
	}
	if w.failed || w.env.keep {
		w.env.logf("process logs kept in %s", w.dir)
		return
	}
	_ = os.RemoveAll(w.dir)
}

func (w *workspace) fail() {
	w.mu.Lock()
	w.failed = true
	w.mu.Unlock()
}

// proc is one running wacard process. Its standard error goes straight to a
// file (no copying in this process, which would compete for the CPU).
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	started time.Time
}

// start runs the wacard binary with args; env is added to a clean copy of
// this process's environment (every inherited WACARD_* variable removed).
func (w *workspace) start(name string, env map[string]string, args ...string) (*proc, error) {
	p := &proc{name: name, logPath: filepath.Join(w.dir, name+".log"), done: make(chan struct{})}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p.cmd = exec.Command(w.bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WACARD_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, "WACARD_LOG_FORMAT=json", "WACARD_LOG_LEVEL=info")
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.started = time.Now()
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	w.mu.Lock()
	w.procs = append(w.procs, p)
	w.mu.Unlock()
	return p, nil
}

// apiAddr waits for the process's "API listening" log line and returns its address.
func (p *proc) apiAddr(ctx context.Context, within time.Duration) (string, error) {
	var addr string
	err := poll(ctx, within, p.name+" to listen", func() (bool, error) {
		select {
		case <-p.done:
			return false, fmt.Errorf("%s exited at start; see %s", p.name, p.logPath)
		default:
		}
		f, err := os.Open(p.logPath)
		if err != nil {
			return false, err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if !strings.Contains(sc.Text(), `"API listening"`) {
				continue
			}
			var e struct {
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Addr != "" {
				addr = e.Addr
				return true, nil
			}
		}
		return false, nil
	})
	return addr, err
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop asks the process to finish (SIGTERM, and SIGCONT in case it is
// stopped) and kills it if it has not within grace.
func (p *proc) stop(grace time.Duration) error {
	if !p.running() {
		return nil
	}
	_ = p.signal(syscall.SIGTERM)
	_ = p.signal(syscall.SIGCONT)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not stop within %s; killed", p.name, grace)
	}
}

// memory returns the process's resident set size and its peak, in bytes,
// from /proc/<pid>/status.
func (p *proc) memory() (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", p.pid())
	}
	return rss, peak, nil
}

// redisServer is a private redis-server on a free loopback port, for the
// measurements and faults that must not touch the shared Redis.
type redisServer struct {
	name string
	port int
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts redis-server with its data in a directory of its own;
// extra are more configuration arguments (e.g. "--appendonly", "yes").
func (w *workspace) startRedis(ctx context.Context, name string, extra ...string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(w.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	r := &redisServer{name: name, port: port}
	r.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"), "--daemonize", "no"}, extra...)
	if err := r.launch(ctx, w.env.redisServer); err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.redis = append(w.redis, r)
	w.mu.Unlock()
	return r, nil
}

func (r *redisServer) launch(ctx context.Context, bin string) error {
	r.cmd = exec.Command(bin, r.args...)
	r.done = make(chan struct{})
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start %s (set WACARD_BENCH_REDIS_SERVER): %w", bin, err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	rdb := redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1})
	defer rdb.Close()
	return poll(ctx, 10*time.Second, r.name+" to answer PING", func() (bool, error) {
		select {
		case <-r.done:
			return false, fmt.Errorf("%s exited at start", r.name)
		default:
		}
		return rdb.Ping(ctx).Err() == nil, nil
	})
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }
func (r *redisServer) url() string  { return "redis://" + r.addr() + "/0" }

// stop shuts the server down with SIGTERM (with AOF on, it fsyncs first) and
// waits for it to exit.
func (r *redisServer) stop() error {
	select {
	case <-r.done:
		return nil
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
		return nil
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
		return errors.New(r.name + " did not stop on SIGTERM; killed")
	}
}

// restart starts the server again with the same port, directory and options.
func (r *redisServer) restart(ctx context.Context, bin string) error {
	return r.launch(ctx, bin)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// poll calls cond every 20 ms until it reports true, fails, or within passes.
func poll(ctx context.Context, within time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(within)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", within, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
