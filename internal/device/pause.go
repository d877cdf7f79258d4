package device

import (
	"context"
	"fmt"
	"time"
)

// Pause stops a device's queue: its messages stay queued until it ends.
// Workers pause devices themselves (WhatsApp's reach-out timelock, rate
// limits, the daily cap); operators pause and resume through the API.
type Pause struct {
	Reason string     `json:"reason"`          // manual, timelock, rate_limited, daily_cap, ...
	Until  *time.Time `json:"until,omitempty"` // nil = until resumed
	By     string     `json:"by,omitempty"`    // worker id or "api"
	At     time.Time  `json:"at"`
}

// Active reports whether the pause still holds at now.
func (p Pause) Active(now time.Time) bool { return p.Until == nil || now.Before(*p.Until) }

func (r *Registry) pauseKey() string { return r.prefix + "pauses" }

// SetPause records a pause and announces it, so the worker holding the device
// applies it at once.
func (r *Registry) SetPause(ctx context.Context, id string, p Pause) error {
	if p.At.IsZero() {
		p.At = time.Now().UTC()
	}
	if err := r.hsetJSON(ctx, r.pauseKey(), "pause", id, p); err != nil {
		return err
	}
	r.announce(ctx, id)
	return nil
}

// ClearPause ends a device's pause and announces it.
func (r *Registry) ClearPause(ctx context.Context, id string) error {
	if err := r.rdb.HDel(ctx, r.pauseKey(), id).Err(); err != nil {
		return fmt.Errorf("device: resume %s: %w", id, err)
	}
	r.announce(ctx, id)
	return nil
}

// Pauses returns every recorded pause by device id (expired ones included;
// check Active).
func (r *Registry) Pauses(ctx context.Context) (map[string]Pause, error) {
	return hgetAllJSON[Pause](ctx, r, r.pauseKey(), "pauses")
}

// GetPause returns a device's pause, if any.
func (r *Registry) GetPause(ctx context.Context, id string) (Pause, bool, error) {
	var p Pause
	ok, err := r.hgetJSON(ctx, r.pauseKey(), "pause", id, &p)
	return p, ok, err
}
