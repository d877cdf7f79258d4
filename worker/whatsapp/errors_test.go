package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.mau.fi/whatsmeow"
)

// ack builds the error whatsmeow's SendMessage returns for an error ack.
func ack(code int) error {
	return fmt.Errorf("%w %d", whatsmeow.ErrServerReturnedError, code)
}

func TestAsServerError(t *testing.T) {
	t.Parallel()
	plain := errors.New("boom")
	already := &ServerError{Code: 500}
	garbled := fmt.Errorf("%w oops", whatsmeow.ErrServerReturnedError)

	tests := []struct {
		name     string
		in       error
		wantCode int  // when a *ServerError is expected
		same     bool // the input comes back unchanged
	}{
		{name: "463", in: ack(463), wantCode: 463},
		{name: "429", in: ack(429), wantCode: 429},
		{name: "479", in: ack(479), wantCode: 479},
		{name: "wrapped", in: fmt.Errorf("send to x: %w", ack(421)), wantCode: 421},
		{name: "nil", in: nil, same: true},
		{name: "other error", in: plain, same: true},
		{name: "already converted", in: already, same: true},
		{name: "no code", in: garbled, same: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := asServerError(tt.in)
			if tt.same {
				if got != tt.in {
					t.Errorf("asServerError(%v) = %v, want the input unchanged", tt.in, got)
				}
				return
			}
			var se *ServerError
			if !errors.As(got, &se) {
				t.Fatalf("asServerError(%v) = %T %v, want *ServerError", tt.in, got, got)
			}
			if se.Code != tt.wantCode {
				t.Errorf("Code = %d, want %d", se.Code, tt.wantCode)
			}
			if !errors.Is(got, whatsmeow.ErrServerReturnedError) {
				t.Error("*ServerError does not unwrap to whatsmeow.ErrServerReturnedError")
			}
		})
	}
}

func TestServerErrorMessage(t *testing.T) {
	t.Parallel()
	if got, want := (&ServerError{Code: 463}).Error(), "whatsapp: server returned error 463"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestSendError(t *testing.T) {
	t.Parallel()
	plain := errors.New("boom")
	tests := []struct {
		name string
		in   error
		is   []error // every sentinel errors.Is must match
		code int     // a *ServerError with this code, when non-zero
	}{
		{name: "nil", in: nil},
		{name: "server ack", in: ack(429), is: []error{whatsmeow.ErrServerReturnedError}, code: 429},
		{
			name: "not connected",
			in:   fmt.Errorf("failed to send: %w", whatsmeow.ErrNotConnected),
			is:   []error{ErrNotConnected, whatsmeow.ErrNotConnected},
		},
		{name: "not logged in", in: whatsmeow.ErrNotLoggedIn, is: []error{ErrLoggedOut, whatsmeow.ErrNotLoggedIn}},
		{name: "timeout", in: whatsmeow.ErrMessageTimedOut, is: []error{whatsmeow.ErrMessageTimedOut}},
		{name: "context", in: context.DeadlineExceeded, is: []error{context.DeadlineExceeded}},
		{name: "other", in: plain, is: []error{plain}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sendError(tt.in)
			if tt.in == nil {
				if got != nil {
					t.Errorf("sendError(nil) = %v", got)
				}
				return
			}
			for _, target := range tt.is {
				if !errors.Is(got, target) {
					t.Errorf("errors.Is(%v, %v) = false", got, target)
				}
			}
			var se *ServerError
			if isSE := errors.As(got, &se); isSE != (tt.code != 0) || (isSE && se.Code != tt.code) {
				t.Errorf("sendError(%v) = %v; want ServerError code %d", tt.in, got, tt.code)
			}
		})
	}
}

func TestErrNotConnectedWrapsWhatsmeow(t *testing.T) {
	t.Parallel()
	if !errors.Is(ErrNotConnected, whatsmeow.ErrNotConnected) {
		t.Error("ErrNotConnected does not wrap whatsmeow.ErrNotConnected")
	}
}
