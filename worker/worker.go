// Package worker is wacard's sending side: per-device pools that take
// messages from each device's own asynq queue and send them through WhatsApp
// (whatsmeow) or a sandbox, recording every state change. It never imports
// the producer.
package worker

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/internal/metrics"
	"github.com/wacard/wacard/internal/status"
	"github.com/wacard/wacard/worker/whatsapp"
)

// Config tunes a Worker. Zero values take the defaults in withDefaults.
type Config struct {
	ID                 string
	Prefix             string
	Concurrency        int
	MaxRetry           int
	SendTimeout        time.Duration
	OfflineGrace       time.Duration
	SandboxFailSuffix  string
	SandboxFlakySuffix string
	// SandboxTimelockSuffix: recipients ending in it meet WhatsApp's
	// reach-out timelock (error 463) once, pausing the device.
	SandboxTimelockSuffix string
	TimelockPause         time.Duration // how long a 463 pauses a device
	// Sandbox receipts (0 = none) and simulated login.
	SandboxDeliveredAfter, SandboxReadAfter time.Duration
	SandboxLoginAfter, SandboxQRRotate      time.Duration

	PollInterval    time.Duration // asynq's poll while a pool is active
	ActiveCheck     time.Duration // how often an active pool checks for idleness
	IdleTail        time.Duration // idle time before an active pool stops its server
	SweepInterval   time.Duration // how often an idle pool looks at its queue
	ShutdownTimeout time.Duration // how long in-flight sends may finish on stop

	LeaseTTL      time.Duration // how long a device lease lives without renewal
	Capacity      int           // most devices this worker holds
	PacePerMinute int           // default sends per minute per device; 0 = no pacing
	DailyCap      int           // default sends per device per UTC day; 0 = none
	PaceJitter    float64       // random spread of the pace interval, 0..1
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	def(&c.SendTimeout, 30*time.Second)
	def(&c.OfflineGrace, 24*time.Hour)
	def(&c.PollInterval, 50*time.Millisecond)
	def(&c.ActiveCheck, time.Second)
	def(&c.IdleTail, 3*time.Second)
	def(&c.SweepInterval, 10*time.Second)
	def(&c.ShutdownTimeout, 10*time.Second)
	def(&c.LeaseTTL, 15*time.Second)
	def(&c.TimelockPause, 15*time.Minute)
	def(&c.SandboxLoginAfter, 6*time.Second)
	def(&c.SandboxQRRotate, 2*time.Second)
	if c.Capacity == 0 {
		c.Capacity = 1000
	}
	if c.PaceJitter == 0 {
		c.PaceJitter = 0.3
	}
	return c
}

// sessionStore opens WhatsApp sessions; *whatsapp.Store implements it.
type sessionStore interface {
	Session(ctx context.Context, jid types.JID, opts whatsapp.Options) (*whatsapp.Session, error)
	LoginFlow(ctx context.Context, pairPhone string, opts whatsapp.Options) (<-chan whatsapp.LoginUpdate, error)
}

var _ sessionStore = (*whatsapp.Store)(nil)

// Deps are the Worker's collaborators, owned by the caller.
type Deps struct {
	Log      *slog.Logger
	Redis    redis.UniversalClient
	Status   *status.Store
	Registry *device.Registry
	Metrics  *metrics.Metrics
	// WhatsApp opens sessions for WhatsApp devices; nil means this worker only
	// serves sandbox devices.
	WhatsApp sessionStore
	// ClientHook is passed to every whatsmeow client; tests use it to reach a
	// fake WhatsApp server. Production leaves it nil.
	ClientHook func(*whatsmeow.Client)
	Now        func() time.Time
}

// Worker holds devices and runs a pool for each.
type Worker struct {
	cfg        Config
	log        *slog.Logger
	rdb        redis.UniversalClient
	status     *status.Store
	registry   *device.Registry
	metrics    *metrics.Metrics
	wa         sessionStore
	clientHook func(*whatsmeow.Client)
	now        func() time.Time
	inspector  *asynq.Inspector
	watcher    *device.Watcher

	leases *leases

	mu         sync.Mutex
	pools      map[string]*poolRun
	validUntil time.Time            // leases are surely ours until then
	lastOwner  map[string]string    // device -> owner seen at the last look
	cooldown   map[string]time.Time // devices not to take again before then
}

type poolRun struct {
	p      *pool
	token  string
	cancel context.CancelFunc
}

