package phone

import (
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"6289685024992@s.whatsapp.net", "6289*******92@s.whatsapp.net"},
		{"6289685024992", "6289*******92"},
		{"+6289685024992", "+6289*******92"},
		{" 12025550123 ", "1202*****23"},
		{"120363025246125888@g.us", "1203************88@g.us"},
		{"1234567890", "1234****90"},
		{"123456789", "12******9"},
		{"123456", "12***6"},
		{"14045", "*****"},
		{"112", "***"},
		{"", ""},
		{"@", "@"},
		{"+", "+"},
		{"@s.whatsapp.net", "@s.whatsapp.net"},
		{"6289685024992:4@s.whatsapp.net", "6289*********:4@s.whatsapp.net"},
		{"ÄÖÜäöüßéèê", "ÄÖÜä****èê"},
		{"1@" + strings.Repeat("x", 40), "*@" + strings.Repeat("x", 32) + "..."},
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
