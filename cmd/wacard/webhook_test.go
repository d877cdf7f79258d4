package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wacard/wacard/internal/redistest"
	"github.com/wacard/wacard/internal/status"
	"github.com/wacard/wacard/internal/webhook"
)

const hookSecret = "whsec_e2e_0123456789abcdef"

// hookEnv configures webhooks to url (with an optional |filter) and turns the
// sandbox receipts off, so only the events a test asks for arrive.
func hookEnv(url string) map[string]string {
	return map[string]string{
		"WACARD_WEBHOOK_URLS":            url,
		"WACARD_WEBHOOK_SECRET":          hookSecret,
		"WACARD_SANDBOX_DELIVERED_AFTER": "off",
		"WACARD_SANDBOX_READ_AFTER":      "off",
	}
}

// hookRequest is one request a hookReceiver got.
type hookRequest struct {
	header http.Header
	body   []byte
	answer int
}

// hookReceiver is a webhook receiver: answer decides each response from the
// request's number (from 1); every request is reported on got.
type hookReceiver struct {
	*httptest.Server
	got chan hookRequest
	n   atomic.Int64
}

func newHookReceiver(t *testing.T, answer func(n int64, r *http.Request) int) *hookReceiver {
	t.Helper()
	h := &hookReceiver{got: make(chan hookRequest, 100)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		code := answer(h.n.Add(1), r)
		w.WriteHeader(code)
		h.got <- hookRequest{header: r.Header.Clone(), body: body, answer: code}
	}))
	t.Cleanup(h.Close)
	return h
}

// next returns the next request for event, skipping others.
func (h *hookReceiver) next(t *testing.T, event string, within time.Duration) hookRequest {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case r := <-h.got:
			if r.header.Get(webhook.HeaderEvent) == event {
				return r
			}
		case <-deadline:
			t.Fatalf("no %s webhook within %s", event, within)
		}
	}
}

