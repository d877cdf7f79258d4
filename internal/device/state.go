package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Conn is a device's connection state as its worker reports it.
type Conn string

const (
	ConnUnknown      Conn = "unknown"      // no worker has reported on it
	ConnConnecting   Conn = "connecting"   // a worker is connecting it
	ConnConnected    Conn = "connected"    // ready to send
	ConnDisconnected Conn = "disconnected" // lost; the worker reconnects
	ConnLoggedOut    Conn = "logged_out"   // needs `wacard device login`
	ConnNotPaired    Conn = "not_paired"   // added but never logged in
)

// State is the runtime state of a device, written by the worker holding it.
type State struct {
	Conn        Conn       `json:"connection"`
	Worker      string     `json:"worker,omitempty"`
	Paused      bool       `json:"paused"`
	PauseReason string     `json:"pause_reason,omitempty"`
	PausedUntil *time.Time `json:"paused_until,omitempty"`
	Detail      string     `json:"detail,omitempty"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func (r *Registry) stateKey() string { return r.prefix + "devstate" }

// SetState records the runtime state of a device.
func (r *Registry) SetState(ctx context.Context, id string, s State) error {
	s.UpdatedAt = time.Now().UTC()
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("device: encode state %s: %w", id, err)
	}
	if err := r.rdb.HSet(ctx, r.stateKey(), id, b).Err(); err != nil {
		return fmt.Errorf("device: set state %s: %w", id, err)
	}
	return nil
}

// States returns the runtime state of every device that has one.
func (r *Registry) States(ctx context.Context) (map[string]State, error) {
	m, err := r.rdb.HGetAll(ctx, r.stateKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("device: states: %w", err)
	}
	out := make(map[string]State, len(m))
	for id, b := range m {
		var s State
		if json.Unmarshal([]byte(b), &s) == nil {
			out[id] = s
		}
	}
	return out, nil
}

// GetState returns one device's runtime state (Conn "unknown" when none).
func (r *Registry) GetState(ctx context.Context, id string) (State, error) {
	b, err := r.rdb.HGet(ctx, r.stateKey(), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return State{Conn: ConnUnknown}, nil
	}
	if err != nil {
		return State{Conn: ConnUnknown}, fmt.Errorf("device: state %s: %w", id, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{Conn: ConnUnknown}, fmt.Errorf("device: decode state %s: %w", id, err)
	}
	return s, nil
}
