package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/redistest"
)

// The tests in this file run the real binary as separate processes (one API,
// several workers) against real Redis, as operators deploy it.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// wacardBinary builds cmd/wacard once per test run.
func wacardBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wacard-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "wacard")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is one running wacard process with its log kept for failures.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	addr chan string
}

func startProc(t *testing.T, name string, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, addr: make(chan string, 1)}
	p.cmd = exec.Command(wacardBinary(t), args...)
	p.cmd.Env = append(os.Environ(), "WACARD_LOG_FORMAT=json", "WACARD_LOG_LEVEL=info")
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.read(stderr)
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("--- log of %s ---\n%s", p.name, p.log.String())
			p.mu.Unlock()
		}
	})
	return p
}

func (p *proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.log.WriteString(line + "\n")
		p.mu.Unlock()
		var e struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "API listening" {
			p.addr <- e.Addr
		}
	}
}

func (p *proc) kill9() { _ = p.cmd.Process.Signal(syscall.SIGKILL) }

// cluster is an API process plus workers sharing one Redis prefix.
type cluster struct {
	t      *testing.T
	rdb    *redis.Client
	prefix string
	env    map[string]string
	api    string
	work   map[string]*proc
}

func startCluster(t *testing.T, workers int, env map[string]string) *cluster {
	t.Helper()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	base := map[string]string{
		"WACARD_REDIS_URL":               redistest.URL(),
		"WACARD_REDIS_PREFIX":            prefix,
		"WACARD_DATA_DIR":                t.TempDir(),
		"WACARD_METRICS_ADDR":            "off",
		"WACARD_LEASE_TTL":               "3s",
		"WACARD_SANDBOX_DELIVERED_AFTER": "off",
		"WACARD_SANDBOX_READ_AFTER":      "off",
	}
	for k, v := range env {
		base[k] = v
	}
	c := &cluster{t: t, rdb: rdb, prefix: prefix, env: base, work: map[string]*proc{}}
	apiEnv := copyEnv(base)
	apiEnv["WACARD_ADDR"] = "127.0.0.1:0"
	api := startProc(t, "api", apiEnv, "api")
	select {
	case a := <-api.addr:
		c.api = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatal("API did not start")
	}
	for i := 1; i <= workers; i++ {
		c.addWorker(fmt.Sprintf("w%d", i))
	}
	return c
}

func (c *cluster) addWorker(id string) {
	env := copyEnv(c.env)
	env["WACARD_WORKER_ID"] = id
	c.work[id] = startProc(c.t, id, env, "worker")
}

func copyEnv(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// owners reads every device's lease holder straight from Redis.
func (c *cluster) owners(devices []string) map[string]string {
	out := map[string]string{}
	for _, d := range devices {
		v, _ := c.rdb.Get(context.Background(), c.prefix+"lease:"+d).Result()
		out[d], _, _ = strings.Cut(v, "|")
	}
	return out
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond) // deadline poll interval
	}
}

