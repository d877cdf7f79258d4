package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/wacard/wacard/internal/status"
	"github.com/wacard/wacard/internal/webhook"
)

const hookSecret = "wacardbench-webhook-secret-0123456789"

// faultWebhook takes the webhook receiver down (its port refuses
// connections) while a paced batch is being sent, and brings it back: every
// message.sent event must still be delivered, at least once.
func faultWebhook(ctx context.Context, ws *workspace, plan faultPlan, r *faultResult) error {
	hr, err := newHookReceiver(hookSecret)
	if err != nil {
		return err
	}
	defer hr.down()
	devices := devicesNamed("h", 2)
	workers := []string{"w1", "w2"}
	c, err := startScenario(ctx, ws, "webhook", ws.env.redisURL, plan.env(map[string]string{
		"WACARD_WEBHOOK_URLS":   "http://" + hr.addr + "/hook|message.sent",
		"WACARD_WEBHOOK_SECRET": hookSecret,
	}), workers, devices)
	if err != nil {
		return err
	}
	defer c.close()
	d := c.deployment
	ids, err := acceptBatches(ctx, d, devices, plan.perDev, 5)
	if err != nil {
		return err
	}
	want := make(map[string]string, len(ids)) // event id → message id
	for _, id := range ids {
		want[webhook.EventID(status.OutboxEvent{Event: "message.sent", MessageID: id})] = id
	}
	if err := poll(ctx, 30*time.Second, "the first deliveries", func() (bool, error) { return hr.distinct() >= 10, nil }); err != nil {
		return err
	}
	hr.down()
	downAt, before := time.Now(), hr.distinct()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(plan.outage):
	}
	if err := hr.up(); err != nil {
		return err
	}
	upAt := time.Now()
	sentDuring, _ := d.sendLogs(ctx, devices)
	during := 0
	for _, l := range sentDuring {
		for _, e := range l {
			if e.at.After(downAt) {
				during++
			}
		}
	}
	r.say("%d workers, %d devices, %d messages in one batch per device, paced %s/min per device",
		len(workers), len(devices), len(ids), plan.pace)
	r.say("receiver down for %s after %d deliveries; %d messages were sent while it was down", upAt.Sub(downAt).Round(time.Millisecond), before, during)

	if _, _, _, err := c.finish(ctx, plan, r, ids); err != nil {
		return err
	}
	werr := poll(ctx, plan.finish, "every message.sent event to be delivered", func() (bool, error) {
		return hr.deliveredAll(want), nil
	})
	got, dups, bad, foreign, last := hr.tally(want)
	failedAttempts := 0
	for ev := range want {
		atts, _ := webhook.Attempts(ctx, d.rdb, d.prefix, ev)
		for _, a := range atts {
			if !a.Delivered {
				failedAttempts++
			}
		}
	}
	r.say("message.sent events: expected %d, delivered %d, lost %d, duplicate deliveries %d; %d failed attempts while down; the last one first delivered %s after the receiver came back",
		len(want), got, len(want)-got, dups, failedAttempts, last.Sub(upAt).Round(time.Millisecond))
	r.must(werr == nil && got == len(want), "%d of %d message.sent events never delivered", len(want)-got, len(want))
	r.must(bad == 0, "%d requests with a bad signature", bad)
	r.must(foreign == 0, "%d events for messages that were not accepted", foreign)
	return nil
}

// hookReceiver is a webhook endpoint in this process that can be taken down
// (connections refused) and brought back on the same port.
type hookReceiver struct {
	addr   string
	secret string

	mu     sync.Mutex
	srv    *http.Server
	done   chan struct{}
	counts map[string]int       // event id → 2xx answers given
	first  map[string]time.Time // event id → its first delivery
	bad    int                  // requests whose signature did not verify
}

func newHookReceiver(secret string) (*hookReceiver, error) {
	h := &hookReceiver{secret: secret, counts: map[string]int{}, first: map[string]time.Time{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h.addr = ln.Addr().String()
	h.serve(ln)
	return h, nil
}

func (h *hookReceiver) serve(ln net.Listener) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	h.done = make(chan struct{})
	srv, done := h.srv, h.done
	go func() { _ = srv.Serve(ln); close(done) }()
}

// down closes the listener and every open connection.
func (h *hookReceiver) down() {
	h.mu.Lock()
	srv, done := h.srv, h.done
	h.srv = nil
	h.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
		<-done
	}
}

// up listens on the same address again.
func (h *hookReceiver) up() error {
	var ln net.Listener
	err := poll(context.Background(), 10*time.Second, "the receiver's port", func() (bool, error) {
		var err error
		ln, err = net.Listen("tcp", h.addr)
		return err == nil, nil
	})
	if err != nil {
		return err
	}
	h.serve(ln)
	return nil
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := webhook.Verify(h.secret, r.Header.Get(webhook.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
		h.mu.Lock()
		h.bad++
		h.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.ID == "" || p.ID != r.Header.Get(webhook.HeaderDelivery) {
		h.mu.Lock()
		h.bad++
		h.mu.Unlock()
		http.Error(w, errors.Join(err, fmt.Errorf("event id %q", p.ID)).Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	if h.counts[p.ID] == 0 {
		h.first[p.ID] = time.Now()
	}
	h.counts[p.ID]++
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) distinct() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.counts)
}

func (h *hookReceiver) deliveredAll(want map[string]string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ev := range want {
		if h.counts[ev] == 0 {
			return false
		}
	}
	return true
}

// tally counts the wanted events delivered, the extra deliveries of them,
// the bad requests and the events nobody asked for, and returns when the
// last wanted event was first delivered.
func (h *hookReceiver) tally(want map[string]string) (got, dups, bad, foreign int, last time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ev, n := range h.counts {
		if _, ok := want[ev]; !ok {
			foreign++
			continue
		}
		got++
		dups += n - 1
		if h.first[ev].After(last) {
			last = h.first[ev]
		}
	}
	return got, dups, h.bad, foreign, last
}
