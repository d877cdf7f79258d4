package fakewa

import (
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// faultState holds the injected failures. Guarded by Server.mu.
type faultState struct {
	errorCode    int
	errorsLeft   int
	dropsLeft    int
	ackDelay     time.Duration
	loginFailure int
}

// messageAction is what the fake does with one incoming message.
type messageAction struct {
	errorCode int
	drop      bool
	delay     time.Duration
}

// nextMessageLocked consumes the faults that apply to the next message.
func (f *faultState) nextMessageLocked() messageAction {
	var act messageAction
	if f.errorsLeft > 0 {
		f.errorsLeft--
		act.errorCode = f.errorCode
		return act
	}
	if f.dropsLeft > 0 {
		f.dropsLeft--
		act.drop = true
	}
	act.delay = f.ackDelay
	return act
}

// FailMessages makes the next n messages get an error ack with code (e.g.
// 463, 429, 500) instead of being delivered. whatsmeow's SendMessage then
// returns an error wrapping whatsmeow.ErrServerReturnedError.
func (s *Server) FailMessages(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.errorsLeft, s.faults.errorCode = n, code
}

// DropBeforeAck makes the fake deliver each of the next n messages and then
// close the connection instead of acking it. whatsmeow reconnects and
// resends the same frame; the fake acks the resend and delivers it once.
func (s *Server) DropBeforeAck(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.dropsLeft = n
}

// SetAckDelay delays every message ack by d; zero restores immediate acks.
func (s *Server) SetAckDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.ackDelay = d
}

// SetLoginFailure answers every login with <failure reason=...>, e.g. 401
// (logged out), 403 (locked), 503 (service unavailable); zero restores
// normal logins. Connections already logged in are not touched.
func (s *Server) SetLoginFailure(reason int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.loginFailure = reason
}

// DropConnections closes every client connection at once, as a network
// failure would. whatsmeow reports events.Disconnected and reconnects.
func (s *Server) DropConnections() {
	for _, c := range s.liveConns(types.EmptyJID, false) {
		c.kill()
	}
}

// SendStreamError sends <stream:error code=...> to every connection logged in
// as jid (every logged-in connection if jid is empty), with a <conflict type=...>
// child if conflict is set, then ends the stream.
func (s *Server) SendStreamError(jid types.JID, code, conflict string) {
	node := waBinary.Node{Tag: "stream:error", Attrs: waBinary.Attrs{}}
	if code != "" {
		node.Attrs["code"] = code
	}
	if conflict != "" {
		node.Content = []waBinary.Node{{Tag: "conflict", Attrs: waBinary.Attrs{"type": conflict}}}
	}
	for _, c := range s.liveConns(jid, true) {
		c.sendOrLog(node)
		c.endStream()
	}
}

// ReplaceStream tells jid's connections (all if empty) that another client
// took over the session; whatsmeow emits events.StreamReplaced and does not
// reconnect.
func (s *Server) ReplaceStream(jid types.JID) {
	s.SendStreamError(jid, "", "replaced")
}

// RemoveDevice unlinks a device, as the user would from their phone: a live
// connection gets stream:error 401 device_removed (whatsmeow emits
// events.LoggedOut and deletes its store) and later logins fail with 401.
func (s *Server) RemoveDevice(jid types.JID) {
	s.mu.Lock()
	if _, comp := s.deviceLocked(jid); comp != nil {
		comp.removed = true
	}
	s.mu.Unlock()
	s.SendStreamError(jid, "401", "device_removed")
	s.notify()
}

// liveConns lists the connections logged in as jid, or if jid is empty all
// connections (only logged-in ones if loggedIn is set).
func (s *Server) liveConns(jid types.JID, loggedIn bool) []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*conn
	for c := range s.conns {
		if loggedIn && !c.loggedInLocked() {
			continue
		}
		if jid.IsEmpty() || c.jid == jid {
			out = append(out, c)
		}
	}
	return out
}
