package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"go.mau.fi/whatsmeow/types"

	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/worker/whatsapp"
)

// pool sends one device's messages. It runs an asynq server on the device's
// own queue only while there is work: a wake from the producer (or the
// periodic sweep) starts it, and it stops after the queue has been idle for a
// short tail. An idle device therefore costs a few Redis commands per sweep,
// and a lone message is picked up within milliseconds of the wake.
type pool struct {
	w     *Worker
	dev   device.Device
	queue string
	log   *slog.Logger
	kick  chan struct{}
	done  chan struct{}

	pace  *pacer
	token string // this pool's lease token: the sandbox fences its sends with it

	mu        sync.Mutex
	c         conn
	paused    bool
	pauseWhy  string
	pauseTill time.Time
	pausedAt  time.Time // when this pool last paused itself
	connState device.Conn
	connWhy   string

	ctx         context.Context // the pool's life, for work it starts (logins)
	loginGen    int             // the latest login; older ones stop writing
	loginCancel context.CancelFunc

	// Touched only by run's goroutine.
	srv        *asynq.Server
	idleSince  time.Time
	lastExpire time.Time
}

func newPool(w *Worker, d device.Device, token string) *pool {
	return &pool{
		w:         w,
		token:     token,
		dev:       d,
		queue:     job.QueueName(w.cfg.Prefix, d.ID),
		log:       w.log.With("device_id", d.ID),
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		c:         offlineConn{err: ErrDeviceOffline},
		connState: device.ConnConnecting,
		pace:      newPacer(pick(d.PacePerMinute, w.cfg.PacePerMinute), pick(d.DailyCap, w.cfg.DailyCap), w.cfg.PaceJitter),
	}
}

// pick returns the device's override, or the worker default.
func pick(override *int, def int) int {
	if override != nil {
		return *override
	}
	return def
}

// update applies a changed registration (pacing overrides) and the device's
// recorded pause, if any, as read at readAt. A pause this pool set after
// readAt is newer than that snapshot and is kept.
func (p *pool) update(d device.Device, pz device.Pause, paused bool, readAt time.Time) {
	p.pace.set(pick(d.PacePerMinute, p.w.cfg.PacePerMinute), pick(d.DailyCap, p.w.cfg.DailyCap))
	p.mu.Lock()
	if !paused && p.paused && !p.pausedAt.Before(readAt) {
		p.mu.Unlock()
		return
	}
	changed := paused != p.paused || pz.Reason != p.pauseWhy || !timeEq(pz.Until, p.pauseTill)
	if paused {
		p.paused, p.pauseWhy, p.pauseTill = true, pz.Reason, deref(pz.Until)
	} else {
		p.paused, p.pauseWhy, p.pauseTill = false, "", time.Time{}
	}
	if changed {
		p.publishStateLocked()
	}
	p.mu.Unlock()
	if changed {
		p.wake()
	}
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func timeEq(a *time.Time, b time.Time) bool { return deref(a).Equal(b) }

// wake asks the pool to look at its queue now.
func (p *pool) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *pool) conn() conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.c
}

// run drives the pool until ctx ends, then stops taking work, lets in-flight
// sends finish (asynq's shutdown timeout) and disconnects.
func (p *pool) run(ctx context.Context) {
	defer close(p.done)
	p.mu.Lock()
	p.ctx = ctx
	p.mu.Unlock()
	p.w.metrics.DeviceOwned.WithLabelValues(p.dev.ID).Set(1)
	defer p.w.metrics.DeviceOwned.DeleteLabelValues(p.dev.ID)
	defer p.w.metrics.QueueSize.DeletePartialMatch(map[string]string{"device": p.dev.ID})
	defer p.w.metrics.QueueOldestAge.DeleteLabelValues(p.dev.ID)
	defer p.w.metrics.DevicePaused.DeletePartialMatch(map[string]string{"device": p.dev.ID})
	p.restore(ctx)
	if n, err := recoverOrphans(ctx, p.w.rdb, p.queue); err != nil {
		p.log.Warn("could not recover tasks a previous holder left active", "err", err)
	} else if n > 0 {
		p.log.Warn("re-queued tasks a previous holder left in flight", "count", n)
	}
	p.open(ctx)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			p.stopServer()
			p.conn().Close()
			p.w.metrics.DeviceConnected.DeleteLabelValues(p.dev.ID)
			return
		case <-p.kick:
		case <-timer.C:
		}
		next := p.tick(ctx)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// tick decides whether the asynq server should run and when to look again.
