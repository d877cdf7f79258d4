package worker

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/wacard/wacard/internal/device"
)

// Run holds devices and sends their messages until ctx ends. Each device is
// held through a Redis lease (see leases): the worker takes unowned devices up
// to its fair share, gives up its surplus when workers join, and takes over a
// crashed worker's devices once their leases expire. On return every pool has
// stopped (in-flight sends finished or re-queued) and every lease is released.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.watcher.Load(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wctx, stopBackground := context.WithCancel(ctx)
	wg.Add(3)
	go func() { defer wg.Done(); w.watcher.Run(wctx) }()
	go func() { defer wg.Done(); w.listenWake(wctx) }()
	go func() { defer wg.Done(); w.listenLogin(wctx) }()
	defer func() {
		w.releaseAll()
		stopBackground()
		wg.Wait()
	}()
	w.log.Info("worker started", "lease_ttl", w.cfg.LeaseTTL, "capacity", w.cfg.Capacity)

	tick := time.NewTicker(w.cfg.LeaseTTL / 3)
	defer tick.Stop()
	fence := time.NewTimer(time.Hour)
	defer fence.Stop()
	for {
		if until, ok := w.balance(ctx); ok {
			resetTimer(fence, until.Sub(w.now()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.watcher.Changed():
		case <-tick.C:
		case <-fence.C:
			// No renewal succeeded in time: the leases may expire soon and
			// another worker may take the devices. Stop sending now.
			w.log.Error("could not renew device leases in time; stopping every device (fencing)")
			w.dropAll()
		}
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(max(d, 0))
}

// leaseValid reports whether this worker's leases are certainly still its own
// at now. Pools check it before every send.
func (w *Worker) leaseValid(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return now.Before(w.validUntil)
}

func (w *Worker) leaseDeadline() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.validUntil
}

// balance renews the held leases, then takes or gives up devices to reach the
// fair share. It returns the new end of the safe window when renewal worked.
func (w *Worker) balance(ctx context.Context) (time.Time, bool) {
	start := w.now()
	held := w.heldTokens()
	rctx, cancel := context.WithTimeout(ctx, w.cfg.LeaseTTL/3)
	lost, live, err := w.leases.renew(rctx, start, held)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("lease renewal failed", "err", err)
		}
		return time.Time{}, false
	}
	// The leases were extended at some moment after start, so they surely
	// last until start+TTL; stop a safety margin before that.
	until := start.Add(w.cfg.LeaseTTL - w.cfg.LeaseTTL/5)
	w.mu.Lock()
	w.validUntil = until
	w.mu.Unlock()
	for _, id := range lost {
		w.log.Warn("device lease lost; stopping it", "device_id", id)
		w.drop(id)
	}

	devices := w.watcher.All()
	pausesRead := w.now()
	pauses, err := w.registry.Pauses(ctx)
	if err != nil {
		w.log.Warn("reading device pauses failed", "err", err)
	}
	want := make(map[string]device.Device, len(devices))
	for _, d := range devices {
		want[d.ID] = d
	}
	// Devices removed from the registry, or re-registered (new JID after a
	// login, other kind): stop the pool; a changed device restarts below.
	for id, pr := range w.snapshot() {
		d, ok := want[id]
		switch {
		case !ok:
			w.release(ctx, id)
		case d.JID != pr.p.dev.JID || d.Kind != pr.p.dev.Kind:
			w.restart(ctx, id, d)
		default:
			pz, ok := pauses[id]
			pr.p.update(d, pz, ok && pz.Active(start), pausesRead)
		}
	}

	share := fairShare(len(devices), live, w.cfg.Capacity)
	have := len(w.heldTokens())
	if have > share {
		w.shed(ctx, have-share)
		return until, true
	}
	if have < share {
		w.take(ctx, devices, share-have)
	}
	return until, true
}

