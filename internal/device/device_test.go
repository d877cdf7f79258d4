package device

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/wacard/wacard/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor bounds every wait on async work in this file.
const waitFor = 5 * time.Second

func newTestRegistry(t *testing.T) (*Registry, *redis.Client) {
	t.Helper()
	rdb := redistest.Client(t)
	return NewRegistry(rdb, redistest.Prefix(t, rdb)), rdb
}

func ptr[T any](v T) *T { return &v }

func mustAdd(t *testing.T, r *Registry, d Device) {
	t.Helper()
	if err := r.Add(context.Background(), d); err != nil {
		t.Fatalf("Add(%s): %v", d.ID, err)
	}
}

func ids(ds []Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func TestRegistryAddGet(t *testing.T) {
	t.Parallel()
	r, _ := newTestRegistry(t)
	ctx := context.Background()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := Device{ID: "shop", Kind: KindWhatsApp, JID: "15550001111:3@s.whatsapp.net", CreatedAt: created,
		PacePerMinute: ptr(6), DailyCap: ptr(200)}
	mustAdd(t, r, in)

	got, err := r.Get(ctx, "shop")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("Get:\n got %+v\nwant %+v", got, in)
	}

	err = r.Add(ctx, Device{ID: "shop", Kind: KindSandbox})
	if !errors.Is(err, ErrExists) {
		t.Errorf("second Add: err = %v, want ErrExists", err)
	}
	if got, _ := r.Get(ctx, "shop"); got.Kind != KindWhatsApp {
		t.Errorf("second Add overwrote the device: %+v", got)
	}

	if _, err := r.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get unknown: err = %v, want ErrNotFound", err)
	}
}

func TestRegistryAddSetsCreatedAt(t *testing.T) {
	t.Parallel()
	r, _ := newTestRegistry(t)
	before := time.Now()
	mustAdd(t, r, Device{ID: "a", Kind: KindSandbox})
	got, err := r.Get(context.Background(), "a")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.CreatedAt.Before(before.Add(-time.Second)) || got.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("CreatedAt = %v, want about now", got.CreatedAt)
	}
}

func TestRegistryList(t *testing.T) {
	t.Parallel()
	r, _ := newTestRegistry(t)
	ctx := context.Background()
	got, err := r.List(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("List of empty registry = %v, %v", got, err)
	}
	for _, id := range []string{"c", "a", "b.2", "B", "b"} {
		mustAdd(t, r, Device{ID: id, Kind: KindSandbox})
	}
	got, err = r.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if want := []string{"B", "a", "b", "b.2", "c"}; !reflect.DeepEqual(ids(got), want) {
		t.Errorf("List ids = %v, want %v", ids(got), want)
	}
}

func TestRegistryCorruptEntry(t *testing.T) {
	t.Parallel()
	r, rdb := newTestRegistry(t)
	ctx := context.Background()
	if err := rdb.HSet(ctx, r.key(), "bad", "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, "bad"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Get corrupt: err = %v, want a decode error", err)
	}
	if _, err := r.List(ctx); err == nil {
		t.Error("List with a corrupt entry: no error")
	}
}

