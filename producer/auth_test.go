package producer

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wacard/wacard/internal/config"
	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/metrics"
	"github.com/wacard/wacard/internal/redistest"
	"github.com/wacard/wacard/internal/status"
)

const (
	fullKey  = "full-access-key-0123456789"
	salesKey = "sales-only-key-0123456789"
)

// newServerHarness is newHarness with the Deps edit applies before the
// server is built; it also returns the Server.
func newServerHarness(t *testing.T, edit func(*Deps), devices ...device.Device) (*harness, *Server) {
	t.Helper()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := device.NewRegistry(rdb, prefix)
	ctx := context.Background()
	for _, d := range devices {
		if err := reg.Add(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	w := device.NewWatcher(reg, log, time.Minute)
	if err := w.Load(ctx); err != nil {
		t.Fatal(err)
	}
	st := status.NewStore(rdb, prefix, time.Hour)
	acc := NewAccepter(rdb, st, AccepterConfig{Prefix: prefix, IdempotencyWindow: time.Minute}, log)
	t.Cleanup(acc.Close)
	d := Deps{Log: log, Redis: rdb, Accepter: acc, Status: st, Devices: w, Registry: reg, Metrics: metrics.New("test"), MaxBody: 4096, Prefix: prefix}
	if edit != nil {
		edit(&d)
	}
	s := NewServer(d)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &harness{t: t, srv: hs, reg: reg, status: st, prefix: prefix}, s
}

func keyedHarness(t *testing.T) *harness {
	h, _ := newServerHarness(t, func(d *Deps) {
		d.APIKeys = []config.APIKey{{Key: fullKey}, {Key: salesKey, Devices: []string{"sales"}}}
	}, device.Device{ID: "sales", Kind: device.KindSandbox}, device.Device{ID: "support", Kind: device.KindSandbox})
	return h
}

func bearer(k string) []string { return []string{"Authorization", "Bearer " + k} }

func TestAuthRequiresKey(t *testing.T) {
	t.Parallel()
	h := keyedHarness(t)
	tests := []struct {
		name    string
		headers []string
		status  int
		msg     string // start of the message
	}{
		{"no key", nil, 401, "Authorization: an API key is required"},
		{"wrong bearer", bearer("not-the-key-0123456789"), 401, "Authorization: is not a valid API key"},
		{"prefix of a key", bearer(fullKey[:20]), 401, "Authorization: is not a valid API key"},
		{"other scheme", []string{"Authorization", "Token " + fullKey}, 401, "Authorization: must be \"Bearer <API key>\""},
		{"wrong X-Api-Key", []string{"X-Api-Key", "nope"}, 401, "X-Api-Key: is not a valid API key"},
		{"bearer", bearer(fullKey), 200, ""},
		{"bearer, any case", []string{"Authorization", "bearer  " + fullKey}, 200, ""},
		{"X-Api-Key", []string{"X-Api-Key", fullKey}, 200, ""},
		{"basic, key as password", []string{"Authorization", "Basic " + basic("anyone", fullKey)}, 200, ""},
	}
	for _, tt := range tests {
		r := h.do(http.MethodGet, "/devices", "", "", tt.headers...)
		if r.Status != tt.status {
			t.Errorf("%s: status %d %s %q, want %d", tt.name, r.Status, r.Code, r.Message, tt.status)
			continue
		}
		if tt.status == 401 && (r.Code != "UNAUTHORIZED" || !strings.HasPrefix(r.Message, tt.msg)) {
			t.Errorf("%s: %s %q, want UNAUTHORIZED %q…", tt.name, r.Code, r.Message, tt.msg)
		}
	}
	// Every protected route, known or not, answers 401 before anything else.
	for _, path := range []string{"/send/contact", "/devices/sales/login/start", "/nowhere"} {
		if r := h.do(http.MethodPost, path, "application/json", "{}"); r.Status != 401 {
			t.Errorf("POST %s without a key: %d %s", path, r.Status, r.Code)
		}
	}
	resp, err := http.Get(h.srv.URL + "/devices")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("WWW-Authenticate = %q", got)
	}
}

func basic(user, pw string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pw)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// TestAuthPublicRoutes: health, metrics, the API description and the login
// page need no key.
func TestAuthPublicRoutes(t *testing.T) {
	t.Parallel()
	h := keyedHarness(t)
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/devices/sales/login", "/devices/anything/login"} {
		resp, err := http.Get(h.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s without a key: %d", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/devices/sales/login/state", "/devices/sales/login/qr.png", "/devices/sales"} {
		if r := h.do(http.MethodGet, path, "", ""); r.Status != 401 {
			t.Errorf("GET %s without a key: %d, want 401", path, r.Status)
		}
	}
}

// TestAuthScope: a key limited to "sales" sends from, sees and manages only it.
func TestAuthScope(t *testing.T) {
	t.Parallel()
	h := keyedHarness(t)
	sales, full := bearer(salesKey), bearer(fullKey)

	// Sending: the one device of the key is the default; another is 403, known or not.
	r := h.sendContact(good, sales...)
	if r.Status != 200 {
		t.Fatalf("send with the sales key and no X-Device-Id: %d %s %s", r.Status, r.Code, r.Message)
	}
	var sent sendResults
	_ = json.Unmarshal(r.Results, &sent)
	if sent.DeviceID != "sales" {
		t.Errorf("default device = %q, want sales", sent.DeviceID)
	}
	for _, dev := range []string{"support", "nope"} {
		r := h.sendContact(good, append([]string{"X-Device-Id", dev}, sales...)...)
		if r.Status != 403 || r.Code != "FORBIDDEN" || !strings.HasPrefix(r.Message, "X-Device-Id: ") {
			t.Errorf("send from %s with the sales key: %d %s %q", dev, r.Status, r.Code, r.Message)
		}
	}
	batch := `{"items":[` + good + `]}`
	if r := h.do(http.MethodPost, "/send/contact/batch", "application/json", batch, append([]string{"X-Device-Id", "support"}, sales...)...); r.Status != 403 {
		t.Errorf("batch from support with the sales key: %d %s", r.Status, r.Code)
	}

	// Messages and batches of another device.
	r = h.sendContact(good, append([]string{"X-Device-Id", "support"}, full...)...)
	var other sendResults
	_ = json.Unmarshal(r.Results, &other)
	r = h.do(http.MethodPost, "/send/contact/batch", "application/json", batch, append([]string{"X-Device-Id", "support"}, full...)...)
	var ob batchResults
	_ = json.Unmarshal(r.Results, &ob)
	if other.MessageID == "" || ob.BatchID == "" {
		t.Fatalf("could not queue on support with the full key: %+v %+v", other, ob)
	}
	forbidden := []struct{ method, path string }{
		{http.MethodGet, "/messages/" + other.MessageID},
		{http.MethodDelete, "/messages/" + other.MessageID},
		{http.MethodGet, "/batches/" + ob.BatchID},
		{http.MethodDelete, "/batches/" + ob.BatchID},
		{http.MethodGet, "/devices/support"},
		{http.MethodGet, "/devices/nope"},
		{http.MethodPost, "/devices/support/pause"},
		{http.MethodPost, "/devices/support/resume"},
		{http.MethodPost, "/devices/support/login/start"},
		{http.MethodGet, "/devices/support/login/state"},
		{http.MethodGet, "/devices/support/login/qr.png"},
		{http.MethodGet, AdminRoot + "/"},
	}
	for _, f := range forbidden {
		if r := h.do(f.method, f.path, "", "", sales...); r.Status != 403 || r.Code != "FORBIDDEN" {
			t.Errorf("%s %s with the sales key: %d %s %q, want 403 FORBIDDEN", f.method, f.path, r.Status, r.Code, r.Message)
		}
	}
	if r := h.do(http.MethodPost, "/devices", "application/json", `{"id":"other","kind":"sandbox"}`, sales...); r.Status != 403 {
		t.Errorf("register another device with the sales key: %d %s", r.Status, r.Code)
	}

	// Its own device, message and batch; unknown ones are still 404.
	allowed := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/messages/" + sent.MessageID, 200},
		{http.MethodGet, "/devices/sales", 200},
		{http.MethodGet, "/messages/3EB0000000000000000000", 404},
		{http.MethodGet, "/batches/nope", 404},
	}
	for _, a := range allowed {
		if r := h.do(a.method, a.path, "", "", sales...); r.Status != a.status {
			t.Errorf("%s %s with the sales key: %d %s %q, want %d", a.method, a.path, r.Status, r.Code, r.Message, a.status)
		}
	}

	// GET /devices lists only the key's devices.
	for _, c := range []struct {
		key  []string
		want string
	}{{sales, "sales"}, {full, "sales,support"}} {
		r := h.do(http.MethodGet, "/devices", "", "", c.key...)
		var out struct {
			Devices []struct {
				ID string `json:"id"`
			} `json:"devices"`
		}
		_ = json.Unmarshal(r.Results, &out)
		var ids []string
		for _, d := range out.Devices {
			ids = append(ids, d.ID)
		}
		if got := strings.Join(ids, ","); got != c.want {
			t.Errorf("GET /devices = %s, want %s", got, c.want)
		}
	}
	// The full key reaches the queue UI's route (off here: 404).
	if r := h.do(http.MethodGet, AdminRoot+"/", "", "", full...); r.Status != 404 {
		t.Errorf("queue UI with the full key: %d %s", r.Status, r.Code)
	}
}

