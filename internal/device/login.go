package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Login is the state of a device's login as a browser page (or any client)
// sees it. The worker holding the device runs the login and writes it; the
// API only reads it, so the page works whichever worker holds the device.
type Login struct {
	Status    LoginStatus `json:"status"`
	QR        string      `json:"qr,omitempty"`        // the current QR code text; WhatsApp rotates it
	PairCode  string      `json:"pair_code,omitempty"` // when a phone number was given
	JID       string      `json:"jid,omitempty"`       // once connected
	Error     string      `json:"error,omitempty"`
	Worker    string      `json:"worker,omitempty"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// LoginStatus is where a login is.
type LoginStatus string

const (
	LoginStarting  LoginStatus = "starting"  // requested; waiting for the holding worker
	LoginQR        LoginStatus = "qr"        // scan QR to link
	LoginPairCode  LoginStatus = "pair_code" // enter PairCode on the phone
	LoginConnected LoginStatus = "connected" // linked and connected
	LoginFailed    LoginStatus = "failed"    // see Error
)

// LoginRequest asks the worker holding a device to start its login.
type LoginRequest struct {
	DeviceID string `json:"device_id"`
	Phone    string `json:"phone,omitempty"` // pair with a code for this number instead of a QR code
}

func (r *Registry) loginKey(id string) string { return r.prefix + "login:" + id }

// LoginChannel is where login requests are published.
func (r *Registry) LoginChannel() string { return r.prefix + "login:requests" }

// RequestLogin records the login as starting and asks the holding worker to run it.
func (r *Registry) RequestLogin(ctx context.Context, req LoginRequest) error {
	if err := r.SetLogin(ctx, req.DeviceID, Login{Status: LoginStarting}); err != nil {
		return err
	}
	b, _ := json.Marshal(req)
	if err := r.rdb.Publish(ctx, r.LoginChannel(), b).Err(); err != nil {
		return fmt.Errorf("device: request login %s: %w", req.DeviceID, err)
	}
	return nil
}

// SetLogin writes a device's login state; it lives 10 minutes after its last change.
func (r *Registry) SetLogin(ctx context.Context, id string, l Login) error {
	l.UpdatedAt = time.Now().UTC()
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("device: encode login %s: %w", id, err)
	}
	if err := r.rdb.Set(ctx, r.loginKey(id), b, 10*time.Minute).Err(); err != nil {
		return fmt.Errorf("device: set login %s: %w", id, err)
	}
	return nil
}

// GetLogin reads a device's login state; ok is false when no login is under way.
func (r *Registry) GetLogin(ctx context.Context, id string) (l Login, ok bool, err error) {
	b, err := r.rdb.Get(ctx, r.loginKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Login{}, false, nil
	}
	if err != nil {
		return Login{}, false, fmt.Errorf("device: login %s: %w", id, err)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return Login{}, false, fmt.Errorf("device: decode login %s: %w", id, err)
	}
	return l, true, nil
}