func TestRegistryUpdate(t *testing.T) {
	t.Parallel()
	r, _ := newTestRegistry(t)
	ctx := context.Background()
	mustAdd(t, r, Device{ID: "shop", Kind: KindWhatsApp})

	d, err := r.Update(ctx, "shop", func(d *Device) error {
		d.JID = "15550001111:3@s.whatsapp.net"
		d.PacePerMinute = ptr(10)
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, err := r.Get(ctx, "shop")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !reflect.DeepEqual(got, d) || got.JID != "15550001111:3@s.whatsapp.net" || got.PacePerMinute == nil || *got.PacePerMinute != 10 {
		t.Errorf("after Update: Get = %+v, Update returned %+v", got, d)
	}

	// An error from fn leaves the stored device alone.
	boom := errors.New("boom")
	_, err = r.Update(ctx, "shop", func(d *Device) error {
		d.JID = "changed"
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Update with failing fn: err = %v, want boom", err)
	}
	if got, _ := r.Get(ctx, "shop"); got.JID != "15550001111:3@s.whatsapp.net" {
		t.Errorf("failed Update changed the device: %+v", got)
	}

	called := false
	_, err = r.Update(ctx, "nope", func(*Device) error { called = true; return nil })
	if !errors.Is(err, ErrNotFound) || called {
		t.Errorf("Update unknown: err = %v, fn called %v; want ErrNotFound, not called", err, called)
	}
}

func TestRegistryRemove(t *testing.T) {
	t.Parallel()
	r, _ := newTestRegistry(t)
	ctx := context.Background()
	mustAdd(t, r, Device{ID: "shop", Kind: KindSandbox})
	if err := r.Remove(ctx, "shop"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := r.Get(ctx, "shop"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove: err = %v, want ErrNotFound", err)
	}
	if err := r.Remove(ctx, "shop"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: err = %v, want ErrNotFound", err)
	}
	// The id is free again.
	mustAdd(t, r, Device{ID: "shop", Kind: KindSandbox})
}

func TestRegistryEnsure(t *testing.T) {
	t.Parallel()
	r, _ := newTestRegistry(t)
	ctx := context.Background()
	if err := r.Ensure(ctx, Device{ID: "demo", Kind: KindSandbox}); err != nil {
		t.Fatalf("Ensure new: %v", err)
	}
	if _, err := r.Get(ctx, "demo"); err != nil {
		t.Fatalf("Get after Ensure: %v", err)
	}
	// Ensure on an existing id is a no-op, not an overwrite.
	if _, err := r.Update(ctx, "demo", func(d *Device) error { d.DailyCap = ptr(5); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := r.Ensure(ctx, Device{ID: "demo", Kind: KindSandbox}); err != nil {
		t.Fatalf("Ensure existing: %v", err)
	}
	if got, _ := r.Get(ctx, "demo"); got.DailyCap == nil || *got.DailyCap != 5 {
		t.Errorf("Ensure overwrote the existing device: %+v", got)
	}
}

func TestRegistryAnnounces(t *testing.T) {
	t.Parallel()
	r, rdb := newTestRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	sub := rdb.Subscribe(ctx, r.Channel())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatalf("subscribe: %v", err)
	}
	mustAdd(t, r, Device{ID: "a", Kind: KindSandbox})
	if _, err := r.Update(ctx, "a", func(*Device) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	for _, what := range []string{"Add", "Update", "Remove"} {
		msg, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("no announcement after %s: %v", what, err)
		}
		if msg.Payload != "a" {
			t.Errorf("%s announced %q, want the id", what, msg.Payload)
		}
	}
}

func TestStates(t *testing.T) {
	t.Parallel()
	r, rdb := newTestRegistry(t)
	ctx := context.Background()

	got, err := r.GetState(ctx, "shop")
	if err != nil || !reflect.DeepEqual(got, State{Conn: ConnUnknown}) {
		t.Errorf("GetState with none = %+v, %v; want unknown", got, err)
	}
	all, err := r.States(ctx)
	if err != nil || len(all) != 0 {
		t.Errorf("States with none = %v, %v", all, err)
	}

	until := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	before := time.Now()
	in := State{Conn: ConnConnected, Worker: "w1", Paused: true, PauseReason: "timelock", PausedUntil: &until, Detail: "463"}
	if err := r.SetState(ctx, "shop", in); err != nil {
		t.Fatalf("SetState: %v", err)
	}
	if err := r.SetState(ctx, "demo", State{Conn: ConnNotPaired}); err != nil {
		t.Fatalf("SetState: %v", err)
	}
	got, err = r.GetState(ctx, "shop")
	if err != nil {
		t.Fatalf("GetState: %v", err)
	}
	if got.UpdatedAt.Before(before.Add(-time.Second)) || got.UpdatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("UpdatedAt = %v, want about now", got.UpdatedAt)
	}
	in.UpdatedAt = got.UpdatedAt
	if !reflect.DeepEqual(got, in) {
		t.Errorf("GetState:\n got %+v\nwant %+v", got, in)
	}

	all, err = r.States(ctx)
	if err != nil {
		t.Fatalf("States: %v", err)
	}
	if len(all) != 2 || all["shop"].Conn != ConnConnected || all["demo"].Conn != ConnNotPaired {
		t.Errorf("States = %+v", all)
	}

	// A corrupt entry is an error for GetState and skipped by States.
	if err := rdb.HSet(ctx, r.stateKey(), "bad", "nope").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GetState(ctx, "bad"); err == nil {
		t.Error("GetState of a corrupt entry: no error")
	}
	if all, err := r.States(ctx); err != nil || len(all) != 2 {
		t.Errorf("States with a corrupt entry = %v, %v; want the 2 good ones", all, err)
	}
}

func newTestWatcher(r *Registry, interval time.Duration) *Watcher {
	return NewWatcher(r, slog.New(slog.DiscardHandler), interval)
}

func TestWatcherLookup(t *testing.T) {
	t.Parallel()
	r, _ := newTestRegistry(t)
	ctx := context.Background()
	mustAdd(t, r, Device{ID: "shop", Kind: KindWhatsApp, JID: "15550001111:3@s.whatsapp.net"})
	mustAdd(t, r, Device{ID: "demo", Kind: KindSandbox})
	mustAdd(t, r, Device{ID: "fresh", Kind: KindWhatsApp}) // not logged in yet: no JID
	w := newTestWatcher(r, time.Hour)
	if err := w.Load(ctx); err != nil {
		t.Fatalf("Load: %v", err)
	}

	tests := []struct {
		ref    string
		wantID string // "" = not found
	}{
		{"shop", "shop"},
		{"demo", "demo"},
		{"fresh", "fresh"},
		{"15550001111:3@s.whatsapp.net", "shop"},
		{"15550001111@s.whatsapp.net", "shop"},
		{"15550001111", "shop"},
		{"15550001111:7@s.whatsapp.net", "shop"},
		{"15550002222@s.whatsapp.net", ""},
		{"15550002222", ""},
		{"", ""},
		{"@s.whatsapp.net", ""},
		{"Shop", ""},
	}
	for _, tt := range tests {
		d, ok := w.Lookup(tt.ref)
		if ok != (tt.wantID != "") || d.ID != tt.wantID {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tt.ref, d.ID, ok, tt.wantID)
		}
	}
	if w.Len() != 3 {
		t.Errorf("Len = %d, want 3", w.Len())
	}
	if got := w.All(); len(got) != 3 {
		t.Errorf("All = %v, want 3 devices", ids(got))
	}
}

func TestWatcherOnly(t *testing.T) {
	t.Parallel()
	r, _ := newTestRegistry(t)
	ctx := context.Background()
	w := newTestWatcher(r, time.Hour)

	load := func() {
		t.Helper()
		if err := w.Load(ctx); err != nil {
			t.Fatalf("Load: %v", err)
		}
	}
	load()
	if d, ok := w.Only(); ok {
		t.Errorf("Only with 0 devices = %+v, true", d)
	}
	mustAdd(t, r, Device{ID: "one", Kind: KindSandbox})
	load()
	if d, ok := w.Only(); !ok || d.ID != "one" {
		t.Errorf("Only with 1 device = %+v, %v; want one", d, ok)
	}
	mustAdd(t, r, Device{ID: "two", Kind: KindSandbox})
	load()
	if d, ok := w.Only(); ok {
		t.Errorf("Only with 2 devices = %+v, true", d)
	}
}

// drain empties the Changed channel, so the next receive means a new reload.
func drain(w *Watcher) {
	select {
	case <-w.Changed():
	default:
	}
}

// startWatcher runs w until the test ends and checks Run returns on cancel.
func startWatcher(t *testing.T, w *Watcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitFor):
			t.Error("Watcher.Run did not return after its context ended")
		}
	})
}