func (c *cluster) send(device, phone string) string {
	c.t.Helper()
	body := `{"phone":"` + phone + `","contact_name":"Rep","contact_phone":"6281234567890"}`
	req, _ := http.NewRequest(http.MethodPost, c.api+"/send/contact", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Device-Id", device)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Code    string `json:"code"`
		Results struct {
			MessageID string `json:"message_id"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Code != "SUCCESS" {
		c.t.Fatalf("send: %v %+v", err, e)
	}
	return e.Results.MessageID
}

// states reads the state of every message in one pipeline.
func (c *cluster) states(ids []string) map[string]string {
	ctx := context.Background()
	cmds := make([]*redis.StringCmd, len(ids))
	_, _ = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, c.prefix+"msg:"+id, "state")
		}
		return nil
	})
	out := make(map[string]string, len(ids))
	for i, id := range ids {
		out[id] = cmds[i].Val()
	}
	return out
}

type sendEntry struct {
	worker string
	at     time.Time
	id     string
}

// sendLog returns every sandbox send of a device, in order.
func (c *cluster) sendLog(device string) []sendEntry {
	raw, err := c.rdb.LRange(context.Background(), c.prefix+"sandbox:log:"+device, 0, -1).Result()
	if err != nil {
		c.t.Fatal(err)
	}
	out := make([]sendEntry, 0, len(raw))
	for _, r := range raw {
		parts := strings.SplitN(r, "|", 3)
		ns, _ := strconv.ParseInt(parts[1], 10, 64)
		out = append(out, sendEntry{worker: parts[0], at: time.Unix(0, ns), id: parts[2]})
	}
	return out
}

// assertNeverTwoHolders checks that a device's sends come in one unbroken run
// per worker: once another worker has sent for it, an earlier holder never
// sends for it again, so two workers never sent for it at the same time.
func assertNeverTwoHolders(t *testing.T, device string, log []sendEntry) {
	t.Helper()
	done := map[string]bool{}
	cur := ""
	for _, e := range log {
		if e.worker == cur {
			continue
		}
		if done[e.worker] {
			t.Fatalf("device %s: worker %s sent again after another worker had taken over (sessions overlapped)", device, e.worker)
		}
		if cur != "" {
			done[cur] = true
		}
		cur = e.worker
	}
}

func TestClusterKill9Failover(t *testing.T) {
	t.Parallel()
	devices := []string{"d1", "d2", "d3", "d4", "d5", "d6"}
	c := startCluster(t, 3, map[string]string{
		"WACARD_SANDBOX_DEVICES": strings.Join(devices, ","),
		"WACARD_PACE_PER_MINUTE": "600", // 10 per second per device: the batch is still running at the kill
	})
	waitUntil(t, 30*time.Second, "devices spread over 3 workers", func() bool {
		per := map[string]int{}
		for _, w := range c.owners(devices) {
			per[w]++
		}
		return per["w1"] == 2 && per["w2"] == 2 && per["w3"] == 2
	})

	const perDevice = 30
	var ids []string
	for i := range perDevice {
		for _, d := range devices {
			ids = append(ids, c.send(d, fmt.Sprintf("6281234%05d1", i)))
		}
	}
	victim := c.owners([]string{"d1"})["d1"]
	waitUntil(t, 30*time.Second, "some messages sent before the kill", func() bool {
		return len(c.sendLog("d1")) >= 5
	})
	var victimDevices []string
	for d, w := range c.owners(devices) {
		if w == victim {
			victimDevices = append(victimDevices, d)
		}
	}
	killed := time.Now()
	c.work[victim].kill9()

	allSent := func() bool {
		for _, s := range c.states(ids) {
			if s != "sent" {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(60 * time.Second)
	for !allSent() {
		if time.Now().After(deadline) {
			counts := map[string]int{}
			for _, s := range c.states(ids) {
				counts[s]++
			}
			logs := map[string]int{}
			for _, d := range devices {
				logs[d] = len(c.sendLog(d))
			}
			t.Fatalf("not every message sent 60s after killing %s (%v): states %v, owners %v, sends per device %v",
				victim, victimDevices, counts, c.owners(devices), logs)
		}
		time.Sleep(50 * time.Millisecond) // deadline poll interval
	}

	// Failover: from the kill to the first send by the new holder.
	var worst time.Duration
	sort.Strings(victimDevices)
	for _, d := range victimDevices {
		for _, e := range c.sendLog(d) {
			if e.worker != victim && e.at.After(killed) {
				worst = max(worst, e.at.Sub(killed))
				break
			}
		}
	}
	sent, dups := 0, 0
	for _, d := range devices {
		log := c.sendLog(d)
		assertNeverTwoHolders(t, d, log)
		seen := map[string]int{}
		for _, e := range log {
			seen[e.id]++
		}
		sent += len(seen)
		for _, n := range seen {
			if n > 1 {
				dups++
			}
		}
	}
	if sent != len(ids) {
		t.Fatalf("accepted %d, sent %d distinct messages", len(ids), sent)
	}
	t.Logf("kill -9 of %s holding %v: accepted %d, sent %d, resent with the same ID %d, lost 0, failover %s (lease TTL 3s)",
		victim, victimDevices, len(ids), sent, dups, worst.Round(time.Millisecond))
	if worst > 15*time.Second {
		t.Fatalf("failover took %s", worst)
	}
}

func TestClusterRebalancesWhenWorkersJoin(t *testing.T) {
	t.Parallel()
	devices := []string{"a", "b", "c", "d"}
	c := startCluster(t, 1, map[string]string{"WACARD_SANDBOX_DEVICES": strings.Join(devices, ",")})
	waitUntil(t, 30*time.Second, "one worker holding all devices", func() bool {
		for _, w := range c.owners(devices) {
			if w != "w1" {
				return false
			}
		}
		return true
	})
	c.addWorker("w2")
	waitUntil(t, 30*time.Second, "devices split 2/2", func() bool {
		per := map[string]int{}
		for _, w := range c.owners(devices) {
			per[w]++
		}
		return per["w1"] == 2 && per["w2"] == 2
	})
	// A device added later is picked up without a restart.
	req, _ := http.NewRequest(http.MethodPost, c.api+"/devices", strings.NewReader(`{"id":"e","kind":"sandbox"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := c.send("e", "6289685024992")
	waitUntil(t, 30*time.Second, "the new device's message sent", func() bool { return c.states([]string{id})[id] == "sent" })

	// Removing it through the API makes its holder stop it and release the lease.
	req, _ = http.NewRequest(http.MethodDelete, c.api+"/devices/e", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("DELETE /devices/e: %d", resp.StatusCode)
	}
	waitUntil(t, 30*time.Second, "the removed device's lease released", func() bool { return c.owners([]string{"e"})["e"] == "" })
}
