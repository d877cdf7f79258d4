package webhook

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/wacard/wacard/internal/metrics"
	"github.com/wacard/wacard/internal/redistest"
	"github.com/wacard/wacard/internal/status"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor bounds every wait on async work in this file.
const waitFor = 10 * time.Second

const testSecret = "whsec_test_0123456789"

// received is one request a receiver got.
type received struct {
	event, delivery, attempt, signature, contentType string
	body                                             []byte
	at                                               time.Time
}

// receiver is an httptest server that answers with answer(n) (n counts
// requests from 1) and reports every request on got.
type receiver struct {
	*httptest.Server
	got chan received
	n   atomic.Int64
}

func newReceiver(t *testing.T, answer func(n int64) int) *receiver {
	t.Helper()
	r := &receiver{got: make(chan received, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		n := r.n.Add(1)
		r.got <- received{
			event: req.Header.Get(HeaderEvent), delivery: req.Header.Get(HeaderDelivery),
			attempt: req.Header.Get(HeaderAttempt), signature: req.Header.Get(HeaderSignature),
			contentType: req.Header.Get("Content-Type"), body: body, at: time.Now(),
		}
		w.WriteHeader(answer(n))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case g := <-r.got:
		return g
	case <-time.After(waitFor):
		t.Fatalf("receiver got nothing within %s", waitFor)
	}
	return received{}
}

type fixture struct {
	rdb    *redis.Client
	prefix string
	store  *status.Store
	m      *metrics.Metrics
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	return fixture{rdb: rdb, prefix: prefix, store: status.NewStore(rdb, prefix, time.Hour).WithEvents(), m: metrics.New("test")}
}

// start runs a Service until the test ends.
func (f fixture) start(t *testing.T, cfg Config) {
	t.Helper()
	cfg.Prefix = f.prefix
	cfg.Secret = testSecret
	if cfg.ID == "" {
		cfg.ID = "d1"
	}
	if cfg.MaxRetry == 0 {
		cfg.MaxRetry = 5
	}
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 20 * time.Millisecond
	}
	s := New(cfg, Deps{Redis: f.rdb, Status: f.store, Metrics: f.m, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// sent creates a message and moves it to sent, which writes message.sent.
func (f fixture) sent(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	if err := f.store.Create(ctx, status.Record{MessageID: id, DeviceID: "dev1", Recipient: "6281234567890@s.whatsapp.net", Kind: "contact"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.Move(ctx, id, status.Change{To: status.Sent, Attempts: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestDeliverSignedEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := newReceiver(t, func(int64) int { return http.StatusNoContent })
	f.start(t, Config{Endpoints: []Endpoint{{URL: r.URL}}})
	f.sent(t, "3EB0AAAAAAAAAAAAAAAAAA")

	g := r.next(t)
	if err := Verify(testSecret, g.signature, g.body, time.Now(), 0); err != nil {
		t.Fatalf("signature: %v (%s)", err, g.signature)
	}
	var p struct {
		Event     string        `json:"event"`
		ID        string        `json:"id"`
		CreatedAt time.Time     `json:"created_at"`
		Data      status.Record `json:"data"`
	}
	if err := json.Unmarshal(g.body, &p); err != nil {
		t.Fatal(err)
	}
	wantID := EventID(status.OutboxEvent{Event: status.EventSent, MessageID: "3EB0AAAAAAAAAAAAAAAAAA"})
	if p.Event != status.EventSent || p.ID != wantID || p.CreatedAt.IsZero() ||
		p.Data.MessageID != "3EB0AAAAAAAAAAAAAAAAAA" || p.Data.State != status.Sent {
		t.Fatalf("payload %s", g.body)
	}
	if g.event != status.EventSent || g.delivery != wantID || g.attempt != "1" || g.contentType != "application/json" {
		t.Fatalf("headers: %+v", g)
	}
	att := f.awaitAttempts(t, wantID, 1)
	if a := att[0]; !a.Delivered || !a.Final || a.StatusCode != 204 || a.Attempt != 1 || a.Endpoint != r.URL {
		t.Fatalf("attempt %+v", a)
	}
	if n := f.count(status.EventSent, "ok"); n != 1 {
		t.Fatalf("ok deliveries counted %v", n)
	}
	f.awaitOutboxEmpty(t)
}

// TestRetriesThenDelivers: two 500s, then 200: three attempts, all recorded.
func TestRetriesThenDelivers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := newReceiver(t, func(n int64) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	f.start(t, Config{Endpoints: []Endpoint{{URL: r.URL}}})
	f.sent(t, "3EB0BBBBBBBBBBBBBBBBBB")
	for i := range 3 {
		if g := r.next(t); g.attempt != string(rune('1'+i)) {
			t.Fatalf("request %d has Wacard-Attempt %q", i+1, g.attempt)
		}
	}
	id := EventID(status.OutboxEvent{Event: status.EventSent, MessageID: "3EB0BBBBBBBBBBBBBBBBBB"})
	att := f.awaitAttempts(t, id, 3)
	var codes []int
	for _, a := range att {
		codes = append(codes, a.StatusCode)
	}
	if !slices.Equal(codes, []int{500, 500, 200}) || att[0].Final || !att[2].Delivered || !att[2].Final {
		t.Fatalf("attempts %+v", att)
	}
	if n := f.count(status.EventSent, "error"); n != 2 {
		t.Fatalf("errors counted %v", n)
	}
}

// TestGivesUpAfterMaxRetry: a receiver that never answers 2xx gets 1+MaxRetry
// attempts, the last marked final, and the task is archived.
func TestGivesUpAfterMaxRetry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := newReceiver(t, func(int64) int { return http.StatusBadGateway })
	f.start(t, Config{Endpoints: []Endpoint{{URL: r.URL}}, MaxRetry: 2})
	f.sent(t, "3EB0CCCCCCCCCCCCCCCCCC")
	id := EventID(status.OutboxEvent{Event: status.EventSent, MessageID: "3EB0CCCCCCCCCCCCCCCCCC"})
	att := f.awaitAttempts(t, id, 3)
	if !att[2].Final || att[2].Delivered || att[1].Final {
		t.Fatalf("attempts %+v", att)
	}
	insp := asynq.NewInspectorFromRedisClient(f.rdb)
	deadline := time.Now().Add(waitFor)
	for {
		if q, err := insp.GetQueueInfo(QueueName(f.prefix)); err == nil && q.Archived == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the task was not archived")
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a deadline poll
	}
}

// TestFilterAndFanOut: each endpoint gets only its events, with one shared id.
func TestFilterAndFanOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	all := newReceiver(t, func(int64) int { return 200 })
	failedOnly := newReceiver(t, func(int64) int { return 200 })
	f.start(t, Config{Endpoints: []Endpoint{{URL: all.URL}, {URL: failedOnly.URL, Events: []string{status.EventFailed}}}})
	ctx := context.Background()
	f.sent(t, "3EB0DDDDDDDDDDDDDDDDDD")
	_ = f.store.Create(ctx, status.Record{MessageID: "3EB0EEEEEEEEEEEEEEEEEE", DeviceID: "dev1", Recipient: "1@s.whatsapp.net"})
	_, _, _ = f.store.Move(ctx, "3EB0EEEEEEEEEEEEEEEEEE", status.Change{To: status.Failed, LastError: "nope"})

	var events []string
	var failedID string
	for range 2 {
		g := all.next(t)
		events = append(events, g.event)
		if g.event == status.EventFailed {
			failedID = g.delivery
		}
	}
	slices.Sort(events)
	if !slices.Equal(events, []string{status.EventFailed, status.EventSent}) {
		t.Fatalf("unfiltered endpoint got %v", events)
	}
	g := failedOnly.next(t)
	if g.event != status.EventFailed || g.delivery != failedID {
		t.Fatalf("filtered endpoint got %s %s, want message.failed %s", g.event, g.delivery, failedID)
	}
	f.awaitOutboxEmpty(t)
	f.awaitQueueDrained(t)
	select {
	case g := <-failedOnly.got:
		t.Fatalf("filtered endpoint also got %s", g.event)
	default:
	}
}

// TestBatchCompletedPayload: the batch summary, delivered once.
func TestBatchCompletedPayload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := newReceiver(t, func(int64) int { return 200 })
	f.start(t, Config{Endpoints: []Endpoint{{URL: r.URL, Events: []string{status.EventBatchCompleted}}}})
	ctx := context.Background()
	f.rdb.HSet(ctx, f.prefix+"batch:b_1", "total", 2, "device", "dev1", "kind", "contact")
	for _, id := range []string{"3EB0FFFFFFFFFFFFFFFFFF", "3EB0GGGGGGGGGGGGGGGGGG"} {
		_ = f.store.Create(ctx, status.Record{MessageID: id, DeviceID: "dev1", Recipient: "1@s.whatsapp.net", BatchID: "b_1"})
	}
	_, _, _ = f.store.Move(ctx, "3EB0FFFFFFFFFFFFFFFFFF", status.Change{To: status.Sent})
	_, _, _ = f.store.Move(ctx, "3EB0GGGGGGGGGGGGGGGGGG", status.Change{To: status.Failed})
	g := r.next(t)
	var p struct {
		Event string       `json:"event"`
		Data  BatchSummary `json:"data"`
	}
	_ = json.Unmarshal(g.body, &p)
	if p.Event != status.EventBatchCompleted || p.Data.BatchID != "b_1" || p.Data.Total != 2 || p.Data.DeviceID != "dev1" ||
		p.Data.Counts[status.Sent] != 1 || p.Data.Counts[status.Failed] != 1 || len(p.Data.Counts) != 5 {
		t.Fatalf("payload %s", g.body)
	}
	f.awaitOutboxEmpty(t)
	f.awaitQueueDrained(t)
	if n := r.n.Load(); n != 1 {
		t.Fatalf("receiver got %d requests, want 1", n)
	}
}

// TestTakeOverDeadDispatcher: events a dispatcher had in hand when it died
// are dispatched by another once its heartbeat is stale, an event that was
// already enqueued before the crash is not delivered twice, and a dispatcher
// restarting under its old id dispatches its own leftovers.
func TestTakeOverDeadDispatcher(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	r := newReceiver(t, func(int64) int { return 200 })
	ep := Endpoint{URL: r.URL}

	// The dead dispatcher "d0" held two events; the first one's task was
	// already enqueued (it crashed before LREM).
	evs := []status.OutboxEvent{
		{Event: status.EventCancelled, MessageID: "3EB0HHHHHHHHHHHHHHHHHH", DeviceID: "dev1", At: time.Now().UnixMilli()},
		{Event: status.EventCancelled, MessageID: "3EB0IIIIIIIIIIIIIIIIII", DeviceID: "dev1", At: time.Now().UnixMilli()},
	}
	dead := New(Config{ID: "d0", Prefix: f.prefix, Secret: testSecret, Endpoints: []Endpoint{ep}}, Deps{Redis: f.rdb, Status: f.store})
	enq := asynq.NewClientFromRedisClient(f.rdb)
	defer enq.Close()
	d0 := newDispatcher(dead, enq)
	for _, ev := range evs {
		raw, _ := json.Marshal(ev)
		f.rdb.RPush(ctx, d0.processing, raw)
	}
	first, _ := f.rdb.LIndex(ctx, d0.processing, 0).Result()
	if err := d0.dispatch(ctx, first); err != nil {
		t.Fatal(err)
	}
	f.rdb.RPush(ctx, d0.processing, first) // as if the LREM never happened
	f.rdb.HSet(ctx, d0.beats, "d0", time.Now().Add(-time.Minute).UnixMilli())
	own := status.OutboxEvent{Event: status.EventCancelled, MessageID: "3EB0JJJJJJJJJJJJJJJJJJ", DeviceID: "dev1", At: time.Now().UnixMilli()}
	raw, _ := json.Marshal(own)
	f.rdb.RPush(ctx, processingKey(f.prefix, "d1"), raw)
	evs = append(evs, own)

	f.start(t, Config{ID: "d1", Endpoints: []Endpoint{ep}, Heartbeat: 50 * time.Millisecond, StaleAfter: 200 * time.Millisecond})
	ids := map[string]bool{}
	for range 3 {
		ids[r.next(t).delivery] = true
	}
	for _, ev := range evs {
		if !ids[EventID(ev)] {
			t.Fatalf("event %s not delivered: got %v", ev.MessageID, ids)
		}
	}
	f.awaitQueueDrained(t)
	if n := r.n.Load(); n != 3 {
		t.Fatalf("receiver got %d requests, want 3 (no duplicate)", n)
	}
	if n := f.rdb.LLen(ctx, d0.processing).Val(); n != 0 {
		t.Fatalf("dead dispatcher's list still holds %d", n)
	}
	if f.rdb.HExists(ctx, d0.beats, "d0").Val() {
		t.Fatal("dead dispatcher still listed")
	}
}

// TestRemovedEndpointIsNotCalled: a task for a URL no longer configured is dropped.
func TestRemovedEndpointIsNotCalled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := newReceiver(t, func(int64) int { return 200 })
	cur := newReceiver(t, func(int64) int { return 200 })
	enq := asynq.NewClientFromRedisClient(f.rdb)
	defer enq.Close()
	p, _ := json.Marshal(delivery{URL: old.URL, Event: status.EventSent, ID: "evt_x", Body: json.RawMessage(`{}`)})
	if _, err := enq.Enqueue(asynq.NewTask(TaskType, p), asynq.Queue(QueueName(f.prefix))); err != nil {
		t.Fatal(err)
	}
	f.start(t, Config{Endpoints: []Endpoint{{URL: cur.URL}}})
	insp := asynq.NewInspectorFromRedisClient(f.rdb)
	deadline := time.Now().Add(waitFor)
	for {
		if q, err := insp.GetQueueInfo(QueueName(f.prefix)); err == nil && q.Archived == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the task was not archived")
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a deadline poll
	}
	if old.n.Load() != 0 {
		t.Fatal("a removed endpoint was called")
	}
}

// TestRecordJSONHasOnlyKnownFields: the data of message events is the status
// record; a new field must be reviewed here before receivers see it (nothing
// like an API key may ever reach them).
func TestRecordJSONHasOnlyKnownFields(t *testing.T) {
	t.Parallel()
	now := time.Now()
	raw, _ := json.Marshal(status.Record{
		MessageID: "m", DeviceID: "d", Recipient: "r", Kind: "contact", BatchID: "b", State: status.Read,
		Attempts: 1, LastError: "e", ErrorClass: "c", CreatedAt: now, UpdatedAt: now, SentAt: &now,
		DeliveredAt: &now, ReadAt: &now, FinishedAt: &now, Sandbox: "s", History: []status.Event{{State: status.Sent, At: now}},
	})
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	allowed := []string{"message_id", "device_id", "recipient", "kind", "batch_id", "state", "attempts", "last_error",
		"error_class", "created_at", "updated_at", "sent_at", "delivered_at", "read_at", "finished_at", "sandbox_message", "history"}
	for k := range m {
		if !slices.Contains(allowed, k) {
			t.Errorf("status.Record has a new JSON field %q: check it may go to webhook receivers, then allow it here", k)
		}
	}
}

func TestEventIDStable(t *testing.T) {
	t.Parallel()
	a := EventID(status.OutboxEvent{Event: status.EventSent, MessageID: "m1", At: 1})
	b := EventID(status.OutboxEvent{Event: status.EventSent, MessageID: "m1", DeviceID: "x", At: 2})
	c := EventID(status.OutboxEvent{Event: status.EventRead, MessageID: "m1"})
	d := EventID(status.OutboxEvent{Event: status.EventBatchCompleted, BatchID: "m1"})
	if a != b || a == c || a == d || c == d || len(a) != 36 {
		t.Fatalf("ids %s %s %s %s", a, b, c, d)
	}
}

func (f fixture) awaitAttempts(t *testing.T, eventID string, n int) []Attempt {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		att, err := Attempts(context.Background(), f.rdb, f.prefix, eventID)
		if err == nil && len(att) >= n {
			return att
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts recorded for %s, want %d: %+v", len(att), eventID, n, att)
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a deadline poll
	}
}

func (f fixture) awaitOutboxEmpty(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for f.rdb.LLen(context.Background(), f.store.EventsKey()).Val() > 0 ||
		f.rdb.LLen(context.Background(), processingKey(f.prefix, "d1")).Val() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("outbox not drained")
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a deadline poll
	}
}

// awaitQueueDrained waits until no delivery is pending, running or due for a retry.
func (f fixture) awaitQueueDrained(t *testing.T) {
	t.Helper()
	insp := asynq.NewInspectorFromRedisClient(f.rdb)
	deadline := time.Now().Add(waitFor)
	for {
		q, err := insp.GetQueueInfo(QueueName(f.prefix))
		if err == nil && q.Pending+q.Active+q.Scheduled+q.Retry == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks queue not drained: %+v %v", q, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval of a deadline poll
	}
}

// count reads wacard_webhook_deliveries_total{event,outcome}.
func (f fixture) count(event, outcome string) float64 {
	var m dto.Metric
	_ = f.m.WebhookDeliveries.WithLabelValues(event, outcome).Write(&m)
	return m.GetCounter().GetValue()
}
