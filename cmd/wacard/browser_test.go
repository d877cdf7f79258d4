package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// browserDir holds the browser tests' Node package (playwright-core).
const browserDir = "../../test/browser"

// browserTools finds node, Chromium and playwright-core; a missing one fails
// the test with how to install it (the test never skips).
func browserTools(t *testing.T) (node, chromium string) {
	t.Helper()
	const how = "; run .ci/services, which installs them on Debian/Ubuntu (apt-get install chromium nodejs npm; npm ci --prefix test/browser)"
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("the browser test needs node (Node.js 18 or later) on PATH" + how)
	}
	chromium = os.Getenv("WACARD_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser test needs Chromium at %s (or set WACARD_CHROMIUM)%s", chromium, how)
	}
	if _, err := os.Stat(filepath.Join(browserDir, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatal("the browser test needs playwright-core in test/browser/node_modules" + how)
	}
	return node, chromium
}

// TestBrowserLogin opens a sandbox device's login page in headless Chromium,
// with API keys on: it clicks Start, sees a QR code, sees it rotate and sees
// "Connected". Screenshots go to a temporary directory, or to
// WACARD_TEST_SCREENSHOTS when that is set, to keep them.
func TestBrowserLogin(t *testing.T) {
	node, chromium := browserTools(t)
	const key = "browser-test-key-0123456789"
	s := startServe(t, map[string]string{
		"WACARD_SANDBOX_LOGIN_AFTER": "4s",
		"WACARD_API_KEYS":            key,
	})
	s.awaitOwner("my-device", key, 20*time.Second)

	shots := os.Getenv("WACARD_TEST_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script, _ := filepath.Abs(filepath.Join(browserDir, "login.mjs"))
	cmd := exec.CommandContext(ctx, node, script, s.url+"/devices/my-device/login", shots, key)
	cmd.Dir = browserDir
	cmd.Env = append(os.Environ(), "WACARD_CHROMIUM="+chromium)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("login.mjs (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("the login page did not log the device in: %v (screenshots in %s)", err, shots)
	}
	for _, name := range []string{"login-qr.png", "login-connected.png"} {
		b, err := os.ReadFile(filepath.Join(shots, name))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("screenshot %s is not a PNG: %v", name, err)
		}
	}
	var l struct {
		Status string `json:"status"`
	}
	if code, e := s.getWithKey("/devices/my-device/login/state", key); code != 200 || json.Unmarshal(e.Results, &l) != nil || l.Status != "connected" {
		t.Errorf("login state after the page said Connected: %d %s %s", code, e.Code, e.Results)
	}
}

// awaitOwner waits until a worker holds the device, as a login needs.
func (s *stack) awaitOwner(id, key string, within time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, e := s.getWithKey("/devices/"+id, key)
		var d struct {
			Owner string `json:"owner"`
		}
		_ = json.Unmarshal(e.Results, &d)
		if code == 200 && d.Owner != "" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no worker holds %s after %s: %d %s %s", id, within, code, e.Code, e.Message)
		}
		time.Sleep(50 * time.Millisecond) // polling interval of a deadline poll
	}
}

func (s *stack) getWithKey(path, key string) (int, envelope) {
	req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	return s.do(req)
}
