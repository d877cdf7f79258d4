package phone

import (
	"errors"
	"testing"
)

func TestParseContactPhone(t *testing.T) {
	tests := []struct {
		in      string
		want    Number
		wantErr error
	}{
		{in: "6289685024992", want: Number{Digits: "6289685024992", International: "+62 896-8502-4992"}},
		{in: "6289865024992", want: Number{Digits: "6289865024992", International: "+62 898-6502-4992"}},
		{in: " 6281234567890 ", want: Number{Digits: "6281234567890", International: "+62 812-3456-7890"}},
		{in: "12025550123", want: Number{Digits: "12025550123", International: "+1 202-555-0123"}},
		{in: "447911123456", want: Number{Digits: "447911123456", International: "+44 7911 123456"}},
		{in: "4407911123456", want: Number{Digits: "447911123456", International: "+44 7911 123456"}},
		{in: "5491112345678", want: Number{Digits: "5491112345678", International: "+54 9 11 1234-5678"}},
		{in: "5215512345678", want: Number{Digits: "5215512345678", International: "+52 55 1234 5678"}},
		{in: "556191674812", want: Number{Digits: "556191674812", International: "+55 61 99167-4812"}},
		{in: "6834002", want: Number{Digits: "6834002", International: "+683 4002"}},

		// Service short codes.
		{in: "112", want: Number{Digits: "112", International: "112", ShortCode: true}},
		{in: "911", want: Number{Digits: "911", International: "911", ShortCode: true}},
		{in: "999", want: Number{Digits: "999", International: "999", ShortCode: true}},
		{in: "110", want: Number{Digits: "110", International: "110", ShortCode: true}},
		{in: "000", want: Number{Digits: "000", International: "000", ShortCode: true}},
		{in: "14045", want: Number{Digits: "14045", International: "14045", ShortCode: true}},
		{in: "123456", want: Number{Digits: "123456", International: "123456", ShortCode: true}},

		{in: "89685024992", wantErr: ErrCountryCode},
		{in: "089685024992", wantErr: ErrCountryCode},
		{in: "2025550123", wantErr: ErrInvalidNumber},
		{in: "1234567", wantErr: ErrInvalidNumber},
		{in: "5211234567890", wantErr: ErrInvalidNumber},
		{in: "551133334444", want: Number{Digits: "551133334444", International: "+55 11 3333-4444"}},
		{in: "1234567890123456", wantErr: ErrTooLong},
		{in: "11", wantErr: ErrTooShort},
		{in: "1", wantErr: ErrTooShort},
		{in: "", wantErr: ErrEmpty},
		{in: " \t", wantErr: ErrEmpty},
		{in: "+62 898 6502 4992", wantErr: ErrDigitsOnly},
		{in: "+6289865024992", wantErr: ErrDigitsOnly},
		{in: "62-898-6502-4992", wantErr: ErrDigitsOnly},
		{in: "(62)89865024992", wantErr: ErrDigitsOnly},
		{in: "62898650249９２", wantErr: ErrDigitsOnly}, // full-width digits
		{in: "6289865024992@s.whatsapp.net", wantErr: ErrDigitsOnly},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseContactPhone(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseContactPhone(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				if got != (Number{}) {
					t.Errorf("ParseContactPhone(%q) returned %+v with an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseContactPhone(%q) error = %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseContactPhone(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if again, err := ParseContactPhone(got.Digits); err != nil || again != got {
				t.Errorf("ParseContactPhone(%q) = %+v, %v: does not round-trip", got.Digits, again, err)
			}
		})
	}
}

func TestContactPhoneErrorText(t *testing.T) {
	_, err := ParseContactPhone("+62 898 6502 4992")
	if want := `must contain digits only (no spaces, "+" or dashes)`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	_, err = ParseContactPhone("89685024992")
	if want := "must start with a valid country code"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}
