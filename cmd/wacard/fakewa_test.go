package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mau.fi/whatsmeow/types"

	"github.com/wacard/wacard/internal/config"
	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/fakewa"
	"github.com/wacard/wacard/internal/redistest"
	"github.com/wacard/wacard/internal/status"
	"github.com/wacard/wacard/internal/vcard"
	"github.com/wacard/wacard/worker/whatsapp"
)

// The tests in this file run the whole pipeline against internal/fakewa:
// HTTP API → Redis → worker → the real whatsmeow client → a fake WhatsApp
// server on loopback that decrypts what it receives. docs/testing.md says
// how to add a scenario.

// waTimeout bounds every wait in these tests. It is generous because a
// loaded CI machine under -race is slow (whatsmeow generates and uploads 812
// prekeys on a device's first connection); passing tests never wait it out.
const waTimeout = 30 * time.Second

const (
	waDevice = "sales"         // the device id in the registry
	waPhone  = "6281100000001" // the device's own WhatsApp account
	waWorker = "fakewa-worker" // WACARD_WORKER_ID of the stack
)

// waStack is a running `wacard serve` whose WhatsApp device talks to a fake.
type waStack struct {
	*stack
	srv  *fakewa.Server
	rdb  *redis.Client
	reg  *device.Registry
	cfg  config.Config
	log  *slog.Logger
	jid  types.JID // the device's JID; empty when started unpaired
	logs *syncBuffer
}

// fakeOpts shape a waStack.
type fakeOpts struct {
	unpaired bool                 // register the device without pairing it
	env      map[string]string    // WACARD_* overrides
	before   func(*fakewa.Server) // runs before serve starts, e.g. to set a fault
}

// startFake registers the WhatsApp device waDevice, paired with the fake
// unless o.unpaired, then starts serve with every whatsmeow client pointed at
// the fake. The stack stops before the fake and the Redis prefix are cleaned
// up.
func startFake(t *testing.T, o fakeOpts) *waStack {
	t.Helper()
	ctx := context.Background()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	dataDir := t.TempDir()
	srv := fakewa.New(t)
	s := &waStack{srv: srv, rdb: rdb, reg: device.NewRegistry(rdb, prefix), logs: &syncBuffer{}}

	d := device.Device{ID: waDevice, Kind: device.KindWhatsApp}
	if !o.unpaired {
		// The device's keys go into the worker's own store, as
		// `wacard device login` would leave them.
		store, err := whatsapp.OpenStore(ctx, dataDir, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		dev, err := srv.NewDevice(ctx, store.Container(), waPhone)
		if cerr := store.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		s.jid = *dev.ID
		d.JID = s.jid.String()
	}
	if err := s.reg.Add(ctx, d); err != nil {
		t.Fatal(err)
	}

	vars := map[string]string{
		"WACARD_ADDR":         "127.0.0.1:0",
		"WACARD_METRICS_ADDR": "",
		"WACARD_REDIS_URL":    redistest.URL(),
		"WACARD_REDIS_PREFIX": prefix,
		"WACARD_DATA_DIR":     dataDir,
		"WACARD_WORKER_ID":    waWorker,
	}
	for k, v := range o.env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = cfg
	s.log = slog.New(slog.NewTextHandler(s.logs, nil))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("wacard log:\n%s", s.logs.tail(16<<10))
		}
	})

	if o.before != nil {
		o.before(srv)
	}
	sctx, cancel := context.WithCancel(ctx)
	addr := make(chan string, 1)
	done := make(chan error, 1)
	hooks := &serveHooks{onListen: func(api, _ string) { addr <- api }, clientHook: srv.Install}
	go func() { done <- serve(sctx, cfg, s.log, roleAPI|roleWorker, hooks) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case a := <-addr:
		s.stack = &stack{t: t, url: "http://" + a}
	case err := <-done:
		t.Fatalf("serve stopped at start: %v", err)
	case <-time.After(waTimeout):
		t.Fatal("serve did not start listening")
	}
	return s
}

// send posts a contact card for the WhatsApp device and returns its message id.
func (s *waStack) send(to, name string, extra map[string]any) string {
	s.t.Helper()
	body := map[string]any{"phone": to, "contact_name": name, "contact_phone": "6281111110001"}
	for k, v := range extra {
		body[k] = v
	}
	b, err := json.Marshal(body)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.accept(string(b), "X-Device-Id", waDevice)
}

