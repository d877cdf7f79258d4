package vcard

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sanitize returns s as it will appear on a card: invalid UTF-8 replaced by
// U+FFFD, every line break (CRLF, CR, LF, NEL, U+2028, U+2029) made a single
// "\n", tabs made spaces, other control characters dropped, and surrounding
// whitespace trimmed. Build applies it to every text value; callers use it
// to show the same name elsewhere, e.g. as a message's display name.
func Sanitize(s string) string {
	if isClean(s) {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\r':
			if i < len(s) && s[i] == '\n' {
				i++
			}
			b.WriteByte('\n')
		case r == '\n', r == '\u0085', r == '\u2028', r == '\u2029':
			b.WriteByte('\n')
		case r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			// dropped
		default:
			b.WriteRune(r) // utf8.RuneError for invalid bytes, written as U+FFFD
		}
	}
	return strings.TrimSpace(b.String())
}

// isClean reports whether Sanitize has nothing to do but trim s.
func isClean(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// writeEscaped writes a sanitized text value escaped per RFC 6350 section
// 3.4: backslash, comma and semicolon get a backslash, a newline becomes the
// two characters \n.
func writeEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', ',', ';':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
}
