package device

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Watcher keeps an in-memory copy of the registry, reloaded when a change is
// announced and on a timer (in case an announcement is lost). Lookups on the
// request path then cost no Redis round trip.
type Watcher struct {
	reg      *Registry
	log      *slog.Logger
	interval time.Duration

	mu      sync.RWMutex
	devices map[string]Device
	byJID   map[string]string // JID and bare number -> id
	changed chan struct{}
}

// NewWatcher returns a watcher; call Load once, then Run in a goroutine.
func NewWatcher(reg *Registry, log *slog.Logger, interval time.Duration) *Watcher {
	return &Watcher{reg: reg, log: log, interval: interval, changed: make(chan struct{}, 1)}
}

// Load reads the registry now.
func (w *Watcher) Load(ctx context.Context) error {
	list, err := w.reg.List(ctx)
	if err != nil {
		return err
	}
	devices := make(map[string]Device, len(list))
	byJID := make(map[string]string, 2*len(list))
	for _, d := range list {
		devices[d.ID] = d
		if d.JID != "" {
			byJID[d.JID] = d.ID
			if user, _, ok := cutJID(d.JID); ok {
				byJID[user] = d.ID
			}
		}
	}
	w.mu.Lock()
	w.devices, w.byJID = devices, byJID
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return nil
}

// Changed is signalled after every reload.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

// Run reloads on announcements and on the timer until ctx ends. It loads once
// more as soon as its subscription is confirmed, so a change made between the
// caller's first Load and the subscription is not missed.
func (w *Watcher) Run(ctx context.Context) {
	sub := w.reg.rdb.Subscribe(ctx, w.reg.Channel())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil && ctx.Err() == nil {
		w.log.Warn("device registry subscription failed; reloading on the timer only", "err", err)
	}
	if err := w.Load(ctx); err != nil && ctx.Err() == nil {
		w.log.Warn("device registry reload failed", "err", err)
	}
	msgs := sub.Channel()
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-msgs:
		case <-t.C:
		}
		if err := w.Load(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("device registry reload failed", "err", err)
		}
	}
}

// Lookup finds a device by id, by its JID, or by its bare phone number.
func (w *Watcher) Lookup(ref string) (Device, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if d, ok := w.devices[ref]; ok {
		return d, true
	}
	if id, ok := w.byJID[ref]; ok {
		return w.devices[id], true
	}
	if user, _, ok := cutJID(ref); ok {
		if id, ok := w.byJID[user]; ok {
			return w.devices[id], true
		}
	}
	return Device{}, false
}

// Only returns the single registered device, or false when there are zero or several.
func (w *Watcher) Only() (Device, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if len(w.devices) != 1 {
		return Device{}, false
	}
	for _, d := range w.devices {
		return d, true
	}
	return Device{}, false
}

// All returns a snapshot of every device.
func (w *Watcher) All() []Device {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]Device, 0, len(w.devices))
	for _, d := range w.devices {
		out = append(out, d)
	}
	return out
}

// Len is the number of registered devices.
func (w *Watcher) Len() int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return len(w.devices)
}

// cutJID splits "user[:device]@server" into user and server.
func cutJID(s string) (user, server string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '@' {
			user, server = s[:i], s[i+1:]
			for j := 0; j < len(user); j++ {
				if user[j] == ':' || user[j] == '.' {
					user = user[:j]
					break
				}
			}
			return user, server, user != ""
		}
	}
	return "", "", false
}