// waitForLookup waits on Changed until ref resolves, or fails at the deadline.
func waitForLookup(t *testing.T, w *Watcher, ref string) Device {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case <-w.Changed():
			if d, ok := w.Lookup(ref); ok {
				return d
			}
		case <-deadline:
			t.Fatalf("watcher did not pick up %q within %v", ref, waitFor)
		}
	}
}

func TestWatcherRunPicksUpAnnouncedChange(t *testing.T) {
	t.Parallel()
	r, rdb := newTestRegistry(t)
	ctx := context.Background()
	mustAdd(t, r, Device{ID: "first", Kind: KindSandbox})
	// A timer that never fires here: only the announcement can reload.
	w := newTestWatcher(r, time.Hour)
	if err := w.Load(ctx); err != nil {
		t.Fatalf("Load: %v", err)
	}
	drain(w)
	startWatcher(t, w)

	// Wait until Run has subscribed, or the announcement could be missed.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
	for subscribed := false; !subscribed; {
		select {
		case <-tick.C:
			n, err := rdb.PubSubNumSub(ctx, r.Channel()).Result()
			if err != nil {
				t.Fatalf("PUBSUB NUMSUB: %v", err)
			}
			subscribed = n[r.Channel()] > 0
		case <-deadline:
			t.Fatalf("watcher did not subscribe to %s within %v", r.Channel(), waitFor)
		}
	}

	mustAdd(t, r, Device{ID: "second", Kind: KindWhatsApp, JID: "15550003333:1@s.whatsapp.net"})
	if d := waitForLookup(t, w, "15550003333"); d.ID != "second" {
		t.Errorf("Lookup after announced Add = %+v", d)
	}
	if w.Len() != 2 {
		t.Errorf("Len = %d, want 2", w.Len())
	}
}

func TestWatcherRunReloadsOnTimer(t *testing.T) {
	t.Parallel()
	r, rdb := newTestRegistry(t)
	ctx := context.Background()
	w := newTestWatcher(r, 10*time.Millisecond)
	if err := w.Load(ctx); err != nil {
		t.Fatalf("Load: %v", err)
	}
	startWatcher(t, w)

	// Written behind the registry's back: no announcement, so only the timer
	// can find it.
	if err := rdb.HSet(ctx, r.key(), "quiet", `{"id":"quiet","kind":"sandbox"}`).Err(); err != nil {
		t.Fatal(err)
	}
	if d := waitForLookup(t, w, "quiet"); d.Kind != KindSandbox {
		t.Errorf("Lookup after timer reload = %+v", d)
	}
}
