package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/status"
)

// TestIsolationFromPacedBacklog: 10,000 paced messages queued for one device
// never delay a lone message from another device.
func TestIsolationFromPacedBacklog(t *testing.T) {
	t.Parallel()
	s := startServe(t, map[string]string{"WACARD_SANDBOX_DEVICES": "bulk,urgent"})
	one := 1
	if _, err := device.NewRegistry(s.rdb, s.prefix).Update(context.Background(), "bulk", func(d *device.Device) error {
		d.PacePerMinute = &one
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	const backlog = 10000
	var wg sync.WaitGroup
	work := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				s.accept(fmt.Sprintf(`{"phone":"62812%08d","contact_name":"Lead %d","contact_phone":"6281234567890"}`, 30000000+i, i), "X-Device-Id", "bulk")
			}
		}()
	}
	for i := range backlog {
		work <- i
	}
	close(work)
	wg.Wait()

	start := time.Now()
	id := s.accept(`{"phone":"6289685024992","contact_name":"Urgent","contact_phone":"6281234567890"}`, "X-Device-Id", "urgent")
	r := s.await(id, 10*time.Second)
	if r.State != "sent" {
		t.Fatalf("urgent message: %+v", r)
	}
	t.Logf("lone message on an idle device sent %s after acceptance, with %d paced messages queued on another device", time.Since(start).Round(time.Millisecond), backlog)

	_, e := s.get("/devices/bulk")
	var d struct {
		Queue struct {
			Pending   int `json:"pending"`
			Active    int `json:"active"`
			Scheduled int `json:"scheduled"`
			Retry     int `json:"retry"`
		} `json:"queue"`
		Pacing struct {
			PerMinute int `json:"per_minute"`
		} `json:"pacing"`
	}
	_ = json.Unmarshal(e.Results, &d)
	if d.Pacing.PerMinute != 1 || d.Queue.Pending < backlog-10 {
		n, _ := s.rdb.LLen(context.Background(), s.prefix+"sandbox:log:bulk").Result()
		t.Fatalf("bulk device: %+v, sent %d (want pace 1/min and its backlog still queued)", d, n)
	}
}

// TestOrderingThroughRetry: a text whose first attempt fails is retried, and
// the card accepted after it to the same recipient still arrives after it.
func TestOrderingThroughRetry(t *testing.T) {
	t.Parallel()
	s := startServe(t, map[string]string{"WACARD_WORKER_CONCURRENCY": "8"})
	const to = "6281234569999" // the sandbox fails this recipient's first attempt
	code, e := s.post("/send/message", `{"phone":"`+to+`","message":"Meet your sales rep:"}`)
	if code != 200 {
		t.Fatalf("text: %d %s", code, e.Message)
	}
	var r struct {
		MessageID string `json:"message_id"`
	}
	_ = json.Unmarshal(e.Results, &r)
	card := s.accept(`{"phone":"` + to + `","contact_name":"Rep","contact_phone":"6281234567890"}`)
	other := s.accept(`{"phone":"6289685024992","contact_name":"Other","contact_phone":"6281234567890"}`)

	text := s.await(r.MessageID, 20*time.Second)
	cardRec := s.await(card, 20*time.Second)
	if text.State != "sent" || text.Attempts != 2 || cardRec.State != "sent" {
		t.Fatalf("text %+v, card %+v", text, cardRec)
	}
	st := status.NewStore(s.rdb, s.prefix, time.Hour)
	tr, _ := st.Get(context.Background(), r.MessageID)
	cr, _ := st.Get(context.Background(), card)
	if !cr.SentAt.After(*tr.SentAt) {
		t.Fatalf("card sent at %s, before its text at %s", cr.SentAt, tr.SentAt)
	}
	// Another recipient is not held up by the retry.
	or, _ := st.Get(context.Background(), other)
	if or.State != status.Sent || !or.SentAt.Before(*tr.SentAt) {
		t.Fatalf("a message to another recipient waited for the retry: %+v", or)
	}
}

// TestTimelockPausesThenResumeSends: WhatsApp error 463 pauses the device
// without failing anything; resuming sends what waited.
func TestTimelockPausesThenResumeSends(t *testing.T) {
	t.Parallel()
	s := startServe(t, nil)
	locked := s.accept(`{"phone":"6281234564630","contact_name":"Locked","contact_phone":"6281234567890"}`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, e := s.get("/devices/my-device")
		var d struct {
			Pause *device.Pause `json:"pause"`
		}
		_ = json.Unmarshal(e.Results, &d)
		if d.Pause != nil && d.Pause.Reason == "timelock" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("device not paused for the timelock: %s", e.Results)
		}
		time.Sleep(20 * time.Millisecond) // deadline poll interval
	}
	later := s.accept(`{"phone":"6289685024992","contact_name":"Later","contact_phone":"6281234567890"}`)
	st := status.NewStore(s.rdb, s.prefix, time.Hour)
	if rec, _ := st.Get(context.Background(), locked); rec.State != status.Waiting {
		t.Fatalf("locked message should wait, is %s", rec.State)
	}
	if code, e := s.post("/devices/my-device/resume", ``); code != 200 {
		t.Fatalf("resume: %d %s", code, e.Message)
	}
	for _, id := range []string{locked, later} {
		if r := s.await(id, 15*time.Second); r.State != "sent" {
			t.Fatalf("%s after resume: %+v", id, r)
		}
	}
}

// TestSandboxLoginThroughRedis: a login requested through the registry is run
// by the worker holding the device, which publishes rotating QR codes and then
// the connected state.
func TestSandboxLoginThroughRedis(t *testing.T) {
	t.Parallel()
	s := startServe(t, map[string]string{"WACARD_SANDBOX_LOGIN_AFTER": "2500ms"})
	reg := device.NewRegistry(s.rdb, s.prefix)
	ctx := context.Background()
	waitUntil(t, 10*time.Second, "a worker holding the device", func() bool {
		o, _ := reg.Owner(ctx, "my-device")
		return o != ""
	})
	if err := reg.RequestLogin(ctx, device.LoginRequest{DeviceID: "my-device"}); err != nil {
		t.Fatal(err)
	}
	qrs := map[string]bool{}
	waitUntil(t, 10*time.Second, "connected after rotating QR codes", func() bool {
		l, ok, _ := reg.GetLogin(ctx, "my-device")
		if ok && l.QR != "" {
			qrs[l.QR] = true
		}
		return ok && l.Status == device.LoginConnected
	})
	if len(qrs) < 2 {
		t.Fatalf("saw %d QR codes, want the code to rotate", len(qrs))
	}
}
