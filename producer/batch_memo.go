package producer

import (
	"go.mau.fi/whatsmeow/types"

	"github.com/wacard/wacard/internal/phone"
)

// phoneMemo remembers phone parses within one batch: a full number costs tens
// of microseconds to check against the numbering plan, and a batch names the
// same few rep numbers thousands of times. A memo belongs to one goroutine.
// A nil memo parses every time.
type phoneMemo struct {
	recipients map[string]memoJID
	contacts   map[string]memoNumber
}

type memoJID struct {
	jid types.JID
	err error
}

type memoNumber struct {
	n   phone.Number
	err error
}

func newPhoneMemo() *phoneMemo {
	return &phoneMemo{recipients: map[string]memoJID{}, contacts: map[string]memoNumber{}}
}

func (m *phoneMemo) recipient(s string) (types.JID, error) {
	if m == nil {
		return phone.ParseRecipient(s)
	}
	if r, ok := m.recipients[s]; ok {
		return r.jid, r.err
	}
	jid, err := phone.ParseRecipient(s)
	m.recipients[s] = memoJID{jid, err}
	return jid, err
}

func (m *phoneMemo) contactPhone(s string) (phone.Number, error) {
	if m == nil {
		return phone.ParseContactPhone(s)
	}
	if r, ok := m.contacts[s]; ok {
		return r.n, r.err
	}
	n, err := phone.ParseContactPhone(s)
	m.contacts[s] = memoNumber{n, err}
	return n, err
}
