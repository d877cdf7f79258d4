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

	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/metrics"
	"github.com/wacard/wacard/internal/redistest"
	"github.com/wacard/wacard/internal/status"
)

// harness is an API on real Redis with its own key prefix.
type harness struct {
	t      *testing.T
	srv    *httptest.Server
	reg    *device.Registry
	status *status.Store
	prefix string
}

func newHarness(t *testing.T, devices ...device.Device) *harness {
	t.Helper()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	s := newTestServer(t, rdb, prefix, devices...)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &harness{t: t, srv: hs, reg: s.Registry, status: s.Status, prefix: prefix}
}

// newTestServer is an API on real Redis under prefix with devices registered.
func newTestServer(tb testing.TB, rdb redis.UniversalClient, prefix string, devices ...device.Device) *Server {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := device.NewRegistry(rdb, prefix)
	ctx := context.Background()
	for _, d := range devices {
		if err := reg.Add(ctx, d); err != nil {
			tb.Fatal(err)
		}
	}
	w := device.NewWatcher(reg, log, time.Minute)
	if err := w.Load(ctx); err != nil {
		tb.Fatal(err)
	}
	st := status.NewStore(rdb, prefix, time.Hour)
	acc := NewAccepter(rdb, st, AccepterConfig{Prefix: prefix, IdempotencyWindow: time.Minute}, log)
	tb.Cleanup(acc.Close)
	return NewServer(Deps{Log: log, Redis: rdb, Accepter: acc, Status: st, Devices: w, Registry: reg, Metrics: metrics.New("test"), MaxBody: 4096, Prefix: prefix})
}

type reply struct {
	Status  int
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Results json.RawMessage `json:"results"`
}

func (h *harness) do(method, path, contentType, body string, headers ...string) reply {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r reply
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil {
		h.t.Fatalf("response is not the JSON envelope: %v: %s", err, b)
	}
	r.Status = resp.StatusCode
	return r
}

func (h *harness) sendContact(body string, headers ...string) reply {
	return h.do(http.MethodPost, "/send/contact", "application/json", body, headers...)
}

const good = `{"phone":"6289685024992@s.whatsapp.net","contact_name":"John Doe","contact_phone":"6281234567890"}`

