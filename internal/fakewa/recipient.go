package fakewa

import (
	"context"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// Recipient is a simulated WhatsApp user the client can message. Its devices
// have real Signal identities and prekeys and decrypt what they are sent.
type Recipient struct {
	srv *Server
	jid types.JID
}

// AddRecipient registers phone (digits, optional leading '+') as a WhatsApp
// user with one device, its phone. It returns the existing user if phone is
// already known. It panics if phone is not a phone number. Numbers never
// added are not on WhatsApp: usync reports them
// as contact type "out" with no devices.
func (s *Server) AddRecipient(phone string) *Recipient {
	p, err := normalizePhone(phone)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	u := s.userLocked(p)
	s.mu.Unlock()
	return &Recipient{srv: s, jid: u.jid}
}

// JID is the recipient's user JID, the chat to send to.
func (r *Recipient) JID() types.JID { return r.jid }

// AddDevice gives the recipient another simulated device (a linked
// companion) and returns its JID. whatsmeow encrypts each message for every
// device, so each one produces its own Received entry.
func (r *Recipient) AddDevice() types.JID {
	s := r.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[r.jid.User]
	id := u.nextDevice
	u.nextDevice++
	jid := types.NewADJID(r.jid.User, 0, uint8(id))
	u.sims[id] = newSimDevice(jid)
	return jid
}

// SetOnWhatsApp(false) makes usync answer as if the number had left
// WhatsApp: contact type "out" and an empty device list. whatsmeow then
// encrypts for nobody on the recipient's side and the fake acks a message
// that no device receives.
func (r *Recipient) SetOnWhatsApp(on bool) {
	s := r.srv
	s.mu.Lock()
	s.users[r.jid.User].hidden = !on
	s.mu.Unlock()
	s.notify()
}

// SendReceipt sends a receipt from the recipient's phone for message id to
// the clients logged in to the account that sent it (to every logged-in
// client if the fake never received that ID for this recipient). typ is
// types.ReceiptTypeDelivered (""), types.ReceiptTypeRead, and so on;
// whatsmeow turns it into an events.Receipt.
func (r *Recipient) SendReceipt(ctx context.Context, id types.MessageID, typ types.ReceiptType) error {
	s := r.srv
	var sender types.JID
	s.mu.Lock()
	for _, m := range s.received {
		if m.ID == id && m.To == r.jid {
			sender = m.From.ToNonAD()
			break
		}
	}
	s.mu.Unlock()

	node := waBinary.Node{Tag: "receipt", Attrs: waBinary.Attrs{
		"from": r.jid,
		"id":   id,
		"t":    time.Now().Unix(),
	}}
	if typ != types.ReceiptTypeDelivered {
		node.Attrs["type"] = string(typ)
	}
	sent := false
	for _, c := range s.liveConns(types.EmptyJID, true) {
		s.mu.Lock()
		match := sender.IsEmpty() || c.jid.User == sender.User
		s.mu.Unlock()
		if !match {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.send(node); err == nil {
			sent = true
		}
	}
	if !sent {
		return ErrNoConnection
	}
	return nil
}
