package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/wacard/wacard/worker/whatsapp"
)

// timeoutError is a net.Error, as a dialer or a deadline would return.
type timeoutError struct{ timeout bool }

func (e timeoutError) Error() string   { return "i/o timeout" }
func (e timeoutError) Timeout() bool   { return e.timeout }
func (e timeoutError) Temporary() bool { return e.timeout }

var _ net.Error = timeoutError{}

func TestClassify(t *testing.T) {
	t.Parallel()
	cause := errors.New("cause")
	var (
		retry = func(r Reason) Verdict { return Verdict{Class: Retry, Reason: r} }
		perm  = func(r Reason) Verdict { return Verdict{Class: Permanent, Reason: r} }
		wait  = func(r Reason, d time.Duration) Verdict { return Verdict{Class: Wait, Reason: r, Delay: d} }
	)
	tests := []struct {
		name string
		err  error
		want Verdict
	}{
		{"PermanentError", &PermanentError{Reason: ReasonSandbox, Err: cause}, perm(ReasonSandbox)},
		{"PermanentError over a wait", &PermanentError{Reason: ReasonExpired, Err: ErrDeviceOffline}, perm(ReasonExpired)},
		{"TransientError", &TransientError{Reason: ReasonTimeout, Err: cause}, retry(ReasonTimeout)},
		{"TransientError over a permanent code", &TransientError{Reason: ReasonServerError, Err: &whatsapp.ServerError{Code: 400}}, retry(ReasonServerError)},
		{"ErrNotOnWhatsApp", ErrNotOnWhatsApp, perm(ReasonNotOnWhatsApp)},
		{"ErrInvalidRecipient", ErrInvalidRecipient, perm(ReasonInvalidRecipient)},
		{"ErrBadPayload", ErrBadPayload, perm(ReasonInternal)},
		{"ErrLoggedOut", whatsapp.ErrLoggedOut, wait(ReasonLoggedOut, 30*time.Second)},
		{"ErrNotConnected", whatsapp.ErrNotConnected, wait(ReasonNotConnected, 5*time.Second)},
		{"ErrStreamReplaced", whatsapp.ErrStreamReplaced, wait(ReasonNotConnected, 5*time.Second)},
		{"ErrSessionClosed", whatsapp.ErrSessionClosed, wait(ReasonNotConnected, 5*time.Second)},
		{"ErrConnectRejected", whatsapp.ErrConnectRejected, wait(ReasonNotConnected, 5*time.Second)},
		{"ErrTemporaryBan", whatsapp.ErrTemporaryBan, wait(ReasonRateLimited, time.Hour)},
		{"ErrDeviceOffline", ErrDeviceOffline, wait(ReasonNotConnected, 5*time.Second)},
		{"server 463 timelock", &whatsapp.ServerError{Code: 463}, wait(ReasonTimelock, 15*time.Minute)},
		{"server 429 rate limit", &whatsapp.ServerError{Code: 429}, wait(ReasonRateLimited, time.Minute)},
		{"server 401 logged out", &whatsapp.ServerError{Code: 401}, wait(ReasonLoggedOut, 30*time.Second)},
		{"server 400", &whatsapp.ServerError{Code: 400}, perm(ReasonInvalidRecipient)},
		{"server 404", &whatsapp.ServerError{Code: 404}, perm(ReasonInvalidRecipient)},
		{"server 406", &whatsapp.ServerError{Code: 406}, perm(ReasonInvalidRecipient)},
		{"server 403", &whatsapp.ServerError{Code: 403}, perm(ReasonServerError)},
		{"server 479", &whatsapp.ServerError{Code: 479}, perm(ReasonServerError)},
		{"server 500", &whatsapp.ServerError{Code: 500}, retry(ReasonServerError)},
		{"server 503", &whatsapp.ServerError{Code: 503}, retry(ReasonServerError)},
		{"server 0", &whatsapp.ServerError{}, retry(ReasonServerError)},
		{"DeadlineExceeded", context.DeadlineExceeded, retry(ReasonTimeout)},
		{"net.Error timeout", timeoutError{timeout: true}, retry(ReasonTimeout)},
		{"net.OpError deadline", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, retry(ReasonTimeout)},
		{"net.Error not a timeout", timeoutError{timeout: false}, retry(ReasonServerError)},
		{"Canceled", context.Canceled, retry(ReasonServerError)},
		{"unknown", cause, retry(ReasonServerError)},
	}
	for _, tt := range tests {
		// Every verdict must survive wrapping: callers add context with %w.
		variants := []struct {
			how string
			err error
		}{
			{"bare", tt.err},
			{"wrapped", fmt.Errorf("x: %w", tt.err)},
			{"wrapped twice", fmt.Errorf("send 3EB0: %w", fmt.Errorf("whatsapp: send: %w", tt.err))},
			{"joined", errors.Join(tt.err, errors.New("also"))},
		}
		for _, v := range variants {
			if got := Classify(v.err); got != tt.want {
				t.Errorf("%s (%s): Classify(%v) = %+v, want %+v", tt.name, v.how, v.err, got, tt.want)
			}
		}
		if tt.want.Class == Wait && tt.want.Delay <= 0 {
			t.Errorf("%s: a Wait verdict needs a delay", tt.name)
		}
	}
}

