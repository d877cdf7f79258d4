package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/metrics"
	"github.com/wacard/wacard/internal/redistest"
	"github.com/wacard/wacard/internal/status"
)

func TestLeaseCompareAndSet(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	ctx := context.Background()
	a := &leases{rdb: rdb, prefix: prefix, worker: "a", ttl: 10 * time.Second}
	b := &leases{rdb: rdb, prefix: prefix, worker: "b", ttl: 10 * time.Second}
	now := time.Now()

	got, err := a.acquire(ctx, []string{"d1", "d2"})
	if err != nil || len(got) != 2 {
		t.Fatalf("a acquire: %v %v", got, err)
	}
	if got2, _ := b.acquire(ctx, []string{"d1", "d3"}); len(got2) != 1 || got2["d3"] == "" {
		t.Fatalf("b took a held device: %v", got2)
	}
	// b cannot release or renew a's lease, whatever token it tries.
	if ok, _ := b.release(ctx, "d1", got["d1"]); ok {
		t.Fatal("b released a's lease")
	}
	if lost, _, _ := b.renew(ctx, now, map[string]string{"d1": got["d1"]}); len(lost) != 1 {
		t.Fatalf("b renewed a's lease: lost=%v", lost)
	}
	if own, _ := a.owners(ctx, []string{"d1", "d3", "d9"}); own["d1"] != "a" || own["d3"] != "b" || own["d9"] != "" {
		t.Fatalf("owners %v", own)
	}
	// a renews; then its lease "expires" (the key vanishes) and renew reports it lost.
	if lost, live, err := a.renew(ctx, now, got); err != nil || len(lost) != 0 || live != 2 {
		t.Fatalf("renew: lost=%v live=%d err=%v", lost, live, err)
	}
	if ttl := rdb.PTTL(ctx, device.LeaseKey(prefix, "d1")).Val(); ttl < 9*time.Second {
		t.Fatalf("renew did not extend: %s", ttl)
	}
	rdb.Del(ctx, device.LeaseKey(prefix, "d2"))
	if lost, _, _ := a.renew(ctx, now, got); len(lost) != 1 || lost[0] != "d2" {
		t.Fatalf("lost lease not reported: %v", lost)
	}
	// Once free, b can take it; a's old token is useless.
	if got3, _ := b.acquire(ctx, []string{"d2"}); got3["d2"] == "" {
		t.Fatal("b could not take the expired lease")
	}
	if ok, _ := a.release(ctx, "d2", got["d2"]); ok {
		t.Fatal("a released b's lease with its old token")
	}
	if ok, _ := a.release(ctx, "d1", got["d1"]); !ok {
		t.Fatal("a could not release its own lease")
	}
}

func TestLeaseLiveWorkersExpire(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	a := &leases{rdb: rdb, prefix: prefix, worker: "a", ttl: 10 * time.Second}
	b := &leases{rdb: rdb, prefix: prefix, worker: "b", ttl: 10 * time.Second}
	if _, live, _ := a.renew(ctx, t0, nil); live != 1 {
		t.Fatalf("live %d", live)
	}
	if _, live, _ := b.renew(ctx, t0.Add(5*time.Second), nil); live != 2 {
		t.Fatalf("live %d", live)
	}
	// a's heartbeat is older than the TTL at t0+11s: it no longer counts.
	if _, live, _ := b.renew(ctx, t0.Add(11*time.Second), nil); live != 1 {
		t.Fatalf("a crashed worker still counted: live %d", live)
	}
}

func TestFairShare(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ devices, live, capacity, want int }{
		{0, 1, 10, 0}, {4, 1, 10, 4}, {4, 2, 10, 2}, {5, 2, 10, 3}, {6, 3, 10, 2}, {7, 3, 10, 3},
		{100, 1, 10, 10}, {3, 0, 10, 3}, {1, 5, 10, 1},
	} {
		if got := fairShare(tt.devices, tt.live, tt.capacity); got != tt.want {
			t.Errorf("fairShare(%d, %d, %d) = %d, want %d", tt.devices, tt.live, tt.capacity, got, tt.want)
		}
	}
}

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestFencingWindow: a worker trusts its leases only until a safety margin
// before they could expire, counted from the start of the last renewal that
// worked; a failed renewal does not extend it.
func TestFencingWindow(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	w := newTestWorker(rdb, prefix, clk.now)
	ctx := context.Background()

	until, ok := w.balance(ctx)
	if !ok || !until.Equal(clk.t.Add(12*time.Second)) {
		t.Fatalf("window end %s, ok=%v; want start+TTL-TTL/5", until, ok)
	}
	clk.t = clk.t.Add(11 * time.Second)
	if !w.leaseValid(clk.t) {
		t.Fatal("lease not valid inside the window")
	}
	// Redis goes away: renewal fails and the window is not extended.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	defer dead.Close()
	w.leases.rdb = dead
	if _, ok := w.balance(ctx); ok {
		t.Fatal("balance reported success without Redis")
	}
	clk.t = clk.t.Add(time.Second)
	if w.leaseValid(clk.t) {
		t.Fatal("lease still trusted after the window closed without a renewal")
	}
}

