package phone

import (
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"6289685024992@s.whatsapp.net",
	"+6289685024992",
	"89685024992",
	"+62 898 6502 4992",
	"112",
	"4407911123456",
	"5215512345678",
	"556191674812",
	"120363025246125888@g.us",
	"6281234567890-1600000000@g.us",
	"123456789012345@lid",
	"120363144038483540@newsletter",
	"6289685024992:4@s.whatsapp.net",
	"6289685024992.0:4@s.whatsapp.net",
	"@",
	"+",
	"",
	"\xff\xfe@g.us",
}

func FuzzParseRecipient(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		jid, err := ParseRecipient(s)
		if err != nil {
			return
		}
		if jid.Device != 0 || jid.RawAgent != 0 || jid.User == "" {
			t.Fatalf("ParseRecipient(%q) = %#v: want a plain JID", s, jid)
		}
		again, err := ParseRecipient(jid.String())
		if err != nil {
			t.Fatalf("ParseRecipient(%q) = %v, which does not parse again: %v", s, jid, err)
		}
		if again != jid {
			t.Fatalf("ParseRecipient(%q) = %#v, but its String() parses to %#v", s, jid, again)
		}
	})
}

func FuzzParseContactPhone(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseContactPhone(s)
		if err != nil {
			return
		}
		if !allDigits(n.Digits) {
			t.Fatalf("ParseContactPhone(%q).Digits = %q: not all digits", s, n.Digits)
		}
		if n.ShortCode != (n.International == n.Digits) {
			t.Fatalf("ParseContactPhone(%q) = %+v: ShortCode disagrees with International", s, n)
		}
		again, err := ParseContactPhone(n.Digits)
		if err != nil || again != n {
			t.Fatalf("ParseContactPhone(%q) = %+v, but its Digits parse to %+v, %v", s, n, again, err)
		}
	})
}

func FuzzMask(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := Mask(s)
		if utf8.ValidString(s) && !utf8.ValidString(m) {
			t.Fatalf("Mask(%q) = %q: invalid UTF-8", s, m)
		}
		if allDigits(s) && len(s) >= 6 && m == s {
			t.Fatalf("Mask(%q) hid nothing", s)
		}
	})
}
