package phone

import (
	"strings"
	"unicode/utf8"
)

// maxMaskedServer bounds how much of a server part Mask copies into a log.
const maxMaskedServer = 32

// Mask hides most of a phone number or JID for logs. It keeps a JID's server,
// a leading "+", and the first 4 and last 2 characters of the user part when
// it has 10 or more; shorter user parts keep less (2 and 1 from 6 up), and
// fewer than 6 are masked entirely. Each hidden character becomes "*", so
// the length stays visible. Mask accepts any string and never panics.
//
//	Mask("6289685024992@s.whatsapp.net") == "6289*******92@s.whatsapp.net"
func Mask(s string) string {
	s = strings.TrimSpace(s)
	user, server, hasServer := strings.Cut(s, "@")
	plus := strings.HasPrefix(user, "+")
	if plus {
		user = user[1:]
	}

	n := utf8.RuneCountInString(user)
	head, tail := 0, 0
	switch {
	case n >= 10:
		head, tail = 4, 2
	case n >= 6:
		head, tail = 2, 1
	}

	var b strings.Builder
	b.Grow(len(s) + 1)
	if plus {
		b.WriteByte('+')
	}
	i := 0
	for _, r := range user {
		if i < head || i >= n-tail {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
		i++
	}
	if hasServer {
		b.WriteByte('@')
		if len(server) > maxMaskedServer {
			server = strings.ToValidUTF8(server[:maxMaskedServer], "") + "..."
		}
		b.WriteString(server)
	}
	return b.String()
}
