package producer

import (
	"sync"

	"go.mau.fi/whatsmeow/types"

	"github.com/wacard/wacard/internal/phone"
)

// phoneParser parses the two kinds of phone fields; checker uses one.
type phoneParser interface {
	recipient(s string) (types.JID, error)
	contactPhone(s string) (phone.Number, error)
}

var (
	_ phoneParser = (*phoneMemo)(nil)
	_ phoneParser = (*phoneCache)(nil)
)

// phoneCache remembers phone parses across requests. Checking a number
// against the numbering plan costs tens of microseconds of regular
// expressions, and the same numbers (a team's few sales reps, regular
// recipients) come back all day. It holds at most max entries per kind and
// starts afresh when full, so its memory stays bounded.
type phoneCache struct {
	mu         sync.Mutex
	max        int
	recipients map[string]memoJID
	contacts   map[string]memoNumber
}

func newPhoneCache(max int) *phoneCache {
	return &phoneCache{max: max, recipients: map[string]memoJID{}, contacts: map[string]memoNumber{}}
}

func (c *phoneCache) recipient(s string) (types.JID, error) {
	c.mu.Lock()
	r, ok := c.recipients[s]
	c.mu.Unlock()
	if ok {
		return r.jid, r.err
	}
	jid, err := phone.ParseRecipient(s)
	c.mu.Lock()
	if len(c.recipients) >= c.max {
		c.recipients = make(map[string]memoJID, c.max)
	}
	c.recipients[s] = memoJID{jid, err}
	c.mu.Unlock()
	return jid, err
}

func (c *phoneCache) contactPhone(s string) (phone.Number, error) {
	c.mu.Lock()
	r, ok := c.contacts[s]
	c.mu.Unlock()
	if ok {
		return r.n, r.err
	}
	n, err := phone.ParseContactPhone(s)
	c.mu.Lock()
	if len(c.contacts) >= c.max {
		c.contacts = make(map[string]memoNumber, c.max)
	}
	c.contacts[s] = memoNumber{n, err}
	c.mu.Unlock()
	return n, err
}
