// Package phone holds wacard's rules for the two kinds of phone input it
// accepts: the recipient of a message (ParseRecipient) and the number shown
// on a shared contact card (ParseContactPhone). It also masks numbers for logs.
//
// Numbers are checked against the real numbering plan with libphonenumber
// (github.com/nyaruka/phonenumbers), so a number without its country code,
// such as 89685024992, is rejected instead of being sent to the wrong country.
//
// # Service short codes
//
// A contact phone of 3 to 6 digits is accepted as a service short code (112,
// 911, 999, 110, 000, 14045, ...) and is never treated as an international
// number: the shortest valid international number has 7 digits, so the two
// cannot be confused. libphonenumber's short-number metadata is deliberately
// not consulted: it is per region, and with no region to hand about nine in
// ten random strings of 3 to 6 digits are a valid short code in some region,
// so it would cost a scan of every region per call while rejecting almost
// nothing. Short codes are not WhatsApp accounts, so cards built from them
// carry no waid.
//
// # WhatsApp's legacy number forms
//
// WhatsApp still names some accounts by numbers that the current numbering
// plan no longer considers valid, and wacard must be able to send to them:
//
//   - Mexico: 52 1 + 10 digits (the old mobile prefix), e.g. 5215512345678,
//     accepted when 52 + the same 10 digits is valid.
//   - Brazil: 55 + area code + 8 digits starting 6-9 (mobiles from before the
//     ninth digit), e.g. 556191674812, accepted when inserting the 9
//     (5561991674812) gives a valid mobile number.
//
// Such numbers keep their digits as given; their International form is the
// current one.
package phone

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Digit-count limits. E.164 numbers have at most 15 digits; the shortest
// valid international number has 7.
const (
	maxDigits    = 15
	minShortCode = 3
	maxShortCode = 6
)

// Number is a contact phone that passed ParseContactPhone.
type Number struct {
	// Digits is the number as WhatsApp knows it, digits only: the canonical
	// E.164 form without "+" (a trunk 0 repeated after the country code is
	// removed), the legacy form when one was given, or the short code.
	Digits string
	// International is how the number is shown: libphonenumber's
	// INTERNATIONAL format (e.g. "+62 898-6502-4992"), or the short code.
	International string
	// ShortCode reports a 3-6 digit service number such as 112.
	ShortCode bool
}

// ParseContactPhone checks the phone number of a contact card. It accepts
// digits only, surrounded by optional whitespace: an international number
// with its country code and no "+", or a 3-6 digit service short code.
func ParseContactPhone(s string) (Number, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Number{}, ErrEmpty
	}
	if !allDigits(s) {
		return Number{}, ErrDigitsOnly
	}
	switch n := len(s); {
	case n < minShortCode:
		return Number{}, ErrTooShort
	case n <= maxShortCode:
		return Number{Digits: s, International: s, ShortCode: true}, nil
	}
	digits, num, err := checkInternational(s)
	if err != nil {
		return Number{}, err
	}
	return Number{Digits: digits, International: phonenumbers.Format(num, phonenumbers.INTERNATIONAL)}, nil
}

// checkInternational validates an international number given as digits
// without "+". It returns the digits WhatsApp knows the number by and the
// parsed number in its current form, for formatting.
func checkInternational(digits string) (canonical string, num *phonenumbers.PhoneNumber, err error) {
	if len(digits) > maxDigits {
		return "", nil, ErrTooLong
	}
	if fast, nsn := fromDigits(digits); fast != nil && !trunkPrefixAt(fast, nsn) && phonenumbers.IsValidNumber(fast) {
		return digits, fast, nil
	}
	return parseInternational(digits)
}

// parseInternational is checkInternational through phonenumbers.Parse: the
// reference, and the path for every number the fast path leaves alone.
func parseInternational(digits string) (canonical string, num *phonenumbers.PhoneNumber, err error) {
	num, err = phonenumbers.Parse("+"+digits, "")
	if err != nil {
		if errors.Is(err, phonenumbers.ErrInvalidCountryCode) {
			return "", nil, ErrCountryCode
		}
		return "", nil, ErrInvalidNumber
	}
	if phonenumbers.IsValidNumber(num) {
		return phonenumbers.Format(num, phonenumbers.E164)[1:], num, nil
	}
	if modern := legacyEquivalent(digits); modern != nil {
		return digits, modern, nil
	}
	// Say which country the digits were read as: a number that lost its
	// country code usually reads as some other country's invalid number.
	return "", nil, fmt.Errorf("%w (read as country code +%d)", ErrInvalidNumber, num.GetCountryCode())
}

// legacyEquivalent returns the currently valid number that a legacy WhatsApp
// number form (see the package doc) stands for, or nil.
func legacyEquivalent(digits string) *phonenumbers.PhoneNumber {
	var modern string
	switch {
	case len(digits) == 13 && strings.HasPrefix(digits, "521"):
		modern = "52" + digits[3:]
	case len(digits) == 12 && strings.HasPrefix(digits, "55") && digits[4] >= '6':
		modern = digits[:4] + "9" + digits[4:]
	default:
		return nil
	}
	num, err := phonenumbers.Parse("+"+modern, "")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return nil
	}
	if digits[:2] == "55" && phonenumbers.GetNumberType(num) != phonenumbers.MOBILE {
		return nil
	}
	return num
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
