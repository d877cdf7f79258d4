package wamsg

import (
	"errors"
	"fmt"
)

// ErrInvalidPayload is wrapped by every error Build returns. Such a payload
// can never be sent, so the worker gives up on it instead of retrying.
var ErrInvalidPayload = errors.New("wamsg: invalid payload")

// The specific reasons, each wrapping ErrInvalidPayload.
var (
	ErrUnknownKind = fmt.Errorf("%w: unknown kind", ErrInvalidPayload)
	ErrNoContacts  = fmt.Errorf("%w: contact payload has no contacts", ErrInvalidPayload)
	ErrNoName      = fmt.Errorf("%w: contact has no name", ErrInvalidPayload)
	ErrNoText      = fmt.Errorf("%w: text payload has no text", ErrInvalidPayload)
	ErrTextUTF8    = fmt.Errorf("%w: text is not valid UTF-8", ErrInvalidPayload)
)
