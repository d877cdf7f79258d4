package fakewa

import (
	"context"
	"fmt"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// Received is a message a simulated recipient device decrypted.
type Received struct {
	ID      types.MessageID
	To      types.JID // the chat: the recipient's non-AD JID
	Device  types.JID // the recipient device that decrypted it
	From    types.JID // the sending device
	Type    string    // the message node's type attribute: "text", "media", ...
	EncType string    // "pkmsg" (first message of a session) or "msg"
	Message *waE2E.Message
}

type seenKey struct {
	device types.JID
	id     types.MessageID
}

// handleMessage decrypts a 1:1 message for every simulated device it is
// addressed to, then acks it, unless a fault says otherwise.
func (s *Server) handleMessage(c *conn, node *waBinary.Node) {
	ag := node.AttrGetter()
	id := types.MessageID(ag.String("id"))
	to := ag.JID("to")
	typ := ag.OptionalString("type")
	if !ag.OK() {
		s.fail(fmt.Errorf("message node: %w", ag.Error()))
		return
	}
	s.mu.Lock()
	s.attempts[id]++
	from := c.jid
	act := s.faults.nextMessageLocked()
	s.mu.Unlock()

	if act.errorCode != 0 {
		s.logf("message %s: error ack %d (fault)", id, act.errorCode)
		c.sendOrLog(ackNode(id, to, act.errorCode))
		s.notify()
		return
	}
	if to.Server != types.DefaultUserServer {
		s.logf("message %s to %s: only 1:1 chats are simulated, acking unread", id, to)
	}
	participants := node.GetChildByTag("participants")
	for _, part := range participants.GetChildren() {
		dev, ok := part.Attrs["jid"].(types.JID)
		if part.Tag != "to" || !ok {
			continue
		}
		for _, enc := range part.GetChildrenByTag("enc") {
			s.deliver(c.ctx, id, to, dev, from, typ, enc)
		}
	}
	s.notify()

	if act.drop {
		s.logf("message %s: dropping connection before ack (fault)", id)
		c.kill()
		return
	}
	if act.delay > 0 {
		time.AfterFunc(act.delay, func() { c.sendOrLog(ackNode(id, to, 0)) })
		return
	}
	c.sendOrLog(ackNode(id, to, 0))
}

func ackNode(id types.MessageID, to types.JID, errorCode int) waBinary.Node {
	attrs := waBinary.Attrs{
		"class": "message",
		"id":    id,
		"from":  to,
		"t":     time.Now().Unix(),
	}
	if errorCode != 0 {
		attrs["error"] = errorCode
	}
	return waBinary.Node{Tag: "ack", Attrs: attrs}
}

// deliver decrypts one enc node for a simulated device. A message ID that
// device already has is not decrypted again: a resend after a dropped
// connection is the same ciphertext, and the Signal session must not be fed
// it twice.
func (s *Server) deliver(ctx context.Context, id types.MessageID, chat, dev, from types.JID, typ string, enc waBinary.Node) {
	s.mu.Lock()
	sim, _ := s.deviceLocked(dev)
	key := seenKey{dev, id}
	dup := s.seen[key]
	s.mu.Unlock()
	if sim == nil || dup {
		return
	}
	ag := enc.AttrGetter()
	encType := ag.String("type")
	version := ag.OptionalInt("v")
	data, _ := enc.Content.([]byte)
	padded, err := sim.decrypt(ctx, from, encType, data)
	if err != nil {
		s.fail(fmt.Errorf("message %s for %s: decrypt %s: %w", id, dev, encType, err))
		return
	}
	plaintext, err := unpad(padded, version)
	if err != nil {
		s.fail(fmt.Errorf("message %s for %s: %w", id, dev, err))
		return
	}
	var msg waE2E.Message
	if err := proto.Unmarshal(plaintext, &msg); err != nil {
		s.fail(fmt.Errorf("message %s for %s: unmarshal: %w", id, dev, err))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[key] {
		return
	}
	s.seen[key] = true
	if dev.User != chat.User {
		// The copy for the sender's own phone (a DeviceSentMessage): it
		// proves the client encrypted for its account, but is not a delivery.
		return
	}
	s.received = append(s.received, Received{
		ID: id, To: chat, Device: dev, From: from, Type: typ, EncType: encType, Message: &msg,
	})
}

// unpad strips whatsmeow's random padding: n copies of the byte n, 1 <= n <= 15.
// Version 3 payloads are not padded.
func unpad(b []byte, version int) ([]byte, error) {
	if version == 3 {
		return b, nil
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("empty plaintext")
	}
	n := int(b[len(b)-1])
	if n == 0 || n > len(b) {
		return nil, fmt.Errorf("bad padding length %d", n)
	}
	for _, p := range b[len(b)-n:] {
		if int(p) != n {
			return nil, fmt.Errorf("inconsistent padding")
		}
	}
	return b[:len(b)-n], nil
}

// Received returns the messages recipients decrypted so far, one per message
// ID and recipient device, in arrival order.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// WaitReceived blocks until at least n messages were received, and returns
// them all; or returns ctx's error.
func (s *Server) WaitReceived(ctx context.Context, n int) ([]Received, error) {
	err := s.waitFor(ctx, func() bool { return len(s.received) >= n })
	if err != nil {
		return s.Received(), fmt.Errorf("fakewa: waiting for %d received messages: %w", n, err)
	}
	return s.Received(), nil
}

// Attempts reports how many message nodes with this ID the fake got,
// counting resends, rejected and duplicate ones.
func (s *Server) Attempts(id types.MessageID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[id]
}
