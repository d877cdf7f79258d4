package fakewa

import (
	"context"
	"fmt"
	"strconv"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// afterHandshake answers the client payload: a registration payload starts
// QR pairing, a login payload gets <success> or <failure>.
func (s *Server) afterHandshake(c *conn) {
	p := c.payload
	if p.Username == nil {
		if p.GetDevicePairingData() == nil {
			s.fail(fmt.Errorf("client payload has neither username nor pairing data"))
			c.kill()
			return
		}
		s.startPairing(c)
		return
	}
	jid := types.NewADJID(strconv.FormatUint(p.GetUsername(), 10), 0, uint8(p.GetDevice()))

	s.mu.Lock()
	reason := s.faults.loginFailure
	_, comp := s.deviceLocked(jid)
	switch {
	case reason != 0:
	case comp == nil || comp.removed:
		reason = 401 // unknown or unlinked device: logged out
	case comp.noisePub != c.noisePub:
		reason = 401
	default:
		c.jid = jid
		s.logins[jid]++
	}
	s.mu.Unlock()

	if reason != 0 {
		s.logf("login of %s refused with %d", jid, reason)
		c.sendOrLog(waBinary.Node{Tag: "failure", Attrs: waBinary.Attrs{
			"reason":   reason,
			"location": "fakewa",
		}})
		c.endStream()
		return
	}
	c.sendOrLog(waBinary.Node{Tag: "success", Attrs: waBinary.Attrs{
		"t":        time.Now().Unix(),
		"props":    "1",
		"abprops":  "1",
		"location": "fakewa",
		"creation": time.Now().Add(-time.Hour).Unix(),
	}})
	// An empty offline queue, so OfflineSyncCompleted fires as in production.
	c.sendOrLog(waBinary.Node{Tag: "ib", Content: []waBinary.Node{
		{Tag: "offline", Attrs: waBinary.Attrs{"count": 0}},
	}})
	s.notify()
}

// loggedInLocked reports whether c completed login. Call with s.mu held.
func (c *conn) loggedInLocked() bool { return !c.jid.IsEmpty() }

// Connections reports how many logged-in connections jid has (all
// logged-in connections if jid is empty).
func (s *Server) Connections(jid types.JID) int {
	return len(s.liveConns(jid, true))
}

// Logins reports how many times jid has logged in since the fake started
// (every device together if jid is empty), counting reconnects. Unlike
// Connections it also counts a connection that has closed again, so a test
// can check that a client stayed away.
func (s *Server) Logins(jid types.JID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !jid.IsEmpty() {
		return s.logins[jid]
	}
	n := 0
	for _, c := range s.logins {
		n += c
	}
	return n
}

// WaitConnections blocks until jid has exactly n logged-in connections (all
// clients together if jid is empty), or ctx ends. Use it to wait for a login
// or a disconnect from the server's side, which is free of the client's
// internal races.
func (s *Server) WaitConnections(ctx context.Context, jid types.JID, n int) error {
	err := s.waitFor(ctx, func() bool {
		count := 0
		for c := range s.conns {
			if c.loggedInLocked() && (jid.IsEmpty() || c.jid == jid) {
				count++
			}
		}
		return count == n
	})
	if err != nil {
		return fmt.Errorf("fakewa: waiting for %d connections of %q: %w", n, jid, err)
	}
	return nil
}
