package vcard

import "errors"

// ErrMalformed is wrapped by every error Check returns.
var ErrMalformed = errors.New("vcard: malformed card")