// record returns the message's status record.
func (s *waStack) record(id string) status.Record {
	s.t.Helper()
	code, e := s.get("/messages/" + id)
	var r status.Record
	if code != 200 || json.Unmarshal(e.Results, &r) != nil {
		s.t.Fatalf("GET /messages/%s: %d %s %s", id, code, e.Code, e.Message)
	}
	return r
}

// awaitRecord polls the message's record until ok accepts it.
func (s *waStack) awaitRecord(id string, within time.Duration, what string, ok func(status.Record) bool) status.Record {
	s.t.Helper()
	var r status.Record
	eventually(s.t, within, func() bool { r = s.record(id); return ok(r) },
		func() string { return fmt.Sprintf("message %s: want %s, have %s", id, what, describe(r)) })
	return r
}

// awaitState polls until the message is in state want.
func (s *waStack) awaitState(id string, within time.Duration, want status.State) status.Record {
	s.t.Helper()
	return s.awaitRecord(id, within, "state "+string(want), func(r status.Record) bool { return r.State == want })
}

// waDeviceView is what the tests read of GET /devices/{id}.
type waDeviceView struct {
	JID   string        `json:"jid"`
	State device.State  `json:"state"`
	Owner string        `json:"owner"`
	Pause *device.Pause `json:"pause"`
}

func (s *waStack) device() waDeviceView {
	s.t.Helper()
	code, e := s.get("/devices/" + waDevice)
	var v waDeviceView
	if code != 200 || json.Unmarshal(e.Results, &v) != nil {
		s.t.Fatalf("GET /devices/%s: %d %s %s", waDevice, code, e.Code, e.Message)
	}
	return v
}

// awaitDevice polls GET /devices/sales until ok accepts it.
func (s *waStack) awaitDevice(within time.Duration, what string, ok func(waDeviceView) bool) waDeviceView {
	s.t.Helper()
	var v waDeviceView
	eventually(s.t, within, func() bool { v = s.device(); return ok(v) },
		func() string { return fmt.Sprintf("device %s: want %s, have %+v", waDevice, what, v) })
	return v
}

// awaitConnected waits until the worker reports the device connected and the
// fake sees it logged in.
func (s *waStack) awaitConnected(within time.Duration) {
	s.t.Helper()
	s.awaitDevice(within, "connected", func(v waDeviceView) bool { return v.State.Conn == device.ConnConnected })
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := s.srv.WaitConnections(ctx, s.jid, 1); err != nil {
		s.t.Fatal(err)
	}
}

// receivedBy counts, per message ID, what the fake's recipients decrypted.
func (s *waStack) receivedBy() map[types.MessageID]int {
	n := map[types.MessageID]int{}
	for _, r := range s.srv.Received() {
		n[r.ID]++
	}
	return n
}

// noFakeErrors fails the test on protocol problems the fake saw.
func (s *waStack) noFakeErrors() {
	s.t.Helper()
	for _, err := range s.srv.Errors() {
		s.t.Errorf("fake WhatsApp server: %v", err)
	}
}

// eventually polls cond until it holds, failing with why() after within.
// It polls at a short interval instead of waiting for a signal because the
// state it watches lives in Redis, behind the HTTP API.
func eventually(t *testing.T, within time.Duration, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("after %s: %s", within, why())
		case <-tick.C:
		}
	}
}

// describe sums a record up for failure messages.
func describe(r status.Record) string {
	return fmt.Sprintf("%s (attempts %d, error_class %q, last_error %q, history %s)",
		r.State, r.Attempts, r.ErrorClass, r.LastError, history(r))
}

