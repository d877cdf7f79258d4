package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/internal/msgid"
	"github.com/wacard/wacard/internal/status"
)

// Accepter turns validated payloads into queued messages: a status record,
// then an asynq task whose TaskID is the WhatsApp message ID, on the device's
// own queue.
type Accepter struct {
	rdb       redis.UniversalClient
	enq       *asynq.Client
	status    *status.Store
	insp      *asynq.Inspector
	pipeOnce  sync.Once
	piped     acceptPath // see pipelined
	wake      *waker
	prefix    string
	idemTTL   time.Duration
	retention time.Duration
	batchTTL  time.Duration
	now       func() time.Time
	log       *slog.Logger
}

// AccepterConfig configures an Accepter.
type AccepterConfig struct {
	Prefix            string
	IdempotencyWindow time.Duration
	TaskRetention     time.Duration // how long asynq keeps a finished task (dedupes TaskID)
	StatusRetention   time.Duration // how long batch records are kept; set it to the status store's retention (default 7 days)
}

// NewAccepter returns an Accepter; call Close when done.
func NewAccepter(rdb redis.UniversalClient, st *status.Store, cfg AccepterConfig, log *slog.Logger) *Accepter {
	if cfg.TaskRetention == 0 {
		cfg.TaskRetention = time.Hour
	}
	if cfg.StatusRetention == 0 {
		cfg.StatusRetention = 7 * 24 * time.Hour
	}
	return &Accepter{
		rdb:       rdb,
		enq:       asynq.NewClientFromRedisClient(rdb),
		insp:      asynq.NewInspectorFromRedisClient(rdb),
		status:    st,
		wake:      newWaker(rdb, job.WakeChannel(cfg.Prefix), log),
		prefix:    cfg.Prefix,
		idemTTL:   cfg.IdempotencyWindow,
		retention: cfg.TaskRetention,
		batchTTL:  cfg.StatusRetention,
		now:       time.Now,
		log:       log,
	}
}

// Close stops the background waker. The Redis client is the caller's.
func (a *Accepter) Close() { a.wake.close() }

// Accepted is the outcome of Accept.
type Accepted struct {
	MessageID string
	Duplicate bool // an earlier request with the same Idempotency-Key was accepted
}

// Accept queues p for its device. With a non-empty idemKey, a repeated key for
// the same device within the window returns the first message's id and queues
// nothing.
func (a *Accepter) Accept(ctx context.Context, p job.Payload, idemKey string) (Accepted, error) {
	p.MessageID = msgid.New()
	p.AcceptedAt = a.now().UTC()
	var ik string
	if idemKey != "" {
		ik = a.idemKey(p.DeviceID, idemKey)
		first, dup, err := a.claimIdem(ctx, ik, p.MessageID)
		if err != nil {
			return Accepted{}, err
		}
		if dup {
			return Accepted{MessageID: first, Duplicate: true}, nil
		}
	}
	piped := a.pipelined()
	if err := piped.status.Create(ctx, recordOf(p)); err != nil {
		a.releaseIdem(ik)
		return Accepted{}, err
	}
	if err := a.enqueueOn(ctx, piped.enq, p); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		a.releaseIdem(ik)
		// The client is told it failed, so the record must not stay "queued".
		_, _, _ = a.status.Move(context.WithoutCancel(ctx), p.MessageID, status.Change{To: status.Failed, LastError: "not queued: " + err.Error(), ErrorClass: "internal"})
		return Accepted{}, err
	}
	a.wake.notify(p.DeviceID)
	return Accepted{MessageID: p.MessageID}, nil
}

func (a *Accepter) idemKey(device, key string) string { return a.prefix + "idem:" + device + ":" + key }

// claimIdem stores id under key unless the key is taken; then it returns the
// id stored first.
func (a *Accepter) claimIdem(ctx context.Context, key, id string) (first string, dup bool, err error) {
	prev, err := a.rdb.SetArgs(ctx, key, id, redis.SetArgs{Mode: "NX", TTL: a.idemTTL, Get: true}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return id, false, nil
	case err != nil:
		return "", false, fmt.Errorf("idempotency key: %w", err)
	}
	return prev, true, nil
}

func (a *Accepter) releaseIdem(key string) {
	if key != "" {
		a.rdb.Del(context.Background(), key)
	}
}

// acceptPath is the status store and asynq client the accept path writes
// through.
type acceptPath struct {
	status *status.Store
	enq    *asynq.Client
}

// pipelined returns the accept path over go-redis's autopipeliner: the
// status and enqueue scripts of concurrent requests share round trips (and
// Redis's read and write calls), which is most of what a request costs.
// Clients that cannot autopipeline (a Ring) get the plain path. A conflict
// on enqueue can only be this very task (message ids are fresh): the
// autopipeliner resent a batch the server had already run.
func (a *Accepter) pipelined() acceptPath {
	a.pipeOnce.Do(func() {
		a.piped = acceptPath{status: a.status, enq: a.enq}
		if ap, err := a.rdb.AutoPipeline(); err == nil {
			a.piped = acceptPath{status: a.status.WithClient(ap), enq: asynq.NewClientFromRedisClient(ap)}
		}
	})
	return a.piped
}

// enqueueOn enqueues p's task through c.
func (a *Accepter) enqueueOn(ctx context.Context, c *asynq.Client, p job.Payload) error {
	b, err := p.Encode()
	if err != nil {
		return fmt.Errorf("encode payload: %w", err)
	}
	t := asynq.NewTask(job.TypeSend, b,
		asynq.TaskID(p.MessageID),
		asynq.Queue(job.QueueName(a.prefix, p.DeviceID)),
		// asynq archives a task once its retry count reaches MaxRetry, even for
		// waits that are not failures; the worker enforces the real attempt
		// budget (WACARD_MAX_RETRY) itself, so asynq gets a budget never reached.
		asynq.MaxRetry(job.AsynqMaxRetry),
		asynq.Timeout(5*time.Minute),
		asynq.Retention(a.retention),
	)
	if _, err := c.EnqueueContext(ctx, t); err != nil {
		return fmt.Errorf("enqueue %s: %w", p.MessageID, err)
	}
	return nil
}

func recordOf(p job.Payload) status.Record {
	return status.Record{
		MessageID: p.MessageID,
		DeviceID:  p.DeviceID,
		Recipient: p.To,
		Kind:      string(p.Kind),
		BatchID:   p.BatchID,
		CreatedAt: p.AcceptedAt,
	}
}
