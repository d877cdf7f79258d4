package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"go.mau.fi/whatsmeow"

	"github.com/wacard/wacard/worker/whatsapp"
)

// Class says what the worker does after a send attempt failed. Every error is
// classified here and only here.
type Class int

const (
	// Retry: a transient failure (timeout, network, WhatsApp 5xx). The attempt
	// counts; the message is retried with backoff until the budget runs out.
	Retry Class = iota
	// Permanent: retrying cannot help (invalid recipient, not on WhatsApp,
	// rejected by WhatsApp). The message fails at once, keeping the reason.
	Permanent
	// Wait: the device, not the message, cannot send now (offline, logged out,
	// reach-out timelock, rate limited). The message waits without using an
	// attempt; the device may be paused.
	Wait
)

// Reason is the failure class recorded on the status record and used as the
// "reason" label of wacard_messages_failed_total.
type Reason string

const (
	ReasonInvalidRecipient Reason = "invalid_recipient"
	ReasonNotOnWhatsApp    Reason = "not_on_whatsapp"
	ReasonLoggedOut        Reason = "logged_out"
	ReasonNotConnected     Reason = "not_connected"
	ReasonRateLimited      Reason = "rate_limited"
	ReasonTimelock         Reason = "timelock"
	ReasonTimeout          Reason = "timeout"
	ReasonServerError      Reason = "server_error"
	ReasonExpired          Reason = "expired"
	ReasonInternal         Reason = "internal"
	ReasonSandbox          Reason = "sandbox"
	ReasonNotOwner         Reason = "not_owner" // this worker's lease is not surely valid
	ReasonOrdering         Reason = "ordering"  // an earlier message to the recipient goes first
	ReasonPaced            Reason = "paced"
	ReasonDailyCap         Reason = "daily_cap"
)

// Verdict is the outcome of classifying one error.
type Verdict struct {
	Class  Class
	Reason Reason
	// Delay is how long a Wait lasts (0 = the caller's default).
	Delay time.Duration
}

// Sentinels for conditions the worker itself detects.
var (
	ErrNotOnWhatsApp    = errors.New("recipient is not on WhatsApp")
	ErrInvalidRecipient = errors.New("invalid recipient")
	ErrDeviceOffline    = errors.New("device is not connected")
	ErrBadPayload       = errors.New("task payload is invalid")
	ErrNotOwner         = errors.New("this worker's device lease is not surely valid")
	ErrBehind           = errors.New("an earlier message to the same recipient is not finished")
	ErrDailyCap         = errors.New("the device's daily send cap is used up")
	ErrPaused           = errors.New("the device is paused")
)

// PermanentError marks an error as permanent with a reason (used by senders
// such as the sandbox).
type PermanentError struct {
	Reason Reason
	Err    error
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// TransientError marks an error as worth retrying.
type TransientError struct {
	Reason Reason
	Err    error
}

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Classify decides what to do after err. It is a pure function, covered by a
// table test.
func Classify(err error) Verdict {
	var pe *PermanentError
	var te *TransientError
	var se *whatsapp.ServerError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		return Verdict{Class: Permanent, Reason: pe.Reason}
	case errors.As(err, &te):
		return Verdict{Class: Retry, Reason: te.Reason}
	case errors.Is(err, ErrBadPayload):
		return Verdict{Class: Permanent, Reason: ReasonInternal}
	case errors.Is(err, ErrNotOnWhatsApp), errors.Is(err, whatsapp.ErrNotOnWhatsApp):
		return Verdict{Class: Permanent, Reason: ReasonNotOnWhatsApp}
	case errors.Is(err, ErrInvalidRecipient):
		return Verdict{Class: Permanent, Reason: ReasonInvalidRecipient}
	case errors.Is(err, ErrNotOwner):
		return Verdict{Class: Wait, Reason: ReasonNotOwner, Delay: time.Second}
	case errors.Is(err, whatsapp.ErrLoggedOut):
		return Verdict{Class: Wait, Reason: ReasonLoggedOut, Delay: 30 * time.Second}
	case errors.Is(err, whatsapp.ErrTemporaryBan):
		return Verdict{Class: Wait, Reason: ReasonRateLimited, Delay: time.Hour}
	case errors.Is(err, whatsapp.ErrStreamReplaced), errors.Is(err, whatsapp.ErrNotConnected), errors.Is(err, whatsmeow.ErrNotConnected), errors.Is(err, whatsapp.ErrConnectRejected),
		errors.Is(err, whatsapp.ErrSessionClosed), errors.Is(err, ErrDeviceOffline):
		return Verdict{Class: Wait, Reason: ReasonNotConnected, Delay: 5 * time.Second}
	case errors.As(err, &se):
		return classifyServerError(se.Code)
	case errors.Is(err, context.DeadlineExceeded):
		return Verdict{Class: Retry, Reason: ReasonTimeout}
	case errors.As(err, &ne) && ne.Timeout():
		return Verdict{Class: Retry, Reason: ReasonTimeout}
	}
	return Verdict{Class: Retry, Reason: ReasonServerError}
}

// classifyServerError maps the error code of WhatsApp's ack.
func classifyServerError(code int) Verdict {
	switch {
	case code == 463: // reach-out timelock: new chats are blocked for a while
		return Verdict{Class: Wait, Reason: ReasonTimelock, Delay: 15 * time.Minute}
	case code == 429: // rate limited
		return Verdict{Class: Wait, Reason: ReasonRateLimited, Delay: time.Minute}
	case code == 401: // the session is gone
		return Verdict{Class: Wait, Reason: ReasonLoggedOut, Delay: 30 * time.Second}
	case code == 400 || code == 404 || code == 406:
		return Verdict{Class: Permanent, Reason: ReasonInvalidRecipient}
	case code == 403 || code == 479:
		return Verdict{Class: Permanent, Reason: ReasonServerError}
	}
	return Verdict{Class: Retry, Reason: ReasonServerError}
}

// waitError asks asynq to re-queue a task after Delay without counting a
// failure (see isFailure and retryDelay).
type waitError struct {
	Reason Reason
	Delay  time.Duration
	Err    error
}

func (e *waitError) Error() string {
	return fmt.Sprintf("waiting %s (%s): %v", e.Delay, e.Reason, e.Err)
}
func (e *waitError) Unwrap() error { return e.Err }
