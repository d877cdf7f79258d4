package vcard

import "testing"

func FuzzBuild(f *testing.F) {
	f.Add("Aldino Kemal", "6289685024992", "+62 896-8502-4992", true, "", "")
	f.Add("Bob\nTEL:+1999", "1", "1", false, "", "")
	f.Add("a\\;b,c\r\nd\re", "112", "112", false, "Acme; Inc.", "x@y.z")
	f.Add("\x00\u2028\u0085\t", "", "", true, "\\", ",")
	f.Add("José 👩‍💻", "447911123456", "", true, "\n", "\xff")
	f.Fuzz(func(t *testing.T, name, phone, display string, waid bool, org, email string) {
		c := Card{Name: name, Phone: phone, PhoneDisplay: display, WAID: waid, Organization: org, Email: email}
		checkBuilt(t, c, Build(c))
	})
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "a", " a\r\nb ", "\xff\x00\u2028", "\t\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Sanitize(s)
		if again := Sanitize(got); again != got {
			t.Fatalf("Sanitize is not idempotent: %q -> %q -> %q", s, got, again)
		}
		for _, r := range got {
			if r == '\r' || r != '\n' && r < 0x20 {
				t.Fatalf("Sanitize(%q) = %q keeps control %U", s, got, r)
			}
		}
	})
}