// TestSeparateOps: with SeparateOps, health and metrics leave the API router
// for OpsHandler.
func TestSeparateOps(t *testing.T) {
	t.Parallel()
	h, s := newServerHarness(t, func(d *Deps) { d.SeparateOps = true })
	ops := httptest.NewServer(s.OpsHandler())
	t.Cleanup(ops.Close)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if r, _ := http.Get(h.srv.URL + path); r.StatusCode != 404 {
			t.Errorf("API GET %s: %d, want 404", path, r.StatusCode)
		}
		r, err := http.Get(ops.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Errorf("ops GET %s: %d", path, r.StatusCode)
		}
	}
	if r, _ := http.Get(ops.URL + "/devices"); r.StatusCode != 404 {
		t.Errorf("ops GET /devices: %d, want 404", r.StatusCode)
	}
}

func TestKeyringMatch(t *testing.T) {
	t.Parallel()
	ring := newKeyring([]config.APIKey{{Key: "a-key-of-16-char"}, {Key: "b-key-of-16-char", Devices: []string{"x"}}})
	if sc, ok := ring.match("a-key-of-16-char"); !ok || sc != nil {
		t.Errorf("first key: %v %v", sc, ok)
	}
	if sc, ok := ring.match("b-key-of-16-char"); !ok || !sc.allows("x") || sc.allows("y") || sc.sole() != "x" {
		t.Errorf("scoped key: %v %v", sc, ok)
	}
	for _, k := range []string{"", "a-key-of-16-cha", "a-key-of-16-char ", "A-KEY-OF-16-CHAR"} {
		if _, ok := ring.match(k); ok {
			t.Errorf("match(%q) = ok", k)
		}
	}
}
