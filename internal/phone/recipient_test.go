package phone

import (
	"errors"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/types"
)

func TestParseRecipient(t *testing.T) {
	tests := []struct {
		in      string
		want    string // JID string when err is nil
		wantErr error
	}{
		// Users.
		{in: "6289685024992@s.whatsapp.net", want: "6289685024992@s.whatsapp.net"},
		{in: "6289685024992", want: "6289685024992@s.whatsapp.net"},
		{in: "+6289685024992", want: "6289685024992@s.whatsapp.net"},
		{in: "  6289685024992@s.whatsapp.net\n", want: "6289685024992@s.whatsapp.net"},
		{in: "\t+12025550123 ", want: "12025550123@s.whatsapp.net"},
		{in: "447911123456", want: "447911123456@s.whatsapp.net"},
		{in: "4407911123456", want: "447911123456@s.whatsapp.net"}, // repeated trunk 0 dropped
		{in: "5215512345678@s.whatsapp.net", want: "5215512345678@s.whatsapp.net"},
		{in: "525512345678", want: "525512345678@s.whatsapp.net"},
		{in: "556191674812", want: "556191674812@s.whatsapp.net"},
		{in: "5561991674812", want: "5561991674812@s.whatsapp.net"},
		// Other servers.
		{in: "120363025246125888@g.us", want: "120363025246125888@g.us"},
		{in: "6281234567890-1600000000@g.us", want: "6281234567890-1600000000@g.us"},
		{in: "123456789012345@lid", want: "123456789012345@lid"},
		{in: "120363144038483540@newsletter", want: "120363144038483540@newsletter"},

		// Country code missing or wrong.
		{in: "89685024992", wantErr: ErrCountryCode},
		{in: "089685024992@s.whatsapp.net", wantErr: ErrCountryCode},
		{in: "2025550123", wantErr: ErrInvalidNumber}, // US number without 1 reads as Egypt
		{in: "62123", wantErr: ErrInvalidNumber},
		{in: "551133334444", want: "551133334444@s.whatsapp.net"}, // landline, valid as is
		{in: "552133334444", want: "552133334444@s.whatsapp.net"},
		{in: "5211234567890", wantErr: ErrInvalidNumber},
		{in: "1", wantErr: ErrInvalidNumber},
		{in: "1234567890123456", wantErr: ErrTooLong},

		// Shapes.
		{in: "", wantErr: ErrEmpty},
		{in: "   ", wantErr: ErrEmpty},
		{in: "62 896 8502 4992", wantErr: ErrDigitsOnly},
		{in: "62-896-8502-4992", wantErr: ErrDigitsOnly},
		{in: "++6289685024992", wantErr: ErrDigitsOnly},
		{in: "+", wantErr: ErrDigitsOnly},
		{in: "abc", wantErr: ErrDigitsOnly},
		{in: "٦٢٨٩٦٨٥٠٢٤٩٩٢", wantErr: ErrDigitsOnly}, // non-ASCII digits
		{in: "+6289685024992@s.whatsapp.net", wantErr: ErrDigitsOnly},
		{in: "62896850249a2@s.whatsapp.net", wantErr: ErrDigitsOnly},
		{in: "6289685024992:4@s.whatsapp.net", wantErr: ErrRecipient},
		{in: "6289685024992.0:4@s.whatsapp.net", wantErr: ErrRecipient},
		{in: "6289685024992@c.us", wantErr: ErrRecipient},
		{in: "6289685024992@S.WHATSAPP.NET", wantErr: ErrRecipient},
		{in: "6289685024992@", wantErr: ErrRecipient},
		{in: "@s.whatsapp.net", wantErr: ErrRecipient},
		{in: "s.whatsapp.net", wantErr: ErrDigitsOnly},
		{in: "6289685024992@s.whatsapp.net@g.us", wantErr: ErrRecipient},
		{in: "status@broadcast", wantErr: ErrRecipient},
		{in: "123-@g.us", wantErr: ErrRecipient},
		{in: "-123@g.us", wantErr: ErrRecipient},
		{in: "1-2-3@g.us", wantErr: ErrRecipient},
		{in: "12 3@g.us", wantErr: ErrRecipient},
		{in: "abc@lid", wantErr: ErrRecipient},
		{in: "1-2@newsletter", wantErr: ErrRecipient},
		{in: strings.Repeat("1", 60) + "@g.us", wantErr: ErrRecipient},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRecipient(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseRecipient(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				if got != (types.JID{}) {
					t.Errorf("ParseRecipient(%q) returned %v with an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRecipient(%q) error = %v", tt.in, err)
			}
			if got.String() != tt.want {
				t.Errorf("ParseRecipient(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again, err := ParseRecipient(got.String()); err != nil || again != got {
				t.Errorf("ParseRecipient(%q) = %v, %v: does not round-trip", got, again, err)
			}
		})
	}
}

// The HTTP layer shows these texts to clients; a change should be deliberate.
func TestErrorTexts(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"89685024992", "must start with a valid country code"},
		{"2025550123", "is not a valid phone number for its country (read as country code +20)"},
		{"62 896", `must contain digits only (no spaces, "+" or dashes)`},
		{"x@example.com", "must be international digits or a JID ending in @s.whatsapp.net, @g.us, @lid or @newsletter (unknown server)"},
		{"", "must not be empty"},
	}
	for _, tt := range tests {
		_, err := ParseRecipient(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseRecipient(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}
