package webhook

import "errors"

// Errors of Verify. Every one means "do not trust this request".
var (
	ErrNoSignature       = errors.New("webhook: no Wacard-Signature header")
	ErrMalformed         = errors.New("webhook: malformed Wacard-Signature header")
	ErrSignatureMismatch = errors.New("webhook: signature does not match the body")
	ErrExpired           = errors.New("webhook: signature timestamp outside the tolerance")
)
