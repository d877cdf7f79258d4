package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/status"
)

// dispatcher moves events from the outbox to delivery tasks. An event is only
// removed from its processing list after its tasks are enqueued, so a crash
// at any point leaves it to be dispatched again; the tasks' ids make that
// second dispatch a no-op for endpoints already enqueued.
type dispatcher struct {
	s          *Service
	enq        *asynq.Client
	outbox     string
	processing string // this dispatcher's in-hand events
	beats      string // hash: dispatcher id -> last heartbeat (unix ms)
	redo       chan struct{}
}

func newDispatcher(s *Service, enq *asynq.Client) *dispatcher {
	return &dispatcher{
		s: s, enq: enq,
		outbox:     s.status.EventsKey(),
		processing: processingKey(s.cfg.Prefix, s.cfg.ID),
		beats:      s.cfg.Prefix + "webhook:dispatchers",
		redo:       make(chan struct{}, 1),
	}
}

func processingKey(prefix, id string) string { return prefix + "webhook:processing:" + id }

// delivery is the payload of one task: one event for one endpoint.
type delivery struct {
	URL   string          `json:"url"`
	Event string          `json:"event"`
	ID    string          `json:"id"`
	Body  json.RawMessage `json:"body"`
}

// taskID makes the task of (event, endpoint) unique while asynq holds it
// (pending, retrying, archived, or completed within TaskRetention).
func taskID(eventID, url string) string {
	sum := sha256.Sum256([]byte(eventID + "\x00" + url))
	return "wh_" + hex.EncodeToString(sum[:16])
}

// run dispatches until ctx ends. The event in hand when ctx ends is finished
// on a context of its own, so a clean stop leaves nothing to take over.
func (d *dispatcher) run(ctx context.Context) {
	d.beat(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { d.watch(ctx) })
	defer wg.Wait()
	d.wantRedo()
	for ctx.Err() == nil {
		select {
		case <-d.redo:
			if err := d.drain(ctx); err != nil {
				d.fail(ctx, "re-dispatching left-over events failed", err)
				continue
			}
		default:
		}
		raw, err := d.s.rdb.BLMove(ctx, d.outbox, d.processing, "LEFT", "RIGHT", time.Second).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			d.fail(ctx, "reading the outbox failed", err)
			continue
		}
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = d.dispatch(hctx, raw)
		cancel()
		if err != nil {
			d.fail(ctx, "dispatching an event failed; it stays for a retry", err)
		}
	}
	// Say goodbye only with nothing in hand; otherwise let the heartbeat go
	// stale so another dispatcher takes the leftovers over.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if n, err := d.s.rdb.LLen(bctx, d.processing).Result(); err == nil && n == 0 {
		d.s.rdb.HDel(bctx, d.beats, d.s.cfg.ID)
	}
}

// fail logs err (unless stopping), asks for the processing list to be
// dispatched again, and waits a moment.
func (d *dispatcher) fail(ctx context.Context, msg string, err error) {
	if ctx.Err() != nil {
		return
	}
	d.s.log.Warn(msg, "err", err)
	d.wantRedo()
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}

func (d *dispatcher) wantRedo() {
	select {
	case d.redo <- struct{}{}:
	default:
	}
}

// drain dispatches everything in this dispatcher's processing list: leftovers
// of an earlier run under the same id, lists taken over from dead dispatchers,
// events whose dispatch failed.
func (d *dispatcher) drain(ctx context.Context) error {
	for ctx.Err() == nil {
		items, err := d.s.rdb.LRange(ctx, d.processing, 0, 99).Result()
		if err != nil {
			return err
		}
		for _, raw := range items {
			if err := d.dispatch(ctx, raw); err != nil {
				return err
			}
		}
		if len(items) < 100 {
			return nil
		}
	}
	return ctx.Err()
}