func newTestWorker(rdb redis.UniversalClient, prefix string, now func() time.Time) *Worker {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return New(Config{ID: "w-test", Prefix: prefix, LeaseTTL: 15 * time.Second}, Deps{
		Log: log, Redis: rdb, Status: status.NewStore(rdb, prefix, time.Hour),
		Registry: device.NewRegistry(rdb, prefix), Metrics: metrics.New("test"), Now: now,
	})
}

func TestPacer(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 25, 23, 59, 0, 0, time.UTC)
	p := newPacer(60, 3, 0) // one a second, no jitter, 3 a day
	var waits []time.Duration
	for range 3 {
		w, capped := p.reserve(t0)
		if capped {
			t.Fatal("capped early")
		}
		waits = append(waits, w)
	}
	if waits[0] != 0 || waits[1] != time.Second || waits[2] != 2*time.Second {
		t.Fatalf("waits %v", waits)
	}
	if w, capped := p.reserve(t0); !capped || w != time.Minute {
		t.Fatalf("cap: wait %s capped %v; want until midnight UTC", w, capped)
	}
	// A new UTC day resets the count.
	if _, capped := p.reserve(t0.Add(2 * time.Minute)); capped {
		t.Fatal("still capped the next day")
	}
	j := newPacer(60, 0, 0.3)
	j.reserve(t0)
	for range 50 {
		w, _ := j.reserve(t0)
		_ = w
	}
	if d := j.next.Sub(t0); d < 35*time.Second || d > 67*time.Second {
		t.Fatalf("51 jittered gaps of 1s±30%% ended at %s", d)
	}
	off := newPacer(0, 0, 0.3)
	if w, _ := off.reserve(t0); w != 0 {
		t.Fatal("pacing off still waits")
	}
}

// TestSandboxSendFenced: a sandbox send is recorded only while the pool's
// lease is still its own, checked atomically with the write, as WhatsApp
// refuses a replaced stream.
func TestSandboxSendFenced(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	ctx := context.Background()
	a := &leases{rdb: rdb, prefix: prefix, worker: "a", ttl: 10 * time.Second}
	b := &leases{rdb: rdb, prefix: prefix, worker: "b", ttl: 10 * time.Second}
	got, err := a.acquire(ctx, []string{"d1"})
	if err != nil || got["d1"] == "" {
		t.Fatalf("acquire: %v %v", got, err)
	}
	logKey := prefix + "sandbox:log:d1"
	l := sendLog{rdb: rdb, key: logKey, worker: "a", leaseKey: a.key("d1"), lease: a.value(got["d1"])}
	if err := l.add(ctx, "M1"); err != nil {
		t.Fatalf("send under the lease: %v", err)
	}
	// The lease expires and b takes the device: a's next send is refused.
	rdb.Del(ctx, a.key("d1"))
	if got2, _ := b.acquire(ctx, []string{"d1"}); got2["d1"] == "" {
		t.Fatal("b could not take the device")
	}
	err = l.add(ctx, "M2")
	if !errors.Is(err, ErrNotOwner) {
		t.Fatalf("send after the takeover: err = %v, want ErrNotOwner", err)
	}
	if v := Classify(err); v.Class != Wait || v.Reason != ReasonNotOwner {
		t.Fatalf("classified %+v, want a wait for not_owner", v)
	}
	entries := rdb.LRange(ctx, logKey, 0, -1).Val()
	if len(entries) != 1 || !strings.HasPrefix(entries[0], "a|") || !strings.HasSuffix(entries[0], "|M1") {
		t.Fatalf("log = %q, want only a's first send", entries)
	}
	if ns, err := strconv.ParseInt(strings.Split(entries[0], "|")[1], 10, 64); err != nil || time.Since(time.Unix(0, ns)).Abs() > time.Minute {
		t.Fatalf("entry time %q not a current unix-nanos stamp (%v)", entries[0], err)
	}
}
