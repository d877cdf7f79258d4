package whatsapp

import (
	"fmt"
	"slices"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// Event is one of the connection and receipt events a Session reports through
// Options.OnEvent. The set is closed: Connected, Disconnected, LoggedOut,
// StreamReplaced, TemporaryBan, ConnectFailure, Timelock and Receipt.
//
// whatsmeow dispatches some events from their own goroutines, so Connected and
// Disconnected may arrive out of order around a reconnect; Session.Connected
// is the authority on the current state.
type Event interface{ isEvent() }

// Connected is reported each time the session is connected and authenticated,
// including after an automatic reconnect.
type Connected struct{}

// Disconnected is reported when the connection drops unexpectedly. whatsmeow
// reconnects by itself and reports Connected when it is back. Err is nil when
// whatsmeow gives no cause, which is the usual case.
type Disconnected struct{ Err error }

// LoggedOut is reported when the device was unlinked: from the phone, by
// WhatsApp, or by a 401/403/406 when connecting. whatsmeow has already deleted
// the device from the store; only a new Login brings it back.
type LoggedOut struct{ Reason string }

// StreamReplaced is reported when another process connected with this device's
// keys. The session does not reconnect by itself afterwards: the caller
// decides whether to call Connect again.
type StreamReplaced struct{}

// TemporaryBan is reported when WhatsApp refuses the connection because the
// account is temporarily banned. Expire is zero when WhatsApp gives no end.
type TemporaryBan struct {
	Code   int
	Reason string
	Expire time.Duration
}

// ConnectFailure is reported when WhatsApp refuses the connection for another
// reason, such as 405 (client outdated). The session does not reconnect.
type ConnectFailure struct {
	Reason  int
	Message string
}

// Timelock says WhatsApp restricts this account from messaging new contacts
// until Until. The whatsmeow version wacard pins has no event for it, so it
// is never reported yet; it is here so callers can handle it already.
type Timelock struct{ Until time.Time }

// Receipt reports that messages this device sent were delivered or read.
// Type is "delivered" or "read"; other receipt kinds are not reported. Chat is
// the chat JID as WhatsApp gave it, which may be a LID (…@lid) rather than a
// phone-number JID.
type Receipt struct {
	IDs  []string
	Type string
	At   time.Time
	Chat string
}

func (Connected) isEvent()      {}
func (Disconnected) isEvent()   {}
func (LoggedOut) isEvent()      {}
func (StreamReplaced) isEvent() {}
func (TemporaryBan) isEvent()   {}
func (ConnectFailure) isEvent() {}
func (Timelock) isEvent()       {}
func (Receipt) isEvent()        {}

// Receipt types.
const (
	ReceiptDelivered = "delivered"
	ReceiptRead      = "read"
)

// outcome is what a whatsmeow event means to a pending Connect call.
type outcome struct {
	settles bool  // the event ends a connection attempt
	err     error // nil with settles: connected
}

// translate maps a whatsmeow event onto an Event (nil when the worker does
// not care about it) and onto its meaning for a pending Connect.
func translate(raw any) (Event, outcome) {
	switch e := raw.(type) {
	case *events.Connected:
		return Connected{}, outcome{settles: true}
	case *events.Disconnected:
		return Disconnected{}, outcome{}
	case *events.LoggedOut:
		return LoggedOut{Reason: e.Reason.String()}, outcome{true, ErrLoggedOut}
	case *events.StreamReplaced:
		return StreamReplaced{}, outcome{true, ErrStreamReplaced}
	case *events.TemporaryBan:
		ev := TemporaryBan{Code: int(e.Code), Reason: e.Code.String(), Expire: e.Expire}
		return ev, outcome{true, fmt.Errorf("%w: %s", ErrTemporaryBan, e)}
	case *events.ClientOutdated:
		reason := events.ConnectFailureClientOutdated
		ev := ConnectFailure{Reason: int(reason), Message: reason.String()}
		return ev, outcome{true, fmt.Errorf("%w: %s", ErrConnectRejected, reason)}
	case *events.ConnectFailure:
		if e.Reason.IsLoggedOut() { // whatsmeow sends LoggedOut for these; be safe
			return LoggedOut{Reason: e.Reason.String()}, outcome{true, ErrLoggedOut}
		}
		ev := ConnectFailure{Reason: int(e.Reason), Message: e.Message}
		return ev, outcome{true, fmt.Errorf("%w: %s %s", ErrConnectRejected, e.Reason, e.Message)}
	case *events.Receipt:
		var typ string
		switch e.Type {
		case types.ReceiptTypeDelivered:
			typ = ReceiptDelivered
		case types.ReceiptTypeRead, types.ReceiptTypeReadSelf:
			typ = ReceiptRead
		default:
			return nil, outcome{}
		}
		return Receipt{
			IDs:  slices.Clone(e.MessageIDs),
			Type: typ,
			At:   e.Timestamp,
			Chat: e.Chat.String(),
		}, outcome{}
	}
	return nil, outcome{}
}
