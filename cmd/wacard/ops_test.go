package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/wacard/wacard/internal/config"
	"github.com/wacard/wacard/internal/redistest"
)

// TestAuthAndOpsListener runs `wacard serve` with API keys and
// WACARD_OPS_ADDR: the API wants a key, and health and metrics answer on the
// ops listener only, without one.
func TestAuthAndOpsListener(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	env := map[string]string{
		"WACARD_ADDR":            "127.0.0.1:0",
		"WACARD_OPS_ADDR":        "127.0.0.1:0",
		"WACARD_METRICS_ADDR":    "",
		"WACARD_REDIS_URL":       redistest.URL(),
		"WACARD_REDIS_PREFIX":    redistest.Prefix(t, rdb),
		"WACARD_DATA_DIR":        t.TempDir(),
		"WACARD_SANDBOX_DEVICES": "my-device",
		"WACARD_API_KEYS":        "ops-test-key-0123456789",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	type addrs struct{ api, ops string }
	listening := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), roleAPI|roleWorker,
			&serveHooks{onListen: func(api, ops string) { listening <- addrs{api, ops} }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	var a addrs
	select {
	case a = <-listening:
	case err := <-done:
		t.Fatalf("serve stopped at start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start listening")
	}
	if a.ops == "" || a.ops == a.api {
		t.Fatalf("ops listener %q, API %q", a.ops, a.api)
	}
	status := func(url, key string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if key != "" {
			req.Header.Set("X-Api-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	checks := []struct {
		url, key string
		want     int
	}{
		{"http://" + a.api + "/devices", "", 401},
		{"http://" + a.api + "/devices", "ops-test-key-0123456789", 200},
		{"http://" + a.api + "/healthz", "", 404},
		{"http://" + a.api + "/metrics", "", 404},
		{"http://" + a.api + "/openapi.json", "", 200},
		{"http://" + a.ops + "/healthz", "", 200},
		{"http://" + a.ops + "/readyz", "", 200},
		{"http://" + a.ops + "/metrics", "", 200},
		{"http://" + a.ops + "/devices", "ops-test-key-0123456789", 404},
	}
	for _, c := range checks {
		if got := status(c.url, c.key); got != c.want {
			t.Errorf("GET %s (key %v): %d, want %d", c.url, c.key != "", got, c.want)
		}
	}
}