// New returns a Worker.
func New(cfg Config, d Deps) *Worker {
	if d.Now == nil {
		d.Now = time.Now
	}
	cfg = cfg.withDefaults()
	return &Worker{
		cfg:        cfg,
		log:        d.Log.With("worker", cfg.ID),
		rdb:        d.Redis,
		status:     d.Status,
		registry:   d.Registry,
		metrics:    d.Metrics,
		wa:         d.WhatsApp,
		clientHook: d.ClientHook,
		now:        d.Now,
		inspector:  asynq.NewInspectorFromRedisClient(d.Redis),
		watcher:    device.NewWatcher(d.Registry, d.Log, 10*time.Second),
		pools:      map[string]*poolRun{},
		lastOwner:  map[string]string{},
		cooldown:   map[string]time.Time{},
		leases:     &leases{rdb: d.Redis, prefix: cfg.Prefix, worker: cfg.ID, ttl: cfg.LeaseTTL},
	}
}

func (w *Worker) pool(id string) *pool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if pr, ok := w.pools[id]; ok {
		return pr.p
	}
	return nil
}

// listenWake wakes a pool when the producer announces work for its device.
func (w *Worker) listenWake(ctx context.Context) {
	w.listen(ctx, job.WakeChannel(w.cfg.Prefix), func(id string) {
		if p := w.pool(id); p != nil {
			p.wake()
		}
	})
}

// listen calls fn with each message published on channel until ctx ends.
func (w *Worker) listen(ctx context.Context, channel string, fn func(payload string)) {
	sub := w.rdb.Subscribe(ctx, channel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			fn(m.Payload)
		}
	}
}

// dailyKey counts a device's sends on now's UTC day (for the daily cap).
func (w *Worker) dailyKey(deviceID string, now time.Time) string {
	return w.cfg.Prefix + "sent:" + deviceID + ":" + now.UTC().Format("2006-01-02")
}

// receipt moves messages forward on a delivery or read receipt. Records never
// move backwards (status.Store refuses), so duplicate or late receipts are harmless.
func (w *Worker) receipt(deviceID string, r whatsapp.Receipt) {
	to := status.Delivered
	if r.Type == "read" {
		to = status.Read
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, id := range r.IDs {
		if _, _, err := w.status.Move(ctx, id, status.Change{To: to}); err != nil && !errors.Is(err, status.ErrNotFound) {
			w.log.Warn("could not record receipt", "device_id", deviceID, "message_id", id, "err", err)
		}
	}
}

func (w *Worker) observeQueue(deviceID string, q queueState) {
	w.metrics.QueueSize.WithLabelValues(deviceID, "pending").Set(float64(q.Pending))
	w.metrics.QueueSize.WithLabelValues(deviceID, "active").Set(float64(q.Active))
	w.metrics.QueueSize.WithLabelValues(deviceID, "scheduled").Set(float64(q.Scheduled))
	w.metrics.QueueSize.WithLabelValues(deviceID, "retry").Set(float64(q.Retry))
	age := 0.0
	if !q.OldestPending.IsZero() {
		age = max(0, w.now().Sub(q.OldestPending).Seconds())
	}
	w.metrics.QueueOldestAge.WithLabelValues(deviceID).Set(age)
}

// expire fails and removes every waiting task of queue accepted before cutoff.
func (w *Worker) expire(ctx context.Context, queue string, cutoff time.Time, reason string) (int, error) {
	n := 0
	lists := []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		w.inspector.ListPendingTasks, w.inspector.ListScheduledTasks, w.inspector.ListRetryTasks,
	}
	for _, list := range lists {
		for page := 1; ; page++ {
			tasks, err := list(queue, asynq.Page(page), asynq.PageSize(500))
			if errors.Is(err, asynq.ErrQueueNotFound) {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			before := n
			var del []string
			for _, t := range tasks {
				pl, err := job.Decode(t.Payload)
				if err == nil && pl.AcceptedAt.Before(cutoff) {
					del = append(del, t.ID)
				}
			}
			for _, id := range del {
				if err := w.inspector.DeleteTask(queue, id); err != nil {
					continue
				}
				w.status.Move(ctx, id, status.Change{To: status.Failed, LastError: reason, ErrorClass: string(ReasonExpired)}) //nolint:errcheck // best effort; the task is gone
				w.metrics.Failed.WithLabelValues(deviceOfQueue(w.cfg.Prefix, queue), string(ReasonExpired)).Inc()
				n++
			}
			if len(tasks) < 500 {
				break
			}
			if n > before {
				page-- // deleted tasks shift the pages
			}
		}
	}
	return n, nil
}

// deviceOfQueue is the inverse of job.QueueName.
func deviceOfQueue(prefix, queue string) string { return strings.TrimPrefix(queue, prefix+"dev:") }