// history lists the states a record went through, comma-separated.
func history(r status.Record) string {
	var states []string
	for _, h := range r.History {
		states = append(states, string(h.State))
	}
	return strings.Join(states, ",")
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// TestFakeContactCardArrives checks what the recipient's phone decrypts: the
// display name and vCard (escaped, with waid, no injected lines), the
// forwarded flag and the disappearing timer, under the API's message id.
func TestFakeContactCardArrives(t *testing.T) {
	t.Parallel()
	s := startFake(t, fakeOpts{})
	bob := s.srv.AddRecipient("6281200000001")

	name := "Ann; \"A\", \\ B\nTEL:+19999999999"
	id := s.send("6281200000001", name, map[string]any{"is_forwarded": true, "duration": 86400})
	ctx, cancel := context.WithTimeout(context.Background(), waTimeout)
	defer cancel()
	got, err := s.srv.WaitReceived(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if string(r.ID) != id || r.To != bob.JID() || r.From != s.jid {
		t.Errorf("received id %s to %s from %s; want %s to %s from %s", r.ID, r.To, r.From, id, bob.JID(), s.jid)
	}
	cm := r.Message.GetContactMessage()
	if cm == nil {
		t.Fatalf("received %v, want a contact message", r.Message)
	}
	if cm.GetDisplayName() != name {
		t.Errorf("DisplayName = %q, want %q", cm.GetDisplayName(), name)
	}
	const wantCard = "BEGIN:VCARD\nVERSION:3.0\n" +
		`N:;Ann\; "A"\, \\ B\nTEL:+19999999999;;;` + "\n" +
		`FN:Ann\; "A"\, \\ B\nTEL:+19999999999` + "\n" +
		"TEL;type=CELL;waid=6281111110001:+62 811-1111-0001\n" +
		"END:VCARD"
	if cm.GetVcard() != wantCard {
		t.Errorf("vCard =\n%s\nwant\n%s", cm.GetVcard(), wantCard)
	}
	if err := vcard.Check(cm.GetVcard()); err != nil {
		t.Errorf("vCard fails vcard.Check: %v", err)
	}
	ci := cm.GetContextInfo()
	if !ci.GetIsForwarded() || ci.GetForwardingScore() != 1 || ci.GetExpiration() != 86400 {
		t.Errorf("ContextInfo = %v; want forwarded with score 1 and expiration 86400", ci)
	}

	rec := s.awaitState(id, waTimeout, status.Sent)
	if rec.Attempts != 1 || rec.SentAt == nil || history(rec) != "queued,sending,sent" {
		t.Errorf("record %s, sent_at %v", describe(rec), rec.SentAt)
	}
	if n := s.srv.Attempts(r.ID); n != 1 {
		t.Errorf("the fake got the message %d times, want 1", n)
	}
	// A plain card has no context info at all.
	id2 := s.send("6281200000001", "Plain", nil)
	got, err = s.srv.WaitReceived(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[1].ID) != id2 || got[1].Message.GetContactMessage().GetContextInfo() != nil {
		t.Errorf("second message %s: %v", got[1].ID, got[1].Message)
	}
	s.noFakeErrors()
}

// TestFakeDropBeforeAckDeliversOnce drops the connection after the fake took
// a message and before it acked it: whatsmeow reconnects and resends under
// the same ID, and each message reaches its recipient exactly once.
func TestFakeDropBeforeAckDeliversOnce(t *testing.T) {
	if raceEnabled {
		t.Skip("whatsmeow's auto-reconnect races in go.mau.fi/util exsync.Event (see internal/fakewa); " +
			"TestDropBeforeAckManualReconnect in internal/fakewa covers the resend under -race")
	}
	t.Parallel()
	s := startFake(t, fakeOpts{})
	s.awaitConnected(waTimeout)
	s.srv.DropBeforeAck(2)

	const n = 5
	ids := make([]string, n)
	for i := range ids {
		to := fmt.Sprintf("628120000001%d", i)
		s.srv.AddRecipient(to)
		ids[i] = s.send(to, fmt.Sprintf("Drop %d", i), nil)
	}
	for _, id := range ids {
		if rec := s.awaitState(id, waTimeout, status.Sent); rec.Attempts < 1 {
			t.Errorf("%s: %s", id, describe(rec))
		}
	}
	got := s.receivedBy()
	resent := 0
	for _, id := range ids {
		if got[types.MessageID(id)] != 1 {
			t.Errorf("message %s arrived %d times, want exactly once", id, got[types.MessageID(id)])
		}
		resent += s.srv.Attempts(types.MessageID(id)) - 1
	}
	if len(got) != n {
		t.Errorf("the fake received %d distinct messages, want %d: %v", len(got), n, got)
	}
	if resent < 2 {
		t.Errorf("%d resends, want at least one per dropped connection (2)", resent)
	}
	s.noFakeErrors()
}

// TestFakeServerErrorRetried: an error ack 500 is transient; the message is
// retried under the same ID and sent.
func TestFakeServerErrorRetried(t *testing.T) {
	t.Parallel()
	s := startFake(t, fakeOpts{})
	s.srv.AddRecipient("6281200000002")
	s.srv.FailMessages(1, 500)
	id := s.send("6281200000002", "Retry", nil)
	rec := s.awaitState(id, waTimeout, status.Sent)
	if rec.Attempts != 2 || history(rec) != "queued,sending,retrying,sending,sent" {
		t.Errorf("record %s; want sent on attempt 2 after retrying", describe(rec))
	}
	if n := s.srv.Attempts(types.MessageID(id)); n != 2 {
		t.Errorf("the fake got %s %d times, want 2", id, n)
	}
	if got := s.receivedBy(); got[types.MessageID(id)] != 1 {
		t.Errorf("received %v, want %s once", got, id)
	}
	s.noFakeErrors()
}

// TestFakeErrorAckPausesDevice: error acks that are about the account, not the
// message, pause the device and leave the message waiting without using an
// attempt; resuming the device sends it.
func TestFakeErrorAckPausesDevice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code   int
		reason string
		to     string
	}{
		{463, "timelock", "6281200000003"},
		{429, "rate_limited", "6281200000004"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			t.Parallel()
			s := startFake(t, fakeOpts{}) // WACARD_TIMELOCK_PAUSE stays 15m: only resume ends it here
			s.srv.AddRecipient(tc.to)
			s.srv.FailMessages(1, tc.code)
			id := s.send(tc.to, "Paused", nil)

			// The recorded pause and the worker's reported state agree once
			// the worker has applied the pause it recorded.
			s.awaitDevice(waTimeout, "paused for "+tc.reason, func(v waDeviceView) bool {
				return v.Pause != nil && v.Pause.Reason == tc.reason && v.State.Paused && v.State.PauseReason == tc.reason
			})
			rec := s.awaitState(id, waTimeout, status.Waiting)
			if rec.ErrorClass != tc.reason {
				t.Errorf("waiting record %s; want error_class %s", describe(rec), tc.reason)
			}

			if code, e := s.post("/devices/"+waDevice+"/resume", ""); code != 200 {
				t.Fatalf("resume: %d %s %s", code, e.Code, e.Message)
			}
			rec = s.awaitState(id, waTimeout, status.Sent)
			if n := s.srv.Attempts(types.MessageID(id)); n != 2 {
				t.Errorf("the fake got %s %d times, want 2 (rejected, then sent)", id, n)
			}
			if got := s.receivedBy(); got[types.MessageID(id)] != 1 {
				t.Errorf("received %v, want %s once", got, id)
			}
			if v := s.device(); v.Pause != nil || v.State.Paused {
				t.Errorf("device still paused after resume: %+v", v)
			}
			s.noFakeErrors()
		})
	}
}

