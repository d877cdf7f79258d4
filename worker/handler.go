package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.mau.fi/whatsmeow/types"

	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/internal/status"
	"github.com/wacard/wacard/internal/wamsg"
)

// handle sends one message. Every outcome is written to the status record
// before asynq learns of it, so a crash in between only repeats a send that
// reuses the same WhatsApp message ID.
func (p *pool) handle(ctx context.Context, t *asynq.Task) error {
	pl, err := job.Decode(t.Payload())
	if err != nil {
		id, _ := asynq.GetTaskID(ctx)
		p.log.Error("dropping a task with an invalid payload", "message_id", id, "err", err)
		p.fail(ctx, job.Payload{MessageID: id, DeviceID: p.dev.ID}, 0, ReasonInternal, err)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	log := p.log.With("message_id", pl.MessageID)
	retried, _ := asynq.GetRetryCount(ctx)
	attempt := retried + 1

	// A task taken just before the device paused steps aside at once.
	if why, paused := p.pausedNow(p.w.now()); paused {
		return &waitError{Reason: Reason(why), Delay: time.Second, Err: ErrPaused}
	}
	c := p.conn()
	if !c.Ready() {
		return p.wait(ctx, pl, Verdict{Class: Wait, Reason: ReasonNotConnected, Delay: 5 * time.Second}, ErrDeviceOffline)
	}
	// Fencing: never send unless this worker's lease is surely still valid.
	if !p.w.leaseValid(p.w.now()) {
		return &waitError{Reason: ReasonNotOwner, Delay: time.Second, Err: ErrNotOwner}
	}
	// Ordering: an earlier message to the same recipient goes first.
	if ahead, err := p.w.status.Ahead(ctx, pl.DeviceID, pl.To, pl.MessageID); err != nil {
		return &waitError{Reason: ReasonOrdering, Delay: time.Second, Err: err}
	} else if ahead != "" {
		return &waitError{Reason: ReasonOrdering, Delay: 300 * time.Millisecond, Err: fmt.Errorf("%w: %s", ErrBehind, ahead)}
	}
	if err := p.awaitPace(ctx); err != nil {
		return err
	}
	res, cur, err := p.w.status.Move(ctx, pl.MessageID, status.Change{To: status.Sending, Attempts: attempt})
	switch {
	case errors.Is(err, status.ErrNotFound):
		log.Warn("status record missing (past retention?); sending anyway")
	case err != nil:
		return fmt.Errorf("record sending: %w", err)
	case res == status.Refused && cur.Terminal():
		log.Info("not sending: message is already " + string(cur))
		return nil
	case res == status.Refused:
		return fmt.Errorf("record sending: refused from state %s", cur)
	}

	to, err := types.ParseJID(pl.To)
	if err != nil {
		return p.permanent(ctx, pl, attempt, ReasonInvalidRecipient, fmt.Errorf("%w: %v", ErrInvalidRecipient, err))
	}
	msg, err := wamsg.Build(pl)
	if err != nil {
		return p.permanent(ctx, pl, attempt, ReasonInternal, fmt.Errorf("%w: %v", ErrBadPayload, err))
	}

	// Fencing again, as late as possible: the Redis calls above may have
	// outlived the lease (a stalled process, a slow Redis).
	if !p.w.leaseValid(p.w.now()) {
		return p.wait(ctx, pl, Verdict{Class: Wait, Reason: ReasonNotOwner, Delay: time.Second}, ErrNotOwner)
	}
	deadline := p.w.now().Add(p.w.cfg.SendTimeout)
	if ld := p.w.leaseDeadline(); ld.Before(deadline) {
		deadline = ld
	}
	sendCtx, cancel := context.WithDeadline(ctx, deadline)
	start := p.w.now()
	r, err := c.Send(sendCtx, pl.MessageID, to, msg)
	cancel()
	p.w.metrics.SendDuration.WithLabelValues(p.dev.ID).Observe(p.w.now().Sub(start).Seconds())
	if err == nil {
		p.sent(ctx, pl, r)
		log.Info("sent", "attempt", attempt)
		return nil
	}

	v := Classify(err)
	switch v.Class {
	case Permanent:
		return p.permanent(ctx, pl, attempt, v.Reason, err)
	case Wait:
		if p.react(v) {
			// The device is paused: the pool holds its queue back, so the
			// message only needs to step aside until the pause ends or an
			// operator resumes the device.
			v.Delay = time.Second
		}
		return p.wait(ctx, pl, v, err)
	}
	if retried >= p.w.cfg.MaxRetry {
		return p.permanent(ctx, pl, attempt, v.Reason, fmt.Errorf("gave up after %d attempts: %w", attempt, err))
	}
	p.w.metrics.Retried.WithLabelValues(p.dev.ID).Inc()
	p.move(ctx, pl.MessageID, status.Change{To: status.Retrying, LastError: err.Error(), ErrorClass: string(v.Reason), Note: fmt.Sprintf("attempt %d failed: %v", attempt, err)})
	log.Warn("send failed; will retry", "attempt", attempt, "reason", v.Reason, "err", err)
	return err
}

// react applies what a Wait verdict says about the device itself; it reports
// whether it paused the device.
func (p *pool) react(v Verdict) bool {
	switch v.Reason {
	case ReasonTimelock:
		p.pause(string(v.Reason), p.w.now().Add(p.w.cfg.TimelockPause))
		return true
	case ReasonRateLimited:
		p.pause(string(v.Reason), p.w.now().Add(v.Delay))
		return true
	}
	return false
}

// awaitPace waits for the device's next send slot. Waiting never uses an
// attempt: on shutdown it re-queues the message, and when today's cap is used
// up it pauses the device until the next UTC day.
func (p *pool) awaitPace(ctx context.Context) error {
	wait, capped := p.pace.reserve(p.w.now())
	if capped {
		p.pause(string(ReasonDailyCap), p.w.now().Add(wait))
		return &waitError{Reason: ReasonDailyCap, Delay: time.Second, Err: ErrDailyCap}
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		if !p.w.leaseValid(p.w.now()) {
			p.pace.release()
			return &waitError{Reason: ReasonNotOwner, Delay: time.Second, Err: ErrNotOwner}
		}
		return nil
	case <-ctx.Done():
		p.pace.release()
		return &waitError{Reason: ReasonPaced, Delay: time.Second, Err: ctx.Err()}
	}
}

func (p *pool) sent(ctx context.Context, pl job.Payload, r sendResult) {
	key := p.w.dailyKey(p.dev.ID, p.w.now())
	p.w.rdb.Pipelined(context.WithoutCancel(ctx), func(pp redis.Pipeliner) error { //nolint:errcheck // the count only feeds the daily cap
		pp.Incr(ctx, key)
		pp.Expire(ctx, key, 48*time.Hour)
		return nil
	})
	p.record(ctx, pl.MessageID, status.Change{To: status.Sent, Sandbox: r.Sandbox})
	p.w.metrics.Sent.WithLabelValues(p.dev.ID).Inc()
	p.w.metrics.QueueLatency.WithLabelValues(p.dev.ID).Observe(p.w.now().Sub(pl.AcceptedAt).Seconds())
}

// permanent fails the message for good and tells asynq not to retry.
func (p *pool) permanent(ctx context.Context, pl job.Payload, attempt int, reason Reason, err error) error {
	p.fail(ctx, pl, attempt, reason, err)
	p.log.Warn("send failed permanently", "message_id", pl.MessageID, "reason", reason, "err", err)
	return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
}

func (p *pool) fail(ctx context.Context, pl job.Payload, attempt int, reason Reason, err error) {
	if pl.MessageID == "" {
		return
	}
	p.record(ctx, pl.MessageID, status.Change{To: status.Failed, Attempts: attempt, LastError: err.Error(), ErrorClass: string(reason)})
	p.w.metrics.Failed.WithLabelValues(p.dev.ID, string(reason)).Inc()
}

// wait re-queues the message without using an attempt, unless it has waited
// past the offline grace already.
func (p *pool) wait(ctx context.Context, pl job.Payload, v Verdict, err error) error {
	if p.w.now().Sub(pl.AcceptedAt) > p.w.cfg.OfflineGrace {
		return p.permanent(ctx, pl, 0, ReasonExpired, fmt.Errorf("waited longer than WACARD_OFFLINE_GRACE (%s): %w", p.w.cfg.OfflineGrace, err))
	}
	p.move(ctx, pl.MessageID, status.Change{To: status.Waiting, LastError: err.Error(), ErrorClass: string(v.Reason), Note: string(v.Reason)})
	d := v.Delay
	if d <= 0 {
		d = 5 * time.Second
	}
	return &waitError{Reason: v.Reason, Delay: d, Err: err}
}

// move records a state change; a failure to record is logged, not fatal: the
// send itself already happened or not.
func (p *pool) move(ctx context.Context, id string, c status.Change) {
	if _, _, err := p.w.status.Move(context.WithoutCancel(ctx), id, c); err != nil {
		p.log.Error("could not record state", "message_id", id, "state", c.To, "err", err)
	}
}

// recordFor bounds how long record keeps trying to write an outcome.
const recordFor = 45 * time.Second

// record writes a terminal outcome (sent, failed) that already happened, and
// keeps trying while Redis is unreachable: a message sent but still recorded
// as "sending" would be sent again by whoever recovers it (same message ID,
// so recipients drop the copy, but still a duplicate). It gives up after
// recordFor; the status then stays "sending" and recovery decides.
func (p *pool) record(ctx context.Context, id string, c status.Change) {
	ctx = context.WithoutCancel(ctx)
	deadline := p.w.now().Add(recordFor)
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
		_, _, err := p.w.status.Move(ctx, id, c)
		if err == nil || errors.Is(err, status.ErrNotFound) {
			return
		}
		if !p.w.now().Add(backoff).Before(deadline) {
			p.log.Error("could not record state; giving up", "message_id", id, "state", c.To, "err", err)
			return
		}
		p.log.Warn("could not record state; retrying", "message_id", id, "state", c.To, "err", err, "in", backoff)
		time.Sleep(backoff)
	}
}

// isFailure tells asynq which errors use up an attempt: waits do not.
func isFailure(err error) bool {
	var we *waitError
	return !errors.As(err, &we)
}

// retryDelay is exponential backoff with jitter for failures (2s, 4s, 8s ...
// up to 10 minutes, +/-25%), and the verdict's own delay for waits.
func retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var we *waitError
	if errors.As(err, &we) {
		return we.Delay
	}
	d := 2 * time.Second << min(n, 9)
	d = min(d, 10*time.Minute)
	jitter := time.Duration(rand.Int64N(int64(d)/2)) - d/4
	return d + jitter
}
