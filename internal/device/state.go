package device

import (
	"context"
	"time"
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
	return r.hsetJSON(ctx, r.stateKey(), "state", id, s)
}

// States returns the runtime state of every device that has one.
func (r *Registry) States(ctx context.Context) (map[string]State, error) {
	return hgetAllJSON[State](ctx, r, r.stateKey(), "states")
}

// GetState returns one device's runtime state (Conn "unknown" when none).
func (r *Registry) GetState(ctx context.Context, id string) (State, error) {
	s := State{Conn: ConnUnknown}
	if _, err := r.hgetJSON(ctx, r.stateKey(), "state", id, &s); err != nil {
		return State{Conn: ConnUnknown}, err
	}
	return s, nil
}