// TestSendContactRejects covers every 400 cause of the reference API and the
// other malformed inputs: each answers its status and names the field.
func TestSendContactRejects(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Device{ID: "my-device", Kind: device.KindSandbox})
	big := `{"phone":"6289685024992@s.whatsapp.net","contact_name":"` + strings.Repeat("a", 5000) + `","contact_phone":"62812"}`
	tests := []struct {
		name, ct, body string
		status         int
		code, field    string
	}{
		{"invalid phone format", "application/json", `{"phone":"62-896-8502@s.whatsapp.net","contact_name":"A","contact_phone":"6281234567890"}`, 400, "VALIDATION_ERROR", "phone"},
		{"phone unknown server", "application/json", `{"phone":"6289685024992@example.com","contact_name":"A","contact_phone":"6281234567890"}`, 400, "VALIDATION_ERROR", "phone"},
		{"phone missing country code", "application/json", `{"phone":"089685024992@s.whatsapp.net","contact_name":"A","contact_phone":"6281234567890"}`, 400, "VALIDATION_ERROR", "phone"},
		{"phone missing", "application/json", `{"contact_name":"A","contact_phone":"6281234567890"}`, 400, "VALIDATION_ERROR", "phone"},
		{"contact_name missing", "application/json", `{"phone":"6289685024992@s.whatsapp.net","contact_phone":"6281234567890"}`, 400, "VALIDATION_ERROR", "contact_name"},
		{"contact_name blank", "application/json", `{"phone":"6289685024992@s.whatsapp.net","contact_name":"   ","contact_phone":"6281234567890"}`, 400, "VALIDATION_ERROR", "contact_name"},
		{"contact_name too long", "application/json", `{"phone":"6289685024992@s.whatsapp.net","contact_name":"` + strings.Repeat("é", 257) + `","contact_phone":"6281234567890"}`, 400, "VALIDATION_ERROR", "contact_name"},
		{"contact_phone missing", "application/json", `{"phone":"6289685024992@s.whatsapp.net","contact_name":"A"}`, 400, "VALIDATION_ERROR", "contact_phone"},
		{"contact_phone special characters", "application/json", `{"phone":"6289685024992@s.whatsapp.net","contact_name":"A","contact_phone":"+62 898 6502 4992"}`, 400, "VALIDATION_ERROR", "contact_phone"},
		{"contact_phone missing country code", "application/json", `{"phone":"6289685024992@s.whatsapp.net","contact_name":"A","contact_phone":"89685024992"}`, 400, "VALIDATION_ERROR", "contact_phone"},
		{"contact_phone number type", "application/json", `{"phone":"6289685024992@s.whatsapp.net","contact_name":"A","contact_phone":6281234567890}`, 400, "VALIDATION_ERROR", "contact_phone"},
		{"is_forwarded wrong type", "application/json", `{"phone":"6289685024992@s.whatsapp.net","contact_name":"A","contact_phone":"6281234567890","is_forwarded":"yes"}`, 400, "VALIDATION_ERROR", "is_forwarded"},
		{"duration negative", "application/json", `{"phone":"6289685024992@s.whatsapp.net","contact_name":"A","contact_phone":"6281234567890","duration":-1}`, 400, "VALIDATION_ERROR", "duration"},
		{"duration fractional", "application/json", `{"phone":"6289685024992@s.whatsapp.net","contact_name":"A","contact_phone":"6281234567890","duration":1.5}`, 400, "VALIDATION_ERROR", "duration"},
		{"duration string", "application/json", `{"phone":"6289685024992@s.whatsapp.net","contact_name":"A","contact_phone":"6281234567890","duration":"86400"}`, 400, "VALIDATION_ERROR", "duration"},
		{"duration too long", "application/json", `{"phone":"6289685024992@s.whatsapp.net","contact_name":"A","contact_phone":"6281234567890","duration":99999999}`, 400, "VALIDATION_ERROR", "duration"},
		{"malformed JSON", "application/json", `{"phone":`, 400, "VALIDATION_ERROR", "body"},
		{"not an object", "application/json", `["phone"]`, 400, "VALIDATION_ERROR", "body"},
		{"empty body", "application/json", ``, 400, "VALIDATION_ERROR", "body"},
		{"two objects", "application/json", good + good, 400, "VALIDATION_ERROR", "body"},
		{"wrong content type", "text/plain", good, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type"},
		{"form content type", "application/x-www-form-urlencoded", good, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type"},
		{"oversized body", "application/json", big, 413, "PAYLOAD_TOO_LARGE", "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := h.do(http.MethodPost, "/send/contact", tt.ct, tt.body, "X-Device-Id", "my-device")
			if r.Status != tt.status || r.Code != tt.code {
				t.Fatalf("got %d %s (%s), want %d %s", r.Status, r.Code, r.Message, tt.status, tt.code)
			}
			if !strings.HasPrefix(r.Message, tt.field+":") {
				t.Errorf("message %q does not start with the field %q", r.Message, tt.field)
			}
		})
	}
}

func TestSendContactReportsEveryBrokenField(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Device{ID: "d", Kind: device.KindSandbox})
	r := h.sendContact(`{"phone":"nope","contact_name":"","contact_phone":"+1 555","duration":-5}`)
	var res struct {
		Errors []FieldError `json:"errors"`
	}
	if err := json.Unmarshal(r.Results, &res); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res.Errors {
		got = append(got, e.Field)
	}
	if strings.Join(got, ",") != "phone,contact_name,contact_phone,duration" {
		t.Fatalf("fields %v, want phone,contact_name,contact_phone,duration", got)
	}
}

