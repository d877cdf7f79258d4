// Package vcard builds the vCard 3.0 text that a WhatsApp contact message
// carries, in the layout WhatsApp's own clients produce:
//
//	BEGIN:VCARD
//	VERSION:3.0
//	N:;Aldino Kemal;;;
//	FN:Aldino Kemal
//	TEL;type=CELL;waid=6289685024992:+62 896-8502-4992
//	END:VCARD
//
// Lines end in "\n", not the CRLF of RFC 2426, because that is what WhatsApp
// sends, and long lines are not folded. Every text value is sanitized (see
// Sanitize) and then escaped as RFC 6350 section 3.4 requires, so no value,
// whatever it holds, can end a line, start a property or split a field:
// "Bob\nTEL:+1999" stays one name.
package vcard

import "strings"

// Card is the content of one contact card.
type Card struct {
	Name string // shown on the card (N and FN); trimmed and sanitized
	// Phone is the number as digits only, e.g. "6289685024992" or "112".
	// Anything else in it is dropped.
	Phone string
	// PhoneDisplay is how the number is shown, e.g. "+62 896-8502-4992" or
	// "112". When empty, Phone is shown.
	PhoneDisplay string
	// WAID adds waid=<Phone> to the TEL line, which lets WhatsApp offer
	// "Message" for the number. Leave it false for numbers that cannot be
	// WhatsApp accounts, such as service short codes.
	WAID         bool
	Organization string // ORG, omitted when empty
	Email        string // EMAIL;type=INTERNET, omitted when empty
}

// Build returns c as vCard 3.0 text. The TEL line is omitted only when both
// Phone and PhoneDisplay are empty. The result passes Check whenever the
// sanitized name is not empty; callers reject empty names first.
func Build(c Card) string {
	name := Sanitize(c.Name)
	org := Sanitize(c.Organization)
	email := Sanitize(c.Email)
	digits := onlyDigits(c.Phone)
	display := Sanitize(c.PhoneDisplay)
	if display == "" {
		display = digits
	}

	var b strings.Builder
	b.Grow(96 + 2*len(name) + len(org) + len(email) + len(digits) + len(display))
	b.WriteString("BEGIN:VCARD\nVERSION:3.0\nN:;")
	writeEscaped(&b, name)
	b.WriteString(";;;\nFN:")
	writeEscaped(&b, name)
	b.WriteByte('\n')
	if org != "" {
		b.WriteString("ORG:")
		writeEscaped(&b, org)
		b.WriteByte('\n')
	}
	if display != "" {
		b.WriteString("TEL;type=CELL")
		if c.WAID && digits != "" {
			b.WriteString(";waid=")
			b.WriteString(digits)
		}
		b.WriteByte(':')
		writeEscaped(&b, display)
		b.WriteByte('\n')
	}
	if email != "" {
		b.WriteString("EMAIL;type=INTERNET:")
		writeEscaped(&b, email)
		b.WriteByte('\n')
	}
	b.WriteString("END:VCARD")
	return b.String()
}

func onlyDigits(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return strings.Map(func(r rune) rune {
				if r < '0' || r > '9' {
					return -1
				}
				return r
			}, s)
		}
	}
	return s
}
