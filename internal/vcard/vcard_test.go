package vcard

import (
	"errors"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	tests := []struct {
		name string
		card Card
		want string
	}{
		{
			name: "reference layout",
			card: Card{Name: "John Doe", Phone: "6281234567890", PhoneDisplay: "+62 812-3456-7890", WAID: true},
			want: "BEGIN:VCARD\nVERSION:3.0\nN:;John Doe;;;\nFN:John Doe\nTEL;type=CELL;waid=6281234567890:+62 812-3456-7890\nEND:VCARD",
		},
		{
			name: "short code without waid",
			card: Card{Name: "Emergency Hotline", Phone: "112", PhoneDisplay: "112"},
			want: "BEGIN:VCARD\nVERSION:3.0\nN:;Emergency Hotline;;;\nFN:Emergency Hotline\nTEL;type=CELL:112\nEND:VCARD",
		},
		{
			name: "display falls back to digits",
			card: Card{Name: "A", Phone: "6281234567890", WAID: true},
			want: "BEGIN:VCARD\nVERSION:3.0\nN:;A;;;\nFN:A\nTEL;type=CELL;waid=6281234567890:6281234567890\nEND:VCARD",
		},
		{
			name: "no phone at all",
			card: Card{Name: "A", WAID: true},
			want: "BEGIN:VCARD\nVERSION:3.0\nN:;A;;;\nFN:A\nEND:VCARD",
		},
		{
			name: "waid keeps digits only",
			card: Card{Name: "A", Phone: "+62 812:3456;7890", PhoneDisplay: "+62 812", WAID: true},
			want: "BEGIN:VCARD\nVERSION:3.0\nN:;A;;;\nFN:A\nTEL;type=CELL;waid=6281234567890:+62 812\nEND:VCARD",
		},
		{
			name: "org and email, escaped",
			card: Card{Name: "Doe, John", Phone: "1", PhoneDisplay: "1", Organization: "Acme; Inc.", Email: "john@example.com"},
			want: "BEGIN:VCARD\nVERSION:3.0\nN:;Doe\\, John;;;\nFN:Doe\\, John\nORG:Acme\\; Inc.\nTEL;type=CELL:1\nEMAIL;type=INTERNET:john@example.com\nEND:VCARD",
		},
		{
			name: "blank org and email omitted",
			card: Card{Name: "A", Phone: "1", Organization: " \t", Email: "\r\n"},
			want: "BEGIN:VCARD\nVERSION:3.0\nN:;A;;;\nFN:A\nTEL;type=CELL:1\nEND:VCARD",
		},
		{
			name: "injection stays in the name",
			card: Card{Name: "Bob\nTEL:+1999\r\nEND:VCARD", Phone: "1"},
			want: "BEGIN:VCARD\nVERSION:3.0\nN:;Bob\\nTEL:+1999\\nEND:VCARD;;;\nFN:Bob\\nTEL:+1999\\nEND:VCARD\nTEL;type=CELL:1\nEND:VCARD",
		},
		{
			name: "backslash, controls and trimming",
			card: Card{Name: "  a\\b\x00\x1b\x7f\tc\u0085d  ", Phone: "1"},
			want: "BEGIN:VCARD\nVERSION:3.0\nN:;a\\\\b c\\nd;;;\nFN:a\\\\b c\\nd\nTEL;type=CELL:1\nEND:VCARD",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Build(tt.card)
			if got != tt.want {
				t.Errorf("Build() =\n%s\nwant\n%s", got, tt.want)
			}
			if err := Check(got); err != nil {
				t.Errorf("Check(Build()) = %v", err)
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Aldino Kemal", "Aldino Kemal"},
		{"  trimmed\t", "trimmed"},
		{"a\r\nb\rc\nd", "a\nb\nc\nd"},
		{"a\r\n\r\nb", "a\n\nb"},
		{"a\u2028b\u2029c\u0085d", "a\nb\nc\nd"},
		{"a\x00b\x1bc\x7fd\u009be", "abcde"},
		{"a\tb", "a b"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"\n\n name \r\n", "name"},
		{"👨‍👩‍👧 Família Müller", "👨‍👩‍👧 Família Müller"},
		{"\x00", ""},
	}
	for _, tt := range tests {
		if got := Sanitize(tt.in); got != tt.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheckRejects(t *testing.T) {
	const good = "BEGIN:VCARD\nVERSION:3.0\nN:;A;;;\nFN:A\nTEL;type=CELL;waid=1:+1\nEND:VCARD"
	if err := Check(good); err != nil {
		t.Fatalf("Check(good) = %v", err)
	}
	bad := map[string]string{
		"CRLF":              strings.ReplaceAll(good, "\n", "\r\n"),
		"trailing newline":  good + "\n",
		"no BEGIN":          strings.TrimPrefix(good, "BEGIN:VCARD\n"),
		"second BEGIN":      strings.Replace(good, "FN:A\n", "FN:A\nBEGIN:VCARD\n", 1),
		"second END":        strings.Replace(good, "FN:A\n", "FN:A\nEND:VCARD\n", 1),
		"injected TEL":      strings.Replace(good, "FN:A\n", "FN:A\nTEL:+1999\n", 1),
		"second TEL":        strings.Replace(good, "FN:A\n", "FN:A\nTEL;type=CELL:1\n", 1),
		"unknown property":  strings.Replace(good, "FN:A\n", "FN:A\nNOTE:x\n", 1),
		"no FN":             strings.Replace(good, "FN:A\n", "", 1),
		"N and FN differ":   strings.Replace(good, "FN:A", "FN:B", 1),
		"unescaped comma":   strings.ReplaceAll(good, ";A;", ";A,B;"),
		"unescaped semi":    strings.Replace(good, "FN:A", "FN:A;B", 1),
		"bad escape":        strings.ReplaceAll(good, ";A;", ";A\\x;"),
		"trailing escape":   strings.Replace(good, "FN:A", "FN:A\\", 1),
		"N shape":           strings.Replace(good, "N:;A;;;", "N:A;;;;", 1),
		"N extra component": strings.Replace(good, "N:;A;;;", "N:;A;;;;", 1),
		"empty name":        strings.ReplaceAll(strings.ReplaceAll(good, ";A;", ";;"), "FN:A", "FN:"),
		"waid letters":      strings.Replace(good, "waid=1", "waid=1a", 1),
		"waid empty":        strings.Replace(good, "waid=1", "waid=", 1),
		"control char":      strings.Replace(good, "FN:A", "FN:A\x00", 1),
		"invalid UTF-8":     strings.Replace(good, "FN:A", "FN:A\xff", 1),
		"empty":             "",
	}
	for name, v := range bad {
		if err := Check(v); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Check() = %v, want ErrMalformed", name, err)
		}
	}
}

// checkBuilt is the property the fuzzer and golden tests hold Build to: the
// card is well formed and its N and FN decode to exactly the sanitized name.
func checkBuilt(t *testing.T, c Card, got string) {
	t.Helper()
	name := Sanitize(c.Name)
	if name == "" {
		return
	}
	if err := Check(got); err != nil {
		t.Fatalf("Check(Build(%+v)) = %v\n%s", c, err, got)
	}
	lines := strings.Split(got, "\n")
	n := splitUnescaped(strings.TrimPrefix(lines[2], "N:"), ';')
	if unescape(n[1]) != name {
		t.Fatalf("N decodes to %q, want %q", unescape(n[1]), name)
	}
	if fn := unescape(strings.TrimPrefix(lines[3], "FN:")); fn != name {
		t.Fatalf("FN decodes to %q, want %q", fn, name)
	}
	wantLines := 5 // BEGIN VERSION N FN END
	for _, v := range []string{c.Organization, c.Email} {
		if Sanitize(v) != "" {
			wantLines++
		}
	}
	if onlyDigits(c.Phone) != "" || Sanitize(c.PhoneDisplay) != "" {
		wantLines++
	}
	if len(lines) != wantLines {
		t.Fatalf("Build(%+v) has %d lines, want %d\n%s", c, len(lines), wantLines, got)
	}
}

// unescape reverses writeEscaped on a value that passed checkText.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == 'n' {
				b.WriteByte('\n')
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