// hookPayload is a webhook body with a message record.
type hookPayload struct {
	Event     string          `json:"event"`
	ID        string          `json:"id"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

func decodeHook(t *testing.T, r hookRequest) (hookPayload, status.Record) {
	t.Helper()
	if err := webhook.Verify(hookSecret, r.header.Get(webhook.HeaderSignature), r.body, time.Now(), time.Minute); err != nil {
		t.Fatalf("signature: %v", err)
	}
	var p hookPayload
	var rec status.Record
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	_ = json.Unmarshal(p.Data, &rec)
	if r.header.Get(webhook.HeaderDelivery) != p.ID || r.header.Get(webhook.HeaderEvent) != p.Event ||
		r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v do not match the body %s", r.header, r.body)
	}
	return p, rec
}

// awaitSent polls the status store (not the API, which may want a key) until
// the message is sent.
func (s *stack) awaitSent(id string, within time.Duration) status.Record {
	s.t.Helper()
	st := status.NewStore(s.rdb, s.prefix, time.Hour)
	deadline := time.Now().Add(within)
	for {
		r, err := st.Get(context.Background(), id)
		if err == nil && r.State == status.Sent {
			return r
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("message %s is %q after %s (%v)", id, r.State, within, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a deadline poll, not a wait for work
	}
}

// awaitHooksIdle waits until the outbox is empty and no delivery is pending,
// running or waiting for a retry.
func (s *stack) awaitHooksIdle(within time.Duration) {
	s.t.Helper()
	ctx := context.Background()
	insp := asynq.NewInspectorFromRedisClient(s.rdb)
	deadline := time.Now().Add(within)
	for {
		q, err := insp.GetQueueInfo(webhook.QueueName(s.prefix))
		if s.rdb.LLen(ctx, s.prefix+"events").Val() == 0 && err == nil && q.Pending+q.Active+q.Scheduled+q.Retry == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("webhooks still busy after %s: %+v %v", within, q, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a deadline poll, not a wait for work
	}
}

func (s *stack) attempts(eventID string) []webhook.Attempt {
	s.t.Helper()
	a, err := webhook.Attempts(context.Background(), s.rdb, s.prefix, eventID)
	if err != nil {
		s.t.Fatal(err)
	}
	return a
}

// TestWebhookSignedMessageSent: a sent message reaches the receiver as a
// signed message.sent carrying its status record, and no API key.
func TestWebhookSignedMessageSent(t *testing.T) {
	t.Parallel()
	const apiKey = "key_e2e_webhook_0123456789"
	recv := newHookReceiver(t, func(int64, *http.Request) int { return http.StatusOK })
	env := hookEnv(recv.URL)
	env["WACARD_API_KEYS"] = apiKey
	s := startServe(t, env)
	id := s.accept(`{"phone":"6289685024992","contact_name":"Hooked","contact_phone":"6281234567890"}`,
		"Authorization", "Bearer "+apiKey)

	r := recv.next(t, status.EventSent, 15*time.Second)
	p, rec := decodeHook(t, r)
	if rec.MessageID != id || rec.State != status.Sent || rec.DeviceID != "my-device" ||
		rec.Recipient != "6289685024992@s.whatsapp.net" || rec.SentAt == nil || !strings.Contains(rec.Sandbox, "Hooked") {
		t.Fatalf("record %s", p.Data)
	}
	if strings.Contains(string(r.body), apiKey) || strings.Contains(fmt.Sprint(r.header), apiKey) {
		t.Fatalf("the webhook carries the API key: %s", r.body)
	}
	if p.ID != webhook.EventID(status.OutboxEvent{Event: status.EventSent, MessageID: id}) || p.CreatedAt.IsZero() {
		t.Fatalf("payload %s", r.body)
	}
	s.awaitHooksIdle(10 * time.Second)
	att := s.attempts(p.ID)
	if len(att) != 1 || !att[0].Delivered || att[0].StatusCode != 200 || att[0].Endpoint != recv.URL {
		t.Fatalf("attempts %+v", att)
	}
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(metrics), `wacard_webhook_deliveries_total{event="message.sent",outcome="ok"} 1`) {
		t.Fatalf("/metrics does not count the delivery:\n%s", grepLines(string(metrics), "webhook"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestWebhookRetriedUntilDelivered: 500, 500, then 200: delivered on the third
// attempt, every attempt recorded.
func TestWebhookRetriedUntilDelivered(t *testing.T) {
	t.Parallel()
	recv := newHookReceiver(t, func(n int64, _ *http.Request) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	s := startServe(t, hookEnv(recv.URL+"|message.sent"))
	id := s.accept(`{"phone":"6289685024992","contact_name":"Retry","contact_phone":"6281234567890"}`)
	var last hookRequest
	for i := range 3 {
		last = recv.next(t, status.EventSent, 20*time.Second)
		if got := last.header.Get(webhook.HeaderAttempt); got != fmt.Sprint(i+1) {
			t.Fatalf("request %d: Wacard-Attempt %s", i+1, got)
		}
	}
	p, rec := decodeHook(t, last)
	if rec.MessageID != id || last.answer != 200 {
		t.Fatalf("third request %s answered %d", last.body, last.answer)
	}
	s.awaitHooksIdle(10 * time.Second)
	att := s.attempts(p.ID)
	if len(att) != 3 || att[0].StatusCode != 500 || att[1].StatusCode != 500 || att[0].Delivered ||
		att[2].StatusCode != 200 || !att[2].Delivered || !att[2].Final || att[2].Attempt != 3 {
		t.Fatalf("attempts %+v", att)
	}
}

// TestWebhookDeliveredAfterRestart: the receiver is down while serve stops
// with the event waiting for a retry; a new serve on the same Redis delivers it.
func TestWebhookDeliveredAfterRestart(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	recv := newHookReceiver(t, func(int64, *http.Request) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	env := hookEnv(recv.URL + "|message.sent")
	env["WACARD_WORKER_ID"] = "before-restart"
	a, stopA := startServeAt(t, prefix, env)
	id := a.accept(`{"phone":"6289685024992","contact_name":"Restart","contact_phone":"6281234567890"}`)
	first := recv.next(t, status.EventSent, 15*time.Second)
	stopA()
	if first.answer != http.StatusServiceUnavailable {
		t.Fatalf("first attempt answered %d", first.answer)
	}

	down.Store(false)
	env["WACARD_WORKER_ID"] = "after-restart"
	b, _ := startServeAt(t, prefix, env)
	var r hookRequest
	for r.answer != http.StatusOK {
		r = recv.next(t, status.EventSent, 20*time.Second)
	}
	p, rec := decodeHook(t, r)
	if rec.MessageID != id {
		t.Fatalf("delivered %s", r.body)
	}
	b.awaitHooksIdle(10 * time.Second)
	att := b.attempts(p.ID)
	if len(att) < 2 || att[0].StatusCode != 503 || !att[len(att)-1].Delivered {
		t.Fatalf("attempts %+v", att)
	}
}

// TestWebhookSlowReceiverDoesNotDelaySending: while a receiver takes 5s to
// answer, the next message is still sent at once (webhooks have their own queue).
func TestWebhookSlowReceiverDoesNotDelaySending(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 10)
	recv := newHookReceiver(t, func(_ int64, r *http.Request) int {
		started <- struct{}{}
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	s := startServe(t, hookEnv(recv.URL))
	s.accept(`{"phone":"6289685024992","contact_name":"Slow one","contact_phone":"6281234567890"}`)
	select {
	case <-started:
	case <-time.After(15 * time.Second):
		t.Fatal("the slow receiver was never called")
	}
	begin := time.Now()
	next := s.accept(`{"phone":"6289685024993","contact_name":"Next one","contact_phone":"6281234567890"}`)
	s.awaitSent(next, 2*time.Second)
	t.Logf("next message sent %s after the slow delivery started", time.Since(begin).Round(time.Millisecond))
}

// TestWebhookBatchCompletedOnce: a finished batch sends one batch.completed
// with its summary.
func TestWebhookBatchCompletedOnce(t *testing.T) {
	t.Parallel()
	recv := newHookReceiver(t, func(int64, *http.Request) int { return http.StatusOK })
	s := startServe(t, hookEnv(recv.URL+"|batch.completed"))
	code, e := s.post("/send/contact/batch", `{"defaults":{"contact_name":"Rep","contact_phone":"6281234567890"},"items":[`+
		`{"phone":"6289685020001"},{"phone":"6289685020002"},{"phone":"6289685020000"}]}`, "X-Device-Id", "my-device")
	if code != 200 {
		t.Fatalf("batch: %d %s %s", code, e.Message, e.Results)
	}
	var res struct {
		BatchID string `json:"batch_id"`
	}
	_ = json.Unmarshal(e.Results, &res)

	r := recv.next(t, status.EventBatchCompleted, 20*time.Second)
	p, _ := decodeHook(t, r)
	var sum webhook.BatchSummary
	if err := json.Unmarshal(p.Data, &sum); err != nil {
		t.Fatal(err)
	}
	// The recipient ending in 0000 fails in the sandbox.
	if sum.BatchID != res.BatchID || sum.Total != 3 || sum.Counts[status.Sent] != 2 || sum.Counts[status.Failed] != 1 ||
		sum.DeviceID != "my-device" {
		t.Fatalf("summary %s", p.Data)
	}
	s.awaitHooksIdle(10 * time.Second)
	if n := recv.n.Load(); n != 1 {
		t.Fatalf("receiver got %d requests, want one batch.completed", n)
	}
	if att := s.attempts(p.ID); len(att) != 1 {
		t.Fatalf("attempts %+v", att)
	}
}
