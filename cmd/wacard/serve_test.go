package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/config"
	"github.com/wacard/wacard/internal/redistest"
)

// stack is a running `wacard serve` (API and worker in one process) on real
// Redis under its own key prefix.
type stack struct {
	t      *testing.T
	url    string
	rdb    *redis.Client
	prefix string
}

func startServe(t *testing.T, env map[string]string) *stack {
	t.Helper()
	s, _ := startServeAt(t, redistest.Prefix(t, redistest.Client(t)), env)
	return s
}

// startServeAt runs serve on a given key prefix (so a test can restart it on
// the same data) and returns a stop function; it also stops at cleanup.
func startServeAt(t *testing.T, prefix string, env map[string]string) (*stack, func()) {
	t.Helper()
	rdb := redistest.Client(t)
	base := map[string]string{
		"WACARD_ADDR":            "127.0.0.1:0",
		"WACARD_METRICS_ADDR":    "",
		"WACARD_REDIS_URL":       redistest.URL(),
		"WACARD_REDIS_PREFIX":    prefix,
		"WACARD_DATA_DIR":        t.TempDir(),
		"WACARD_SANDBOX_DEVICES": "my-device",
		// Tests that want sandbox receipts turn them on; the others assert exact histories.
		"WACARD_SANDBOX_DELIVERED_AFTER": "off",
		"WACARD_SANDBOX_READ_AFTER":      "off",
	}
	for k, v := range env {
		base[k] = v
	}
	cfg, err := config.Load(func(k string) string { return base[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(testLog(t), &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() {
		done <- serve(ctx, cfg, log, roleAPI|roleWorker, &serveHooks{onListen: func(api, _ string) { addr <- api }})
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case a := <-addr:
		return &stack{t: t, url: "http://" + a, rdb: rdb, prefix: prefix}, stop
	case err := <-done:
		t.Fatalf("serve stopped at start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start listening")
	}
	return nil, nil
}

// testLog is where a serve under test logs: the test's own output, shown
// only when it fails.
func testLog(t *testing.T) io.Writer { return t.Output() }

type envelope struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Results json.RawMessage `json:"results"`
}

func (s *stack) post(path, body string, headers ...string) (int, envelope) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+path, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return s.do(req)
}

func (s *stack) get(path string) (int, envelope) {
	req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
	return s.do(req)
}

func (s *stack) do(req *http.Request) (int, envelope) {
	s.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var e envelope
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		s.t.Fatalf("%s %s: not an envelope: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, e
}

// accept posts a contact card and returns its message id.
func (s *stack) accept(body string, headers ...string) string {
	s.t.Helper()
	code, e := s.post("/send/contact", body, headers...)
	if code != 200 || e.Code != "SUCCESS" {
		s.t.Fatalf("send: %d %s %s", code, e.Code, e.Message)
	}
	var r struct {
		MessageID string `json:"message_id"`
	}
	_ = json.Unmarshal(e.Results, &r)
	return r.MessageID
}

type record struct {
	State      string `json:"state"`
	Attempts   int    `json:"attempts"`
	LastError  string `json:"last_error"`
	ErrorClass string `json:"error_class"`
	Sandbox    string `json:"sandbox_message"`
	History    []struct {
		State string `json:"state"`
	} `json:"history"`
}

// await polls the message's status until it is terminal or the deadline passes.
func (s *stack) await(id string, within time.Duration) record {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, e := s.get("/messages/" + id)
		var r record
		_ = json.Unmarshal(e.Results, &r)
		if code == 200 && (r.State == "sent" || r.State == "failed" || r.State == "cancelled") {
			return r
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("message %s still %q after %s", id, r.State, within)
		}
		time.Sleep(20 * time.Millisecond) // polling interval of a deadline poll, not a wait for work
	}
}

// TestSeedExamples runs the reference API's five use cases through the whole
// pipeline: HTTP → Redis → worker → sandbox → status sent.
func TestSeedExamples(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	cases := []struct{ name, phone string }{
		{"Customer Support - 24/7", "6281234567890"},
		{"Michael Chen - Sales Manager", "6289876543210"},
		{"Dr. Emily Roberts - Dentist", "6285551234567"},
		{"Event Coordinator - Annual Conference", "6281234567890"},
		{"Emergency Hotline", "112"},
	}
	for _, c := range cases {
		body := `{"phone":"6289685024992@s.whatsapp.net","contact_name":"` + c.name + `","contact_phone":"` + c.phone + `"}`
		id := s.accept(body, "X-Device-Id", "my-device")
		r := s.await(id, 10*time.Second)
		if r.State != "sent" || r.Attempts != 1 {
			t.Fatalf("%s: %+v", c.name, r)
		}
		if !strings.Contains(r.Sandbox, "FN:"+c.name) {
			t.Fatalf("%s: sandbox message lacks the card: %s", c.name, r.Sandbox)
		}
		var states []string
		for _, h := range r.History {
			states = append(states, h.State)
		}
		if strings.Join(states, ",") != "queued,sending,sent" {
			t.Fatalf("%s: history %v", c.name, states)
		}
	}
}

func TestTransientFailureIsRetriedThenSent(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	id := s.accept(`{"phone":"6281234569999","contact_name":"Flaky","contact_phone":"6281234567890"}`)
	r := s.await(id, 15*time.Second)
	if r.State != "sent" || r.Attempts != 2 {
		t.Fatalf("want sent after 2 attempts, got %+v", r)
	}
	var states []string
	for _, h := range r.History {
		states = append(states, h.State)
	}
	if strings.Join(states, ",") != "queued,sending,retrying,sending,sent" {
		t.Fatalf("history %v", states)
	}
}

func TestPermanentFailureKeepsReason(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	id := s.accept(`{"phone":"6281234560000","contact_name":"Doomed","contact_phone":"6281234567890"}`)
	r := s.await(id, 10*time.Second)
	if r.State != "failed" || r.Attempts != 1 || r.ErrorClass != "sandbox" || !strings.Contains(r.LastError, "always fail") {
		t.Fatalf("want failed once with its reason, got %+v", r)
	}
}

func TestIdempotencyKeyDedupesEndToEnd(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	body := `{"phone":"6289685024992","contact_name":"Once","contact_phone":"6281234567890"}`
	a := s.accept(body, "Idempotency-Key", "lead-7")
	b := s.accept(body, "Idempotency-Key", "lead-7")
	if a != b {
		t.Fatalf("same key gave two ids: %s %s", a, b)
	}
	if r := s.await(a, 10*time.Second); r.State != "sent" {
		t.Fatalf("%+v", r)
	}
}

func TestTextThenCardInOrder(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	code, e := s.post("/send/message", `{"phone":"6289685024992","message":"Meet our team:"}`)
	if code != 200 {
		t.Fatalf("text: %d %s", code, e.Message)
	}
	var r struct {
		MessageID string `json:"message_id"`
	}
	_ = json.Unmarshal(e.Results, &r)
	if rec := s.await(r.MessageID, 10*time.Second); rec.State != "sent" || !strings.Contains(rec.Sandbox, "Meet our team:") {
		t.Fatalf("%+v", rec)
	}
}

func TestRunExplainsMissingRedis(t *testing.T) {
	t.Parallel()
	env := map[string]string{"WACARD_REDIS_URL": "redis://127.0.0.1:1/0", "WACARD_ADDR": "127.0.0.1:0"}
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "cannot reach Redis") || !strings.Contains(err.Error(), "apt-get install redis-server") {
		t.Fatalf("want a plain explanation, got %v", err)
	}
}

func TestRunRejectsBadConfigByName(t *testing.T) {
	t.Parallel()
	env := map[string]string{"WACARD_WORKER_CONCURRENCY": "zero", "WACARD_LOG_FORMAT": "xml"}
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, nil, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "WACARD_WORKER_CONCURRENCY") || !strings.Contains(err.Error(), "WACARD_LOG_FORMAT") {
		t.Fatalf("got %v", err)
	}
	if err := run(context.Background(), nil, func(string) string { return "" }, nil, &out, &out); exitCode(err) != 2 {
		t.Fatalf("no command: %v", err)
	}
}

func TestSandboxReceiptsMoveForwardOnly(t *testing.T) {
	t.Parallel()
	s := startServe(t, map[string]string{"WACARD_SANDBOX_DELIVERED_AFTER": "100ms", "WACARD_SANDBOX_READ_AFTER": "300ms"})
	id := s.accept(`{"phone":"6289685024992","contact_name":"Receipts","contact_phone":"6281234567890"}`)
	deadline := time.Now().Add(10 * time.Second)
	var r record
	for {
		_, e := s.get("/messages/" + id)
		_ = json.Unmarshal(e.Results, &r)
		if r.State == "read" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never read: %+v", r)
		}
		time.Sleep(20 * time.Millisecond) // deadline poll interval
	}
	var states []string
	for _, h := range r.History {
		states = append(states, h.State)
	}
	if strings.Join(states, ",") != "queued,sending,sent,delivered,read" {
		t.Fatalf("history %v", states)
	}
}