// dispatch enqueues one task per endpoint that wants the event, then removes
// the event from the processing list.
func (d *dispatcher) dispatch(ctx context.Context, raw string) error {
	var ev status.OutboxEvent
	if err := json.Unmarshal([]byte(raw), &ev); err != nil || !wellFormed(ev) {
		d.s.log.Error("dropping an unreadable outbox entry", "entry", raw, "err", err)
		return d.done(ctx, raw)
	}
	var targets []Endpoint
	for _, e := range d.s.cfg.Endpoints {
		if e.Wants(ev.Event) {
			targets = append(targets, e)
		}
	}
	if len(targets) > 0 {
		body, err := buildPayload(ctx, d.s.status, d.s.rdb, d.s.cfg.Prefix, ev)
		if err != nil {
			return err
		}
		id := EventID(ev)
		for _, e := range targets {
			p, _ := json.Marshal(delivery{URL: e.URL, Event: ev.Event, ID: id, Body: body})
			_, err := d.enq.EnqueueContext(ctx, asynq.NewTask(TaskType, p),
				asynq.Queue(d.s.queue),
				asynq.TaskID(taskID(id, e.URL)),
				asynq.MaxRetry(d.s.cfg.MaxRetry),
				asynq.Timeout(d.s.cfg.Timeout+5*time.Second),
				asynq.Retention(d.s.cfg.TaskRetention),
			)
			if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
				return fmt.Errorf("enqueue %s for %s: %w", ev.Event, e, err)
			}
		}
	}
	return d.done(ctx, raw)
}

// wellFormed reports whether ev names a known event and its subject.
func wellFormed(ev status.OutboxEvent) bool {
	if ev.Event == status.EventBatchCompleted {
		return ev.BatchID != ""
	}
	return ev.MessageID != "" && slices.Contains(Events, ev.Event)
}

func (d *dispatcher) done(ctx context.Context, raw string) error {
	return d.s.rdb.LRem(ctx, d.processing, 1, raw).Err()
}

// watch heartbeats and takes over the processing lists of dispatchers whose
// heartbeat is stale.
func (d *dispatcher) watch(ctx context.Context) {
	t := time.NewTicker(d.s.cfg.Heartbeat)
	defer t.Stop()
	for {
		d.reclaim(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.beat(ctx)
	}
}

func (d *dispatcher) beat(ctx context.Context) {
	if err := d.s.rdb.HSet(ctx, d.beats, d.s.cfg.ID, d.s.now().UnixMilli()).Err(); err != nil && ctx.Err() == nil {
		d.s.log.Warn("webhook dispatcher heartbeat failed", "err", err)
	}
}

// claimScript moves a dead dispatcher's processing list to the claimer's,
// if its heartbeat is still stale, and forgets it. Atomic, so two claimers
// never split one list.
var claimScript = redis.NewScript(`
local beat = redis.call('HGET', KEYS[1], ARGV[1])
if beat and tonumber(beat) >= tonumber(ARGV[2]) then return -1 end
local n = 0
while redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT') do n = n + 1 end
redis.call('HDEL', KEYS[1], ARGV[1])
return n
`)

func (d *dispatcher) reclaim(ctx context.Context) {
	beats, err := d.s.rdb.HGetAll(ctx, d.beats).Result()
	if err != nil {
		return
	}
	staleBefore := d.s.now().Add(-d.s.cfg.StaleAfter).UnixMilli()
	for id, v := range beats {
		if ms, _ := strconv.ParseInt(v, 10, 64); id == d.s.cfg.ID || ms >= staleBefore {
			continue
		}
		keys := []string{d.beats, processingKey(d.s.cfg.Prefix, id), d.processing}
		n, err := claimScript.Run(ctx, d.s.rdb, keys, id, staleBefore).Int()
		if err != nil {
			if ctx.Err() == nil {
				d.s.log.Warn("taking over a dead webhook dispatcher failed", "dispatcher", id, "err", err)
			}
			continue
		}
		if n > 0 {
			d.s.log.Warn("took over the events of a dead webhook dispatcher", "dispatcher", id, "events", n)
			d.wantRedo()
		}
	}
}
