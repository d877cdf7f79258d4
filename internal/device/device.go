// Package device is the registry of WhatsApp devices in Redis, shared by the
// API and every worker: which ids exist, their kind, their WhatsApp JID and
// per-device settings. Changes are announced on a channel so every process
// picks them up without a restart.
package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// Kind says how a device sends.
type Kind string

const (
	KindWhatsApp Kind = "whatsapp" // a real WhatsApp session through whatsmeow
	KindSandbox  Kind = "sandbox"  // accepts sends and keeps them; for demos and CI
)

// Device is one registered device.
type Device struct {
	ID        string    `json:"id"`
	Kind      Kind      `json:"kind"`
	JID       string    `json:"jid,omitempty"` // set once a WhatsApp device is logged in
	CreatedAt time.Time `json:"created_at"`
	// PacePerMinute and DailyCap override the global pacing when set.
	PacePerMinute *int `json:"pace_per_minute,omitempty"`
	DailyCap      *int `json:"daily_cap,omitempty"`
}

var (
	ErrNotFound = errors.New("device: not found")
	ErrExists   = errors.New("device: already registered")
)

// Registry stores devices in one Redis hash.
type Registry struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRegistry returns the registry under prefix.
func NewRegistry(rdb redis.UniversalClient, prefix string) *Registry {
	return &Registry{rdb: rdb, prefix: prefix}
}

func (r *Registry) key() string { return r.prefix + "devices" }

// Channel is where changes are announced; the payload is the device id.
func (r *Registry) Channel() string { return r.prefix + "devices:changed" }

// Add registers d; ErrExists if the id is taken.
func (r *Registry) Add(ctx context.Context, d Device) error {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now().UTC()
	}
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("device: encode %s: %w", d.ID, err)
	}
	ok, err := r.rdb.HSetNX(ctx, r.key(), d.ID, b).Result()
	if err != nil {
		return fmt.Errorf("device: add %s: %w", d.ID, err)
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrExists, d.ID)
	}
	r.announce(ctx, d.ID)
	return nil
}

// Ensure registers d unless its id exists already (used for configured sandbox devices).
func (r *Registry) Ensure(ctx context.Context, d Device) error {
	if err := r.Add(ctx, d); err != nil && !errors.Is(err, ErrExists) {
		return err
	}
	return nil
}

// Update rewrites an existing device through fn.
func (r *Registry) Update(ctx context.Context, id string, fn func(*Device) error) (Device, error) {
	d, err := r.Get(ctx, id)
	if err != nil {
		return d, err
	}
	if err := fn(&d); err != nil {
		return d, err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return d, fmt.Errorf("device: encode %s: %w", id, err)
	}
	if err := r.rdb.HSet(ctx, r.key(), id, b).Err(); err != nil {
		return d, fmt.Errorf("device: update %s: %w", id, err)
	}
	r.announce(ctx, id)
	return d, nil
}

// Remove deletes a device from the registry.
func (r *Registry) Remove(ctx context.Context, id string) error {
	n, err := r.rdb.HDel(ctx, r.key(), id).Result()
	if err != nil {
		return fmt.Errorf("device: remove %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	r.announce(ctx, id)
	return nil
}

// Get returns one device.
func (r *Registry) Get(ctx context.Context, id string) (Device, error) {
	b, err := r.rdb.HGet(ctx, r.key(), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return Device{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Device{}, fmt.Errorf("device: get %s: %w", id, err)
	}
	var d Device
	if err := json.Unmarshal(b, &d); err != nil {
		return Device{}, fmt.Errorf("device: decode %s: %w", id, err)
	}
	return d, nil
}

// List returns every device, sorted by id.
func (r *Registry) List(ctx context.Context) ([]Device, error) {
	m, err := r.rdb.HGetAll(ctx, r.key()).Result()
	if err != nil {
		return nil, fmt.Errorf("device: list: %w", err)
	}
	out := make([]Device, 0, len(m))
	for id, b := range m {
		var d Device
		if err := json.Unmarshal([]byte(b), &d); err != nil {
			return nil, fmt.Errorf("device: decode %s: %w", id, err)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (r *Registry) announce(ctx context.Context, id string) {
	// Best effort: watchers also reload on a timer, so a lost message only delays.
	r.rdb.Publish(ctx, r.Channel(), id)
}