// TestFakeNotOnWhatsApp: a number without WhatsApp fails at once with
// error_class not_on_whatsapp, and nothing is sent.
func TestFakeNotOnWhatsApp(t *testing.T) {
	t.Parallel()
	s := startFake(t, fakeOpts{})
	left := s.srv.AddRecipient("6281200000005")
	left.SetOnWhatsApp(false)
	for _, to := range []string{"6281200000005", "6281200000006"} { // left WhatsApp; never joined
		id := s.send(to, "Nobody", nil)
		rec := s.awaitRecord(id, waTimeout, "failed", func(r status.Record) bool { return r.State.Terminal() })
		if rec.State != status.Failed || rec.ErrorClass != "not_on_whatsapp" || rec.Attempts != 1 {
			t.Errorf("to %s: %s; want failed once with not_on_whatsapp", to, describe(rec))
		}
		if n := s.srv.Attempts(types.MessageID(id)); n != 0 {
			t.Errorf("to %s: the fake got the message %d times, want none", to, n)
		}
	}
	s.noFakeErrors()
}

// TestFakeLoggedOut: a device unlinked from the phone, or refused at login,
// is reported logged_out; its messages wait instead of failing, until
// WACARD_OFFLINE_GRACE expires them.
func TestFakeLoggedOut(t *testing.T) {
	t.Parallel()
	const grace = 2 * time.Second
	for _, tc := range []struct {
		name    string
		atStart bool // refuse the login instead of unlinking a live device
	}{
		{"unlinked", false},
		{"refused at login", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := fakeOpts{env: map[string]string{"WACARD_OFFLINE_GRACE": grace.String()}}
			if tc.atStart {
				o.before = func(srv *fakewa.Server) { srv.SetLoginFailure(401) }
			}
			s := startFake(t, o)
			if !tc.atStart {
				s.awaitConnected(waTimeout)
				s.srv.RemoveDevice(s.jid)
			}
			s.awaitDevice(waTimeout, "logged_out", func(v waDeviceView) bool { return v.State.Conn == device.ConnLoggedOut })
			s.srv.AddRecipient("6281200000007")
			id := s.send("6281200000007", "Waits", nil)
			if rec := s.record(id); rec.State != status.Queued && rec.State != status.Waiting {
				t.Errorf("right after accepting: %s; want queued or waiting", describe(rec))
			}
			rec := s.awaitRecord(id, waTimeout, "failed", func(r status.Record) bool { return r.State.Terminal() })
			if rec.State != status.Failed || rec.ErrorClass != "expired" {
				t.Errorf("%s; want failed with error_class expired", describe(rec))
			}
			if rec.FinishedAt == nil || rec.FinishedAt.Sub(rec.CreatedAt) < grace {
				t.Errorf("finished at %v, created at %v: failed before the grace of %s", rec.FinishedAt, rec.CreatedAt, grace)
			}
			if n := s.srv.Attempts(types.MessageID(id)); n != 0 {
				t.Errorf("the fake got the message %d times, want none", n)
			}
		})
	}
}

