package phone

import "errors"

// Each error's text states the rule that was broken, phrased for the person
// who sent the value and without naming the field: the HTTP layer prefixes the
// field name ("contact_phone: must contain digits only ..."). Details are
// added by wrapping with %w, so test with errors.Is.
var (
	// ErrEmpty means the value was empty or only whitespace.
	ErrEmpty = errors.New("must not be empty")

	// ErrDigitsOnly means the value held something other than the digits 0-9.
	ErrDigitsOnly = errors.New(`must contain digits only (no spaces, "+" or dashes)`)

	// ErrCountryCode means the digits do not begin with an assigned country
	// calling code, which usually means the country code was left out.
	ErrCountryCode = errors.New("must start with a valid country code")

	// ErrInvalidNumber means the country code is known but the rest of the
	// number does not fit that country's numbering plan.
	ErrInvalidNumber = errors.New("is not a valid phone number for its country")

	// ErrTooShort means the value is too short to be either an international
	// number or a service short code.
	ErrTooShort = errors.New("must be an international number with its country code, or a 3 to 6 digit service short code")

	// ErrTooLong means the value has more digits than any international
	// number (E.164 allows at most 15).
	ErrTooLong = errors.New("must have at most 15 digits")

	// ErrRecipient means the value is neither international digits nor a JID
	// on a server wacard sends to.
	ErrRecipient = errors.New("must be international digits or a JID ending in @s.whatsapp.net, @g.us, @lid or @newsletter")
)