// TestSendContactAccepts runs the seed's good examples.
func TestSendContactAccepts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Device{ID: "my-device", Kind: device.KindSandbox})
	bodies := []string{
		good,
		`{"phone":"6289685024992@s.whatsapp.net","contact_name":"Customer Support - 24/7","contact_phone":"6281234567890"}`,
		`{"phone":"6289685024992@s.whatsapp.net","contact_name":"Michael Chen - Sales Manager","contact_phone":"6289876543210"}`,
		`{"phone":"6289685024992@s.whatsapp.net","contact_name":"Dr. Emily Roberts - Dentist","contact_phone":"6285551234567"}`,
		`{"phone":"6289685024992@s.whatsapp.net","contact_name":"Event Coordinator - Annual Conference","contact_phone":"6281234567890"}`,
		`{"phone":"6289685024992@s.whatsapp.net","contact_name":"Emergency Hotline","contact_phone":"112"}`,
		`{"phone":"6289685024992","contact_name":"Bare digits","contact_phone":"6281234567890"}`,
		`{"phone":"+6289685024992","contact_name":"Leading plus","contact_phone":"6281234567890","is_forwarded":true,"duration":604800}`,
		`{"phone":"120363025246125486@g.us","contact_name":"Group","contact_phone":"6281234567890","duration":7776000}`,
		`{"phone":"6289685024992@s.whatsapp.net","contact_name":"  Trimmed  ","contact_phone":"6281234567890","is_forwarded":false,"duration":0,"unknown":"ignored"}`,
	}
	for _, body := range bodies {
		r := h.sendContact(body, "X-Device-Id", "my-device")
		if r.Status != 200 || r.Code != "SUCCESS" || r.Message != "Success" {
			t.Fatalf("%s: got %d %s %s", body, r.Status, r.Code, r.Message)
		}
		var res sendResults
		if err := json.Unmarshal(r.Results, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.MessageID) != 22 || !strings.HasPrefix(res.MessageID, "3EB0") || res.State != status.Queued || res.Status == "" {
			t.Fatalf("results %+v", res)
		}
		rec, err := h.status.Get(context.Background(), res.MessageID)
		if err != nil || rec.State != status.Queued || rec.DeviceID != "my-device" {
			t.Fatalf("status record %+v, %v", rec, err)
		}
	}
}

func TestDeviceSelection(t *testing.T) {
	t.Parallel()
	one := newHarness(t, device.Device{ID: "only", Kind: device.KindSandbox, JID: "15550001111:2@s.whatsapp.net"})
	if r := one.sendContact(good); r.Status != 200 {
		t.Fatalf("single device without header: %d %s", r.Status, r.Message)
	}
	for _, ref := range []string{"only", "15550001111@s.whatsapp.net", "15550001111", "15550001111%3A2%40s.whatsapp.net"} {
		if r := one.sendContact(good, "X-Device-Id", ref); r.Status != 200 {
			t.Fatalf("X-Device-Id %q: %d %s", ref, r.Status, r.Message)
		}
	}
	if r := one.do(http.MethodPost, "/send/contact?device_id=only", "application/json", good); r.Status != 200 {
		t.Fatalf("?device_id fallback: %d %s", r.Status, r.Message)
	}
	if r := one.sendContact(good, "X-Device-Id", "ghost"); r.Status != 404 || r.Code != "DEVICE_NOT_FOUND" {
		t.Fatalf("unknown device: %d %s", r.Status, r.Code)
	}
	two := newHarness(t, device.Device{ID: "a", Kind: device.KindSandbox}, device.Device{ID: "b", Kind: device.KindSandbox})
	if r := two.sendContact(good); r.Status != 400 || r.Code != "DEVICE_ID_REQUIRED" || !strings.HasPrefix(r.Message, "X-Device-Id:") {
		t.Fatalf("two devices without header: %d %s %s", r.Status, r.Code, r.Message)
	}
	none := newHarness(t)
	if r := none.sendContact(good); r.Status != 400 || r.Code != "DEVICE_ID_REQUIRED" {
		t.Fatalf("no devices: %d %s", r.Status, r.Code)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Device{ID: "d", Kind: device.KindSandbox})
	id := func(r reply) string {
		var res sendResults
		_ = json.Unmarshal(r.Results, &res)
		return res.MessageID
	}
	first := h.sendContact(good, "Idempotency-Key", "order-42")
	again := h.sendContact(good, "Idempotency-Key", "order-42")
	other := h.sendContact(good, "Idempotency-Key", "order-43")
	if first.Status != 200 || again.Status != 200 || id(first) == "" || id(first) != id(again) || id(other) == id(first) {
		t.Fatalf("first %s, again %s, other %s", id(first), id(again), id(other))
	}
	if !strings.Contains(string(again.Results), `"duplicate":true`) {
		t.Fatalf("repeat not marked duplicate: %s", again.Results)
	}
	if r := h.sendContact(good, "Idempotency-Key", strings.Repeat("k", 200)); r.Status != 400 || !strings.HasPrefix(r.Message, "Idempotency-Key:") {
		t.Fatalf("long key: %d %s", r.Status, r.Message)
	}
}

