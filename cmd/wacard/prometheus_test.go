package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPrometheusScrapesServe runs a real Prometheus server (Debian's
// `prometheus` package, the one deploy/check.sh installs for promtool) against
// `wacard serve`: it must scrape the API's /metrics, see the sent message in
// wacard_messages_sent_total, evaluate every rule of
// deploy/prometheus/alerts.yml without error, and answer every query of the
// Grafana dashboard without error. promtool only parses those expressions;
// errors such as many-to-many matches show only when they meet real series.
func TestPrometheusScrapesServe(t *testing.T) {
	t.Parallel()
	bin := prometheusBinary(t)
	s := startServe(t, nil)
	id := s.accept(`{"phone":"6289685024992@s.whatsapp.net","contact_name":"Scraped","contact_phone":"6281234567890"}`,
		"X-Device-Id", "my-device")
	if r := s.await(id, 10*time.Second); r.State != "sent" {
		t.Fatalf("message %s: %+v", id, r)
	}

	p := startPrometheus(t, bin, strings.TrimPrefix(s.url, "http://"))
	deadline := time.Now().Add(15 * time.Second)

	// The sent message, scraped.
	p.poll(t, deadline, "wacard_messages_sent_total{device=\"my-device\"} >= 1", func() (bool, string) {
		res, err := p.query("wacard_messages_sent_total")
		if err != nil {
			return false, err.Error()
		}
		for _, r := range res {
			if r.Metric["device"] == "my-device" && r.value() >= 1 {
				if r.Metric["job"] != "wacard-api" {
					t.Errorf("series %v: want job wacard-api", r.Metric)
				}
				return true, ""
			}
		}
		return false, fmt.Sprintf("result %+v", res)
	})

	// A second scrape, so rate() and increase() in the rules and the
	// dashboard have two samples to work on.
	p.poll(t, deadline, "two scrapes of the API", func() (bool, string) {
		res, err := p.query(`count_over_time(up{job="wacard-api"}[1m]) >= 2`)
		if err != nil {
			return false, err.Error()
		}
		return len(res) == 1, fmt.Sprintf("result %+v", res)
	})
	scraped := time.Now()

	// Every alerting rule evaluated on those series, none with an error.
	p.poll(t, deadline, "every rule of alerts.yml evaluated after the second scrape", func() (bool, string) {
		rules, err := p.rules()
		if err != nil {
			return false, err.Error()
		}
		if len(rules) == 0 {
			return false, "no rules loaded"
		}
		for _, r := range rules {
			if r.Health == "err" {
				t.Fatalf("rule %s: evaluation error: %s", r.Name, r.LastError)
			}
			if r.Health != "ok" || r.LastEvaluation.Before(scraped) {
				return false, fmt.Sprintf("rule %s: health %q, last evaluated %s", r.Name, r.Health, r.LastEvaluation)
			}
		}
		return true, ""
	})

	// Every dashboard query, as Grafana would send it.
	exprs := promDashboardExprs(t, filepath.Join("..", "..", "deploy", "grafana", "dashboards", "wacard.json"))
	grafana := strings.NewReplacer("$__rate_interval", "1m", "$__range", "1h", "$__interval", "1m", "$device", ".*")
	for _, e := range exprs {
		if _, err := p.query(grafana.Replace(e)); err != nil {
			t.Errorf("dashboard query %s: %v", e, err)
		}
	}
}

// prometheusBinary finds the prometheus server binary or fails saying how to
// get it. It does not skip: a scrape test that silently does not run proves
// nothing.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/prometheus"); err == nil {
		return "/usr/bin/prometheus"
	}
	t.Fatal(`the prometheus server binary is not installed; this test runs a real Prometheus.
  Debian/Ubuntu: ./deploy/check.sh installs it (Debian's "prometheus" package, without
                 starting its service), or: sudo apt-get install --no-install-recommends prometheus
  elsewhere:     put a prometheus binary (https://prometheus.io/download/) on PATH`)
	return ""
}

// prom is a running Prometheus server on loopback.
type prom struct {
	base string
	log  *promLog
}

// startPrometheus runs Prometheus scraping the API at target every second,
// with the repository's alerting rules, its data in a temporary directory.
// It is killed when the test ends.
func startPrometheus(t *testing.T, bin, target string) *prom {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join("..", "..", "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: wacard-api
    static_configs:
      - targets: [%q]
`, rules, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := promFreeAddr(t)
	p := &prom{base: "http://" + addr, log: &promLog{}}
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=info",
	)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", p.log)
		}
	})
	p.poll(t, time.Now().Add(10*time.Second), "prometheus ready on "+addr, func() (bool, string) {
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

// promFreeAddr returns a loopback address whose port was free a moment ago.
func promFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// poll calls check until it reports done or the deadline passes.
func (p *prom) poll(t *testing.T, deadline time.Time, what string, check func() (done bool, last string)) {
	t.Helper()
	for {
		done, last := check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, last)
		}
		time.Sleep(100 * time.Millisecond) // polling interval of a deadline poll
	}
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) value() float64 {
	v, _ := s.Value[1].(string)
	f, _ := strconv.ParseFloat(v, 64)
	return f
}

// query runs an instant query and returns its vector result (nil for other
// result types).
func (p *prom) query(q string) ([]promSample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, nil
	}
	var res []promSample
	err := json.Unmarshal(data.Result, &res)
	return res, err
}

type promRule struct {
	Name           string    `json:"name"`
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

// rules returns every loaded rule with its evaluation health.
func (p *prom) rules() ([]promRule, error) {
	var data struct {
		Groups []struct {
			Rules []promRule `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get("/api/v1/rules", &data); err != nil {
		return nil, err
	}
	var all []promRule
	for _, g := range data.Groups {
		all = append(all, g.Rules...)
	}
	return all, nil
}

// get calls Prometheus' HTTP API and decodes the data of a success answer.
func (p *prom) get(path string, data any) error {
	resp, err := http.Get(p.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %s: %.200s", path, resp.Status, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", resp.Status, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// promDashboardExprs returns every panel query of a Grafana dashboard.
func promDashboardExprs(t *testing.T, path string) []string {
	t.Helper()
	type panel struct {
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"` // a collapsed row's panels
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var exprs []string
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			for _, tg := range p.Targets {
				if tg.Expr != "" {
					exprs = append(exprs, tg.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	if len(exprs) == 0 {
		t.Fatalf("%s: no queries", path)
	}
	return exprs
}

// promLog keeps a process's output, safe to read while it writes.
type promLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *promLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *promLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
