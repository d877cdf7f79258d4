package phone

import (
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow/types"
)

// maxRecipientLen bounds a recipient after trimming. The longest accepted
// form, an old-style group ID (creator number, dash, creation time) on g.us,
// fits with room to spare.
const maxRecipientLen = 64

// ParseRecipient checks the recipient of a message and returns its JID.
//
// It accepts, after trimming surrounding whitespace:
//
//   - international digits, optionally with one leading "+", which become
//     {digits}@s.whatsapp.net;
//   - {digits}@s.whatsapp.net, a user;
//   - {id}@g.us, a group, where id is digits or digits-digits;
//   - {digits}@lid, a user's hidden ID;
//   - {digits}@newsletter, a channel.
//
// User numbers must be valid in the numbering plan (see the package doc) and
// are returned in canonical form. Device JIDs (123:4@s.whatsapp.net) and
// every other server are rejected. A returned JID's String() parses back to
// the same JID.
func ParseRecipient(s string) (types.JID, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return types.JID{}, ErrEmpty
	case len(s) > maxRecipientLen:
		return types.JID{}, fmt.Errorf("%w (too long)", ErrRecipient)
	}

	at := strings.IndexByte(s, '@')
	if at < 0 {
		digits := strings.TrimPrefix(s, "+")
		if !allDigits(digits) {
			return types.JID{}, ErrDigitsOnly
		}
		return userJID(digits)
	}

	user, server := s[:at], s[at+1:]
	if user == "" {
		return types.JID{}, fmt.Errorf("%w (nothing before @)", ErrRecipient)
	}
	if strings.ContainsAny(user, ":.") {
		return types.JID{}, fmt.Errorf("%w (device JIDs are not accepted)", ErrRecipient)
	}
	switch server {
	case types.DefaultUserServer:
		if !allDigits(user) {
			return types.JID{}, ErrDigitsOnly
		}
		return userJID(user)
	case types.GroupServer:
		if !isGroupID(user) {
			return types.JID{}, fmt.Errorf("%w (a group ID is digits, or digits-digits)", ErrRecipient)
		}
	case types.HiddenUserServer, types.NewsletterServer:
		if !allDigits(user) {
			return types.JID{}, fmt.Errorf("%w (the part before @%s must be digits)", ErrRecipient, server)
		}
	default:
		return types.JID{}, fmt.Errorf("%w (unknown server)", ErrRecipient)
	}
	return types.NewJID(user, server), nil
}

// userJID validates a user's number and returns its JID on s.whatsapp.net.
func userJID(digits string) (types.JID, error) {
	canonical, _, err := checkInternational(digits)
	if err != nil {
		return types.JID{}, err
	}
	return types.NewJID(canonical, types.DefaultUserServer), nil
}

// isGroupID reports whether id is digits, or two runs of digits joined by a
// dash (the old creator-timestamp form).
func isGroupID(id string) bool {
	first, rest, found := strings.Cut(id, "-")
	if !found {
		return allDigits(id)
	}
	return allDigits(first) && allDigits(rest)
}