// TestFakeReceipts: delivery and read receipts from the recipient's phone move
// the record forward, never back.
func TestFakeReceipts(t *testing.T) {
	t.Parallel()
	s := startFake(t, fakeOpts{})
	bob := s.srv.AddRecipient("6281200000008")
	ctx, cancel := context.WithTimeout(context.Background(), waTimeout)
	defer cancel()

	id := s.send("6281200000008", "Receipts", nil)
	s.awaitState(id, waTimeout, status.Sent)
	if err := bob.SendReceipt(ctx, types.MessageID(id), types.ReceiptTypeDelivered); err != nil {
		t.Fatal(err)
	}
	rec := s.awaitState(id, waTimeout, status.Delivered)
	if rec.DeliveredAt == nil || rec.ReadAt != nil {
		t.Errorf("delivered record: delivered_at %v, read_at %v", rec.DeliveredAt, rec.ReadAt)
	}
	if err := bob.SendReceipt(ctx, types.MessageID(id), types.ReceiptTypeRead); err != nil {
		t.Fatal(err)
	}
	rec = s.awaitState(id, waTimeout, status.Read)
	if rec.ReadAt == nil || rec.DeliveredAt == nil {
		t.Errorf("read record: delivered_at %v, read_at %v", rec.DeliveredAt, rec.ReadAt)
	}

	// A late delivery receipt must not move it back. whatsmeow handles one
	// connection's nodes in order, so once the read receipt of a second
	// message is recorded, the late one has been handled too.
	id2 := s.send("6281200000008", "Barrier", nil)
	s.awaitState(id2, waTimeout, status.Sent)
	if err := bob.SendReceipt(ctx, types.MessageID(id), types.ReceiptTypeDelivered); err != nil {
		t.Fatal(err)
	}
	if err := bob.SendReceipt(ctx, types.MessageID(id2), types.ReceiptTypeRead); err != nil {
		t.Fatal(err)
	}
	s.awaitState(id2, waTimeout, status.Read)
	if rec := s.record(id); rec.State != status.Read {
		t.Errorf("after a late delivery receipt: %s; want still read", describe(rec))
	}
	s.noFakeErrors()
}

