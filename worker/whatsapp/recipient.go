package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
)

// How long a Session trusts WhatsApp's answer to "is this number on
// WhatsApp?". Each lookup is a usync contact query, and WhatsApp watches
// accounts that look numbers up in bulk, so a yes is kept for a day: numbers
// rarely leave WhatsApp. A no is kept only briefly, so a number that has just
// joined is found by its next message, while a batch to one bad number does
// not ask again for every message.
const (
	onWhatsAppTTL    = 24 * time.Hour
	notOnWhatsAppTTL = time.Minute
	// maxKnownRecipients bounds the cache; past it, expired answers are
	// dropped, and if that is not enough the cache starts over.
	maxKnownRecipients = 100_000
)

// recipientCache remembers which phone numbers are on WhatsApp. It is safe
// for concurrent use.
type recipientCache struct {
	mu    sync.Mutex
	known map[string]recipientAnswer // by JID user part (the digits)
}

type recipientAnswer struct {
	on    bool
	until time.Time
}

// get returns the cached answer for user, if one is still valid at now.
func (c *recipientCache) get(user string, now time.Time) (on, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.known[user]
	if !ok || !now.Before(a.until) {
		return false, false
	}
	return a.on, true
}

// put records WhatsApp's answer for user, received at now.
func (c *recipientCache) put(user string, on bool, now time.Time) {
	ttl := notOnWhatsAppTTL
	if on {
		ttl = onWhatsAppTTL
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known == nil {
		c.known = make(map[string]recipientAnswer)
	}
	if _, ok := c.known[user]; !ok && len(c.known) >= maxKnownRecipients {
		for u, a := range c.known {
			if !now.Before(a.until) {
				delete(c.known, u)
			}
		}
		if len(c.known) >= maxKnownRecipients {
			clear(c.known)
		}
	}
	c.known[user] = recipientAnswer{on: on, until: now.Add(ttl)}
}

// checkRecipient returns ErrNotOnWhatsApp when WhatsApp says the phone number
// of to has no account. Only phone-number JIDs (…@s.whatsapp.net) are
// checked; groups, LIDs and other servers pass unchecked. An answer that
// names no user at all is not trusted either way: the message is sent, as it
// would be without the check.
func (s *Session) checkRecipient(ctx context.Context, to types.JID) error {
	if to.Server != types.DefaultUserServer || to.User == "" {
		return nil
	}
	now := s.now()
	if on, ok := s.recipients.get(to.User, now); ok {
		if !on {
			return fmt.Errorf("%w (cached answer)", ErrNotOnWhatsApp)
		}
		return nil
	}
	resp, err := s.cli.IsOnWhatsApp(ctx, []string{"+" + to.User})
	if err != nil {
		return checkError(err)
	}
	if len(resp) == 0 {
		return nil
	}
	on := false
	for _, r := range resp {
		on = on || r.IsIn
	}
	s.recipients.put(to.User, on, now)
	if !on {
		return ErrNotOnWhatsApp
	}
	return nil
}

// checkError maps a failed IsOnWhatsApp query onto this package's errors: a
// rate limit reads as the 429 a send would get, a lost connection as
// ErrNotConnected; anything else is wrapped as it is.
func checkError(err error) error {
	var iq *whatsmeow.IQError
	switch {
	case errors.As(err, &iq) && iq.Code == 429:
		return fmt.Errorf("whatsapp: check recipient: %w", &ServerError{Code: 429})
	case errors.Is(err, whatsmeow.ErrIQDisconnected), errors.Is(err, whatsmeow.ErrNotConnected):
		return fmt.Errorf("%w (check recipient: %w)", ErrNotConnected, err)
	}
	return fmt.Errorf("whatsapp: check recipient: %w", err)
}
