package whatsapp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.mau.fi/whatsmeow"
)

var (
	// ErrUnknownDevice means the device store holds no device with that JID.
	ErrUnknownDevice = errors.New("whatsapp: unknown device")

	// ErrLoggedOut means the device has no credentials any more: it was
	// unlinked from the phone, removed by WhatsApp, or never paired. It is
	// permanent until the device is paired again with Login.
	ErrLoggedOut = errors.New("whatsapp: logged out")

	// ErrNotConnected means the session has no authenticated connection
	// right now. It wraps whatsmeow.ErrNotConnected, so errors.Is matches
	// either sentinel.
	ErrNotConnected = fmt.Errorf("whatsapp: not connected: %w", whatsmeow.ErrNotConnected)

	// ErrStreamReplaced means another client connected with this device's
	// keys and WhatsApp closed our connection in its favour.
	ErrStreamReplaced = errors.New("whatsapp: stream replaced by another connection")

	// ErrTemporaryBan means WhatsApp refused the connection because the
	// account is temporarily banned.
	ErrTemporaryBan = errors.New("whatsapp: account temporarily banned")

	// ErrConnectRejected means WhatsApp refused the connection for a reason
	// other than logout or ban (for example 405, client outdated).
	ErrConnectRejected = errors.New("whatsapp: connection rejected")

	// ErrSessionClosed means the session was closed while the call waited.
	ErrSessionClosed = errors.New("whatsapp: session closed")

	// ErrNotOnWhatsApp means WhatsApp says the recipient's phone number has
	// no WhatsApp account, so a message to it would reach nobody. Session.Send
	// returns it before sending; retrying the same message cannot help.
	ErrNotOnWhatsApp = errors.New("whatsapp: recipient is not on WhatsApp")

	// ErrLoginTimeout means the pairing QR codes or pairing code expired
	// before the phone completed the link.
	ErrLoginTimeout = errors.New("whatsapp: login timed out")
)

// ServerError is an error code WhatsApp returned in the ack of a sent
// message, such as 429 (rate limited) or 479 (stanza rejected). It unwraps to
// whatsmeow.ErrServerReturnedError.
type ServerError struct {
	Code int
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("whatsapp: server returned error %d", e.Code)
}

// Unwrap returns whatsmeow.ErrServerReturnedError.
func (e *ServerError) Unwrap() error { return whatsmeow.ErrServerReturnedError }

// serverErrorMarker is how whatsmeow spells an error ack: it formats
// fmt.Errorf("%w %d", ErrServerReturnedError, code), so the code follows the
// sentinel's text and a space.
var serverErrorMarker = whatsmeow.ErrServerReturnedError.Error() + " "

// asServerError turns whatsmeow's error-ack error into a *ServerError. Any
// other error, or one whose code cannot be read, is returned unchanged.
func asServerError(err error) error {
	if err == nil || !errors.Is(err, whatsmeow.ErrServerReturnedError) {
		return err
	}
	var se *ServerError
	if errors.As(err, &se) {
		return err
	}
	msg := err.Error()
	i := strings.LastIndex(msg, serverErrorMarker)
	if i < 0 {
		return err
	}
	digits := msg[i+len(serverErrorMarker):]
	end := 0
	for end < len(digits) && digits[end] >= '0' && digits[end] <= '9' {
		end++
	}
	code, convErr := strconv.Atoi(digits[:end])
	if convErr != nil {
		return err
	}
	return &ServerError{Code: code}
}

// sendError maps an error from whatsmeow's SendMessage onto this package's
// vocabulary, so callers only need errors.Is/As against our sentinels.
func sendError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, whatsmeow.ErrServerReturnedError):
		return asServerError(err)
	case errors.Is(err, whatsmeow.ErrNotConnected):
		return fmt.Errorf("%w (%w)", ErrNotConnected, err)
	case errors.Is(err, whatsmeow.ErrNotLoggedIn):
		return fmt.Errorf("%w (%w)", ErrLoggedOut, err)
	default:
		return fmt.Errorf("whatsapp: send: %w", err)
	}
}