// take acquires up to n unowned devices.
func (w *Worker) take(ctx context.Context, devices []device.Device, n int) {
	held := w.heldTokens()
	now := w.now()
	var ids []string
	for _, d := range devices {
		if _, ok := held[d.ID]; ok {
			continue
		}
		w.mu.Lock()
		cool := now.Before(w.cooldown[d.ID])
		w.mu.Unlock()
		if !cool {
			ids = append(ids, d.ID)
		}
	}
	if len(ids) == 0 {
		return
	}
	owners, err := w.leases.owners(ctx, ids)
	if err != nil {
		w.log.Warn("reading device owners failed", "err", err)
		return
	}
	var free []string
	w.mu.Lock()
	for _, id := range ids {
		if owners[id] == "" {
			free = append(free, id)
		} else {
			w.lastOwner[id] = owners[id]
		}
	}
	w.mu.Unlock()
	rand.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	if len(free) > n {
		free = free[:n]
	}
	got, err := w.leases.acquire(ctx, free)
	if err != nil {
		w.log.Warn("acquiring device leases failed", "err", err)
		return
	}
	byID := make(map[string]device.Device, len(devices))
	for _, d := range devices {
		byID[d.ID] = d
	}
	for id, tok := range got {
		w.mu.Lock()
		prev := w.lastOwner[id]
		delete(w.lastOwner, id)
		w.mu.Unlock()
		if prev != "" && prev != w.cfg.ID {
			w.metrics.LeaseTakeovers.WithLabelValues(id).Inc()
			w.log.Info("took over device", "device_id", id, "previous_worker", prev)
		}
		w.startPool(ctx, byID[id], tok)
	}
}

// shed gives up n devices, the idlest first, so a joining worker gets its share.
func (w *Worker) shed(ctx context.Context, n int) {
	snap := w.snapshot()
	ids := make([]string, 0, len(snap))
	for id := range snap {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	for _, id := range ids[:min(n, len(ids))] {
		w.log.Info("releasing device to rebalance", "device_id", id)
		w.release(ctx, id)
		w.mu.Lock()
		w.cooldown[id] = w.now().Add(3 * w.cfg.LeaseTTL)
		w.mu.Unlock()
	}
}

func (w *Worker) startPool(ctx context.Context, d device.Device, token string) {
	pctx, cancel := context.WithCancel(ctx)
	p := newPool(w, d, token)
	w.mu.Lock()
	w.pools[d.ID] = &poolRun{p: p, token: token, cancel: cancel}
	w.mu.Unlock()
	go p.run(pctx)
}

// restart replaces a device's pool, keeping its lease.
func (w *Worker) restart(ctx context.Context, id string, d device.Device) {
	w.mu.Lock()
	pr, ok := w.pools[id]
	delete(w.pools, id)
	w.mu.Unlock()
	if !ok {
		return
	}
	stopPools([]*poolRun{pr})
	w.startPool(ctx, d, pr.token)
}

// release stops a device's pool, then gives its lease back.
func (w *Worker) release(ctx context.Context, id string) {
	w.mu.Lock()
	pr, ok := w.pools[id]
	delete(w.pools, id)
	w.mu.Unlock()
	if !ok {
		return
	}
	stopPools([]*poolRun{pr})
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if _, err := w.leases.release(rctx, id, pr.token); err != nil {
		w.log.Warn("lease release failed; it will expire", "device_id", id, "err", err)
	}
}

// drop stops a device's pool without touching the lease (it is not ours any more).
func (w *Worker) drop(id string) {
	w.mu.Lock()
	pr, ok := w.pools[id]
	delete(w.pools, id)
	w.mu.Unlock()
	if ok {
		stopPools([]*poolRun{pr})
	}
}

func (w *Worker) dropAll() {
	for id := range w.snapshot() {
		w.drop(id)
	}
}

// giveUp releases a device another process is using (WhatsApp replaced our
// stream) and keeps away from it for a while instead of fighting for it.
func (w *Worker) giveUp(id string) {
	w.mu.Lock()
	w.cooldown[id] = w.now().Add(5 * w.cfg.LeaseTTL)
	w.mu.Unlock()
	go w.release(context.Background(), id)
}

func (w *Worker) releaseAll() {
	snap := w.snapshot()
	var wg sync.WaitGroup
	for id := range snap {
		wg.Add(1)
		go func() { defer wg.Done(); w.release(context.Background(), id) }()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	w.leases.leave(ctx)
}

func (w *Worker) snapshot() map[string]*poolRun {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]*poolRun, len(w.pools))
	for id, pr := range w.pools {
		out[id] = pr
	}
	return out
}

func (w *Worker) heldTokens() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.pools))
	for id, pr := range w.pools {
		out[id] = pr.token
	}
	return out
}

// Held lists the devices this worker holds now.
func (w *Worker) Held() []string {
	ids := make([]string, 0)
	for id := range w.snapshot() {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// stopPools stops pools in parallel and waits for all of them.
func stopPools(prs []*poolRun) {
	for _, pr := range prs {
		pr.cancel()
	}
	for _, pr := range prs {
		<-pr.p.done
	}
}