func TestMessageLookup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Device{ID: "d", Kind: device.KindSandbox})
	if r := h.do(http.MethodGet, "/messages/3EB0000000000000000000", "", ""); r.Status != 404 || r.Code != "NOT_FOUND" {
		t.Fatalf("unknown id: %d %s", r.Status, r.Code)
	}
	if r := h.do(http.MethodGet, "/messages/not-an-id", "", ""); r.Status != 404 {
		t.Fatalf("garbage id: %d", r.Status)
	}
	r := h.sendContact(good)
	var res sendResults
	_ = json.Unmarshal(r.Results, &res)
	got := h.do(http.MethodGet, res.StatusURL, "", "")
	if got.Status != 200 || !strings.Contains(string(got.Results), `"state":"queued"`) {
		t.Fatalf("lookup: %d %s", got.Status, got.Results)
	}
}

func TestSendMessageValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Device{ID: "d", Kind: device.KindSandbox})
	if r := h.do(http.MethodPost, "/send/message", "application/json", `{"phone":"6289685024992","message":"Welcome!"}`); r.Status != 200 {
		t.Fatalf("text: %d %s", r.Status, r.Message)
	}
	if r := h.do(http.MethodPost, "/send/message", "application/json", `{"phone":"6289685024992","message":"  "}`); r.Status != 400 || !strings.HasPrefix(r.Message, "message:") {
		t.Fatalf("blank text: %d %s", r.Status, r.Message)
	}
}

func TestDevicesEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Device{ID: "d", Kind: device.KindSandbox})
	if r := h.do(http.MethodPost, "/devices", "application/json", `{"id":"sales","kind":"sandbox"}`); r.Status != 200 {
		t.Fatalf("add: %d %s", r.Status, r.Message)
	}
	if r := h.do(http.MethodPost, "/devices", "application/json", `{"id":"sales"}`); r.Status != 409 {
		t.Fatalf("duplicate add: %d", r.Status)
	}
	if r := h.do(http.MethodPost, "/devices", "application/json", `{"id":"bad id","kind":"fax"}`); r.Status != 400 || !strings.Contains(string(r.Results), `"kind"`) {
		t.Fatalf("bad add: %d %s", r.Status, r.Results)
	}
	if r := h.do(http.MethodGet, "/devices/sales", "", ""); r.Status != 200 || !strings.Contains(string(r.Results), `"connection":"unknown"`) {
		t.Fatalf("get: %d %s", r.Status, r.Results)
	}
	if r := h.do(http.MethodGet, "/devices", "", ""); r.Status != 200 || !strings.Contains(string(r.Results), `"id":"d"`) {
		t.Fatalf("list: %d %s", r.Status, r.Results)
	}
	if r := h.do(http.MethodGet, "/nowhere", "", ""); r.Status != 404 || r.Code != "NOT_FOUND" {
		t.Fatalf("unknown route: %d %s", r.Status, r.Code)
	}
}

// FuzzParseContact feeds arbitrary bodies through decoding and validation:
// never a panic, and every accepted payload is complete.
func FuzzParseContact(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"phone":"6289685024992","contact_name":"A\nB","contact_phone":"112","is_forwarded":true,"duration":86400}`))
	f.Add([]byte(`{"phone":"x@g.us","contacts":[{"contact_name":"A","contact_phone":"6281234567890","contact_email":"a@b.co"}]}`))
	f.Add([]byte(`{"phone":null,"contact_name":1,"contact_phone":[],"duration":1e3}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fs, err := decodeObject(body)
		if err != nil {
			return
		}
		p, errs := parseContact(fs)
		if len(errs) > 0 {
			for _, e := range errs {
				if e.Field == "" || e.Rule == "" {
					t.Fatalf("field error without field or rule: %+v", e)
				}
			}
			return
		}
		if p.To == "" || len(p.Contacts) == 0 {
			t.Fatalf("accepted an incomplete payload: %+v", p)
		}
		for _, c := range p.Contacts {
			if strings.TrimSpace(c.Name) == "" || c.Phone == "" {
				t.Fatalf("accepted an incomplete contact: %+v", c)
			}
		}
	})
}
