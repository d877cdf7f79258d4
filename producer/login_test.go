package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/redistest"
)

func TestLoginStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Device{ID: "shop", Kind: device.KindWhatsApp})
	ctx := context.Background()

	if r := h.do(http.MethodPost, "/devices/shop/login/start", "", ""); r.Status != 409 || r.Code != "NO_WORKER" {
		t.Errorf("start with no worker holding the device: %d %s %q", r.Status, r.Code, r.Message)
	}
	if r := h.do(http.MethodPost, "/devices/nope/login/start", "", ""); r.Status != 404 || r.Code != "DEVICE_NOT_FOUND" {
		t.Errorf("start for an unknown device: %d %s", r.Status, r.Code)
	}
	if r := h.do(http.MethodGet, "/devices/shop/login/state", "", ""); r.Status != 404 || r.Code != "NOT_FOUND" {
		t.Errorf("state before any login: %d %s", r.Status, r.Code)
	}

	rdb := redistest.Client(t)
	if err := rdb.Set(ctx, device.LeaseKey(h.prefix, "shop"), "worker-1|7", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	sub := rdb.Subscribe(ctx, h.reg.LoginChannel())
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatal(err)
	}

	for _, bad := range []string{`{"phone":"12"}`, `{"phone":"089685024992"}`, `{"phone":628123}`, `{"phone":"62 812"}`} {
		r := h.do(http.MethodPost, "/devices/shop/login/start", "application/json", bad)
		if r.Status != 400 || r.Code != "VALIDATION_ERROR" || !strings.HasPrefix(r.Message, "phone: ") {
			t.Errorf("start with %s: %d %s %q", bad, r.Status, r.Code, r.Message)
		}
	}
	if r := h.do(http.MethodPost, "/devices/shop/login/start", "text/plain", "x"); r.Status != 415 {
		t.Errorf("start with a text body: %d %s", r.Status, r.Code)
	}

	cases := []struct{ body, phone string }{
		{"", ""},
		{`{}`, ""},
		{`{"phone":""}`, ""},
		{`{"phone":"+6281234567890"}`, "6281234567890"},
		{`{"phone":" +62 (812) 3456-7890 "}`, "6281234567890"},
	}
	for _, c := range cases {
		ct := "application/json"
		if c.body == "" {
			ct = ""
		}
		r := h.do(http.MethodPost, "/devices/shop/login/start", ct, c.body)
		if r.Status != 200 {
			t.Fatalf("start %q: %d %s %q", c.body, r.Status, r.Code, r.Message)
		}
		var l device.Login
		_ = json.Unmarshal(r.Results, &l)
		if l.Status != device.LoginStarting || l.UpdatedAt.IsZero() {
			t.Errorf("start %q answered %+v", c.body, l)
		}
		msg, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var req device.LoginRequest
		_ = json.Unmarshal([]byte(msg.Payload), &req)
		if req.DeviceID != "shop" || req.Phone != c.phone {
			t.Errorf("start %q published %+v, want phone %q", c.body, req, c.phone)
		}
	}
	r := h.do(http.MethodGet, "/devices/shop/login/state", "", "")
	if r.Status != 200 || !strings.Contains(string(r.Results), `"status":"starting"`) {
		t.Errorf("state after start: %d %s", r.Status, r.Results)
	}
}

func TestLoginQR(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Device{ID: "shop", Kind: device.KindWhatsApp})
	ctx := context.Background()
	get := func() (*http.Response, []byte) {
		resp, err := http.Get(h.srv.URL + "/devices/shop/login/qr.png?v=1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	if resp, _ := get(); resp.StatusCode != 404 {
		t.Errorf("qr.png without a login: %d", resp.StatusCode)
	}
	if err := h.reg.SetLogin(ctx, "shop", device.Login{Status: device.LoginStarting}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(); resp.StatusCode != 404 {
		t.Errorf("qr.png while starting: %d", resp.StatusCode)
	}
	code := "2@" + strings.Repeat("Zm9vYmFy", 20) + ",abc=,def=,ghi="
	if err := h.reg.SetLogin(ctx, "shop", device.Login{Status: device.LoginQR, QR: code, Worker: "w1"}); err != nil {
		t.Fatal(err)
	}
	resp, b := get()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("qr.png: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("qr.png is not a PNG: %v", err)
	}
	if w := img.Bounds().Dx(); w < 200 || w != img.Bounds().Dy() {
		t.Errorf("qr.png is %v", img.Bounds())
	}
	r := h.do(http.MethodGet, "/devices/shop/login/state", "", "")
	var l device.Login
	_ = json.Unmarshal(r.Results, &l)
	if l.Status != device.LoginQR || l.QR != code || l.Worker != "w1" {
		t.Errorf("state: %+v", l)
	}
}

func TestLoginPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Device{ID: "shop", Kind: device.KindWhatsApp})
	resp, err := http.Get(h.srv.URL + "/devices/shop/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("login page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{`id="start"`, `id="pair"`, `id="qr"`, "/start", "/state", "/qr.png?v=", `<code id="device">shop</code>`} {
		if !strings.Contains(page, want) {
			t.Errorf("login page lacks %q", want)
		}
	}
	if strings.Contains(page, `id="key"`) {
		t.Error("login page asks for an API key though none is configured")
	}
	if !strings.Contains(csp, "script-src 'nonce-") || !strings.Contains(page, `<script nonce="`) || strings.Contains(page, "https://") {
		t.Errorf("login page is not self-contained under its CSP %q", csp)
	}
	if r := h.do(http.MethodGet, "/devices/nope/login", "", ""); r.Status != 404 || r.Code != "DEVICE_NOT_FOUND" {
		t.Errorf("login page of an unknown device: %d %s", r.Status, r.Code)
	}

	// With keys, the page opens without one and asks for it.
	kh := keyedHarness(t)
	resp, err = http.Get(kh.srv.URL + "/devices/sales/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `id="key"`) {
		t.Errorf("login page with keys: %d, key field %v", resp.StatusCode, strings.Contains(string(b), `id="key"`))
	}
}