func (p *pool) tick(ctx context.Context) time.Duration {
	now := p.w.now()
	ready, pausedFor := p.canSend(now)
	if !ready || pausedFor > 0 {
		p.stopServer()
		p.expireWaiting(ctx, now)
		if q, err := peekQueue(ctx, p.w.rdb, p.queue); err == nil {
			p.w.observeQueue(p.dev.ID, q) // keep the backlog visible while the device cannot send
		}
		next := min(p.w.cfg.SweepInterval, max(time.Second, p.w.cfg.OfflineGrace/4))
		if pausedFor > 0 && pausedFor < next {
			return pausedFor
		}
		return next
	}
	q, err := peekQueue(ctx, p.w.rdb, p.queue)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("queue check failed", "err", err)
		}
		return time.Second
	}
	p.w.observeQueue(p.dev.ID, q)
	dueNow := !q.NextDue.IsZero() && !q.NextDue.After(now)
	busy := q.Pending+q.Active > 0 || dueNow
	if p.srv != nil {
		soon := !q.NextDue.IsZero() && q.NextDue.Sub(now) < p.w.cfg.IdleTail
		switch {
		case busy || soon:
			p.idleSince = time.Time{}
		case p.idleSince.IsZero():
			p.idleSince = now
		case now.Sub(p.idleSince) >= p.w.cfg.IdleTail:
			p.stopServer()
			return p.nextSweep(q, now)
		}
		return p.w.cfg.ActiveCheck
	}
	if busy {
		p.startServer()
		return p.w.cfg.ActiveCheck
	}
	return p.nextSweep(q, now)
}

func (p *pool) nextSweep(q queueState, now time.Time) time.Duration {
	d := p.w.cfg.SweepInterval
	if !q.NextDue.IsZero() {
		if until := q.NextDue.Sub(now); until < d {
			d = max(until, 10*time.Millisecond)
		}
	}
	return d
}

// canSend reports whether the connection is ready and, if the device is
// paused with an end time, how long the pause still lasts.
func (p *pool) canSend(now time.Time) (ready bool, pausedFor time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		if p.pauseTill.IsZero() || now.Before(p.pauseTill) {
			left := time.Hour
			if !p.pauseTill.IsZero() {
				left = p.pauseTill.Sub(now)
			}
			return p.c.Ready(), left
		}
		p.paused, p.pauseWhy, p.pauseTill = false, "", time.Time{}
		p.publishStateLocked()
		go p.w.registry.ClearPause(context.Background(), p.dev.ID) //nolint:errcheck // an expired pause is ignored anyway
	}
	return p.c.Ready(), 0
}