// TestFakeStreamReplaced: when WhatsApp says another client took the device's
// session over, the worker gives the device up (releases its lease) and stays
// away for its cooldown instead of fighting for the session.
func TestFakeStreamReplaced(t *testing.T) {
	t.Parallel()
	// A short lease makes the worker rebalance every second; the cooldown
	// (5 lease TTLs) is then 15 s, longer than this test watches.
	s := startFake(t, fakeOpts{env: map[string]string{"WACARD_LEASE_TTL": "3s"}})
	s.awaitConnected(waTimeout)
	if v := s.device(); v.Owner != waWorker {
		t.Fatalf("owner %q, want %q", v.Owner, waWorker)
	}
	logins := s.srv.Logins(s.jid)

	s.srv.ReplaceStream(s.jid)
	s.awaitDevice(waTimeout, "its lease released", func(v waDeviceView) bool { return v.Owner == "" })

	// Let the worker run two more balance rounds (each starts by renewing its
	// heartbeat): the first may have begun before the release, the second
	// surely looked at the free device and left it alone.
	heartbeat := func() float64 {
		score, err := s.rdb.ZScore(context.Background(), s.cfg.RedisPrefix+"workers", waWorker).Result()
		if err != nil {
			t.Fatalf("worker heartbeat: %v", err)
		}
		return score
	}
	for range 2 {
		last := heartbeat()
		eventually(t, waTimeout, func() bool { return heartbeat() > last },
			func() string { return "the worker's heartbeat did not advance" })
	}
	if v := s.device(); v.Owner != "" {
		t.Errorf("owner %q within the cooldown, want none", v.Owner)
	}
	if n := s.srv.Logins(s.jid); n != logins {
		t.Errorf("the device logged in %d more times after its stream was replaced", n-logins)
	}
	if n := s.srv.Connections(s.jid); n != 0 {
		t.Errorf("%d connections after the replace, want 0", n)
	}
	s.noFakeErrors()
}

// TestFakeDeviceLogin pairs the device with `wacard device login` by QR code,
// the fake playing the phone that scans it, then sends through the API.
func TestFakeDeviceLogin(t *testing.T) {
	t.Parallel()
	s := startFake(t, fakeOpts{unpaired: true})
	s.awaitDevice(waTimeout, "not_paired", func(v waDeviceView) bool { return v.State.Conn == device.ConnNotPaired })

	ctx, cancel := context.WithTimeout(context.Background(), 2*waTimeout)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := deviceCmdWith(ctx, s.cfg, s.log, []string{"login", waDevice}, pw, s.srv.Install)
		pw.Close()
		done <- err
	}()
	codes := make(chan string, 8)
	var out syncBuffer
	go func() {
		defer close(codes)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(&out, line)
			if code, ok := strings.CutPrefix(line, whatsapp.QRCodePrefix); ok {
				select {
				case codes <- code:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr) //nolint:errcheck // drain, so the command never blocks on its output
	}()

	var code string
	select {
	case code = <-codes:
	case err := <-done:
		t.Fatalf("device login ended before showing a QR code: %v\n%s", err, out.tail(4096))
	case <-ctx.Done():
		t.Fatalf("no QR code printed:\n%s", out.tail(4096))
	}
	jid, err := s.srv.ScanQR(code, waPhone)
	if err != nil {
		t.Fatalf("ScanQR: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("device login: %v\n%s", err, out.tail(4096))
		}
	case <-ctx.Done():
		t.Fatalf("device login did not return after the scan:\n%s", out.tail(4096))
	}
	if want := fmt.Sprintf("device %q is logged in as %s", waDevice, jid); !strings.Contains(out.tail(1<<20), want) {
		t.Errorf("output lacks %q:\n%s", want, out.tail(4096))
	}
	d, err := s.reg.Get(ctx, waDevice)
	if err != nil || d.JID != jid.String() {
		t.Fatalf("registry device = %+v, %v; want JID %s", d, err, jid)
	}

	s.jid = jid
	s.awaitConnected(waTimeout)
	s.srv.AddRecipient("6281200000009")
	id := s.send("6281200000009", "After login", nil)
	got, err := s.srv.WaitReceived(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0].ID) != id || got[0].From != jid {
		t.Errorf("received %s from %s, want %s from %s", got[0].ID, got[0].From, id, jid)
	}
	s.awaitState(id, waTimeout, status.Sent)
	s.noFakeErrors()
}