func TestIsFailure(t *testing.T) {
	t.Parallel()
	we := &waitError{Reason: ReasonNotConnected, Delay: 5 * time.Second, Err: ErrDeviceOffline}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"wait", we, false},
		{"wrapped wait", fmt.Errorf("handle: %w", we), false},
		{"transient", &TransientError{Reason: ReasonTimeout, Err: context.DeadlineExceeded}, true},
		{"permanent", &PermanentError{Reason: ReasonSandbox, Err: errors.New("x")}, true},
		{"offline sentinel without a wait", ErrDeviceOffline, true},
		{"plain", errors.New("x"), true},
	}
	for _, tt := range tests {
		if got := isFailure(tt.err); got != tt.want {
			t.Errorf("isFailure(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRetryDelayWait(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{time.Second, 5 * time.Second, 15 * time.Minute} {
		we := &waitError{Reason: ReasonTimelock, Delay: d, Err: errors.New("x")}
		for _, n := range []int{0, 3, 50} {
			if got := retryDelay(n, we, nil); got != d {
				t.Errorf("retryDelay(%d, wait %v) = %v, want exactly the wait", n, d, got)
			}
			if got := retryDelay(n, fmt.Errorf("x: %w", we), nil); got != d {
				t.Errorf("retryDelay(%d, wrapped wait %v) = %v, want exactly the wait", n, d, got)
			}
		}
	}
}

func TestRetryDelayBackoff(t *testing.T) {
	t.Parallel()
	err := errors.New("send failed")
	const samples = 500
	// base[n] is the delay before jitter after n earlier retries: doubling
	// from 2s, capped at 10m.
	base := []time.Duration{
		2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 64 * time.Second, 128 * time.Second, 256 * time.Second,
		512 * time.Second, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute,
	}
	for n, base := range base {
		lo, hi := base-base/4, base+base/4
		seen := map[time.Duration]bool{}
		for range samples {
			d := retryDelay(n, err, nil)
			if d < lo || d > hi {
				t.Fatalf("retryDelay(%d) = %v, want within [%v, %v]", n, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < samples/2 {
			t.Errorf("retryDelay(%d) gave only %d distinct delays in %d tries: no jitter?", n, len(seen), samples)
		}
	}
	// The cap: never above 10m+25%, however many attempts.
	for _, n := range []int{9, 10, 25, 100, 1 << 20} {
		if d := retryDelay(n, err, nil); d > 10*time.Minute+10*time.Minute/4 {
			t.Errorf("retryDelay(%d) = %v, above the 12m30s cap", n, d)
		}
	}
}