// pause stops the device's queue until `until` (zero = until resumed). Its
// messages stay queued. The pause is recorded in Redis, so it holds on
// whichever worker holds the device next.
func (p *pool) pause(reason string, until time.Time) {
	p.mu.Lock()
	p.paused, p.pauseWhy, p.pauseTill = true, reason, until
	p.pausedAt = p.w.now()
	p.publishStateLocked()
	p.mu.Unlock()
	pz := device.Pause{Reason: reason, By: p.w.cfg.ID}
	if !until.IsZero() {
		pz.Until = &until
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.w.registry.SetPause(ctx, p.dev.ID, pz); err != nil {
		p.log.Warn("could not record the pause", "err", err)
	}
	p.log.Warn("device paused", "reason", reason, "until", until)
	p.wake()
}

func (p *pool) setConn(s device.Conn, detail string) {
	p.mu.Lock()
	p.connState, p.connWhy = s, detail
	p.publishStateLocked(detail)
	p.mu.Unlock()
	v := 0.0
	if s == device.ConnConnected {
		v = 1
	}
	p.w.metrics.DeviceConnected.WithLabelValues(p.dev.ID).Set(v)
	p.wake()
}

// publishStateLocked writes the device's runtime state for the API. p.mu is held.
func (p *pool) publishStateLocked(detail ...string) {
	st := device.State{Conn: p.connState, Worker: p.w.cfg.ID, Paused: p.paused, PauseReason: p.pauseWhy}
	if !p.pauseTill.IsZero() {
		until := p.pauseTill
		st.PausedUntil = &until
	}
	if len(detail) > 0 {
		st.Detail = detail[0]
	}
	p.w.metrics.DevicePaused.DeletePartialMatch(map[string]string{"device": p.dev.ID})
	if p.paused {
		p.w.metrics.DevicePaused.WithLabelValues(p.dev.ID, p.pauseWhy).Set(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.w.registry.SetState(ctx, p.dev.ID, st); err != nil {
		p.log.Warn("could not record device state", "err", err)
	}
}

// open sets up the device's connection: a sandbox at once, a WhatsApp session
// in the background (connecting can take a while and must not hold the pool).
func (p *pool) open(ctx context.Context) {
	if p.dev.Kind == device.KindSandbox {
		p.mu.Lock()
		p.c = &sandboxConn{failSuffix: p.w.cfg.SandboxFailSuffix, flakySuffix: p.w.cfg.SandboxFlakySuffix,
			timelockSuffix: p.w.cfg.SandboxTimelockSuffix,
			deliveredAfter: p.w.cfg.SandboxDeliveredAfter, readAfter: p.w.cfg.SandboxReadAfter,
			onReceipt: func(r whatsapp.Receipt) { p.w.receipt(p.dev.ID, r) },
			log: sendLog{rdb: p.w.rdb, key: p.w.cfg.Prefix + "sandbox:log:" + p.dev.ID, worker: p.w.cfg.ID,
				leaseKey: p.w.leases.key(p.dev.ID), lease: p.w.leases.value(p.token)}}
		p.mu.Unlock()
		p.setConn(device.ConnConnected, "sandbox")
		return
	}
	if p.dev.JID == "" {
		p.setConn(device.ConnNotPaired, "run `wacard device login "+p.dev.ID+"`")
		return
	}
	if p.w.wa == nil {
		p.setConn(device.ConnDisconnected, "this worker has no WhatsApp store")
		return
	}
	go p.connect(ctx)
}

// connect opens and connects the WhatsApp session, retrying with backoff.
func (p *pool) connect(ctx context.Context) {
	jid, err := types.ParseJID(p.dev.JID)
	if err != nil {
		p.setConn(device.ConnLoggedOut, "stored JID is invalid: "+err.Error())
		return
	}
	sess, err := p.w.wa.Session(ctx, jid, whatsapp.Options{OnEvent: p.onEvent, Log: p.log, ClientHook: p.w.clientHook})
	if errors.Is(err, whatsapp.ErrUnknownDevice) {
		p.setConn(device.ConnLoggedOut, "not in this worker's device store: log the device in again")
		return
	}
	if err != nil {
		p.setConn(device.ConnDisconnected, err.Error())
		return
	}
	p.mu.Lock()
	p.c = waConn{s: sess}
	p.mu.Unlock()
	backoff := time.Second
	for ctx.Err() == nil {
		p.setConn(device.ConnConnecting, "")
		err := sess.Connect(ctx)
		if err == nil {
			p.setConn(device.ConnConnected, "")
			return
		}
		if errors.Is(err, whatsapp.ErrLoggedOut) {
			p.setConn(device.ConnLoggedOut, err.Error())
			return
		}
		p.setConn(device.ConnDisconnected, err.Error())
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Minute)
	}
}

// onEvent handles the session's events (from whatsmeow's goroutines).
func (p *pool) onEvent(e whatsapp.Event) {
	switch e := e.(type) {
	case whatsapp.Connected:
		p.setConn(device.ConnConnected, "")
	case whatsapp.Disconnected:
		p.setConn(device.ConnDisconnected, "connection lost; reconnecting")
	case whatsapp.LoggedOut:
		p.setConn(device.ConnLoggedOut, e.Reason)
	case whatsapp.StreamReplaced:
		p.setConn(device.ConnDisconnected, "another process connected this device; giving it up")
		p.w.giveUp(p.dev.ID)
	case whatsapp.Timelock:
		p.pause(string(ReasonTimelock), e.Until)
	case whatsapp.Receipt:
		p.w.receipt(p.dev.ID, e)
	}
}

// restore loads what a previous holder left: the pause and today's send count.
func (p *pool) restore(ctx context.Context) {
	if pz, ok, err := p.w.registry.GetPause(ctx, p.dev.ID); err == nil && ok && pz.Active(p.w.now()) {
		p.update(p.dev, pz, true, p.w.now())
	}
	if n, err := p.w.rdb.Get(ctx, p.w.dailyKey(p.dev.ID, p.w.now())).Int(); err == nil {
		p.pace.restore(p.w.now(), n)
	}
}

func (p *pool) startServer() {
	conc := p.w.cfg.Concurrency
	if p.pace.paced() {
		conc = 1 // paced sends go one at a time anyway
	}
	srv := asynq.NewServerFromRedisClient(p.w.rdb, asynq.Config{
		Concurrency:              conc,
		Queues:                   map[string]int{p.queue: 1},
		TaskCheckInterval:        p.w.cfg.PollInterval,
		DelayedTaskCheckInterval: 500 * time.Millisecond,
		RetryDelayFunc:           retryDelay,
		IsFailure:                isFailure,
		ShutdownTimeout:          p.w.cfg.ShutdownTimeout,
		Logger:                   asynqLogger{p.log},
		LogLevel:                 asynq.WarnLevel,
	})
	if err := srv.Start(asynq.HandlerFunc(p.handle)); err != nil {
		p.log.Error("could not start the device's queue server", "err", err)
		return
	}
	p.srv, p.idleSince = srv, time.Time{}
	p.log.Debug("queue server started")
}

func (p *pool) stopServer() {
	if p.srv == nil {
		return
	}
	p.srv.Shutdown()
	p.srv = nil
	p.log.Debug("queue server stopped")
}

// expireWaiting fails messages that have waited longer than the offline grace
// for a device that cannot send. It runs at most once a minute, and only while
// the device cannot send.
func (p *pool) expireWaiting(ctx context.Context, now time.Time) {
	every := min(time.Minute, max(time.Second, p.w.cfg.OfflineGrace/4))
	if now.Sub(p.lastExpire) < every {
		return
	}
	p.lastExpire = now
	n, err := p.w.expire(ctx, p.queue, now.Add(-p.w.cfg.OfflineGrace), fmt.Sprintf("device %s could not send for longer than WACARD_OFFLINE_GRACE (%s)", p.dev.ID, p.w.cfg.OfflineGrace))
	if err != nil && ctx.Err() == nil {
		p.log.Warn("expiring waiting messages failed", "err", err)
	}
	if n > 0 {
		p.log.Warn("messages expired waiting for their device", "count", n)
	}
}

// pausedNow reports whether the device is paused at now, and why.
func (p *pool) pausedNow(now time.Time) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused && (p.pauseTill.IsZero() || now.Before(p.pauseTill)) {
		return p.pauseWhy, true
	}
	return "", false
}
