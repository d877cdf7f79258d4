package webhook

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSignKnownVector pins the signature to a value computed outside Go, with
// the openssl command docs/webhooks.md shows:
//
//	printf '%s' '1750000000.{"event":"message.sent"}' | openssl dgst -sha256 -hmac 'whsec_test_0123456789' -hex
func TestSignKnownVector(t *testing.T) {
	t.Parallel()
	got := Sign("whsec_test_0123456789", time.Unix(1750000000, 0), []byte(`{"event":"message.sent"}`))
	want := "t=1750000000,v1=cd1083822eb0132d37685ddf9910480486374dd190a7520a8afab23c02d31b25"
	if got != want {
		t.Fatalf("Sign = %s\nwant   %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	const secret = "whsec_test_0123456789"
	body := []byte(`{"event":"message.sent","id":"evt_1","data":{"state":"sent"}}`)
	signedAt := time.Unix(1750000000, 0)
	good := Sign(secret, signedAt, body)
	sig := strings.TrimPrefix(good, "t=1750000000,")
	other := Sign("another-secret-value", signedAt, body)
	tests := []struct {
		name      string
		secret    string
		header    string
		body      []byte
		now       time.Time
		tolerance time.Duration
		want      error // nil = valid
	}{
		{"valid", secret, good, body, signedAt, 0, nil},
		{"valid with spaces", secret, "t=1750000000, " + sig, body, signedAt, 0, nil},
		{"valid within tolerance", secret, good, body, signedAt.Add(4 * time.Minute), 0, nil},
		{"valid with a clock slightly behind", secret, good, body, signedAt.Add(-4 * time.Minute), 0, nil},
		{"valid under a custom tolerance", secret, good, body, signedAt.Add(time.Hour), 2 * time.Hour, nil},
		{"one of two v1 matches (secret rotation)", secret, other + "," + sig, body, signedAt, 0, nil},
		{"unknown schemes ignored", secret, good + ",v0=abc", body, signedAt, 0, nil},
		{"tampered body", secret, good, []byte(strings.Replace(string(body), "sent", "read", 1)), signedAt, 0, ErrSignatureMismatch},
		{"body re-encoded", secret, good, append(body, '\n'), signedAt, 0, ErrSignatureMismatch},
		{"wrong secret", "not-the-secret-at-all", good, body, signedAt, 0, ErrSignatureMismatch},
		{"timestamp changed", secret, "t=1750000001," + sig, body, signedAt, 0, ErrSignatureMismatch},
		{"expired", secret, good, body, signedAt.Add(6 * time.Minute), 0, ErrExpired},
		{"expired under a custom tolerance", secret, good, body, signedAt.Add(31 * time.Second), 30 * time.Second, ErrExpired},
		{"from the future", secret, good, body, signedAt.Add(-6 * time.Minute), 0, ErrExpired},
		{"no header", secret, "", body, signedAt, 0, ErrNoSignature},
		{"no timestamp", secret, sig, body, signedAt, 0, ErrMalformed},
		{"no v1", secret, "t=1750000000", body, signedAt, 0, ErrMalformed},
		{"v1 not hex", secret, "t=1750000000,v1=zz", body, signedAt, 0, ErrMalformed},
		{"v1 too short", secret, "t=1750000000,v1=abcd", body, signedAt, 0, ErrMalformed},
		{"not key=value", secret, "garbage", body, signedAt, 0, ErrMalformed},
		{"t not a number", secret, "t=soon," + sig, body, signedAt, 0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(tt.secret, tt.header, tt.body, tt.now, tt.tolerance)
			if tt.want == nil && err != nil {
				t.Fatalf("Verify rejected a valid signature: %v", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("t=1750000000,v1=cd1083822eb0132d37685ddf9910480486374dd190a7520a8afab23c02d31b25")
	f.Add("t=,v1=,=,,")
	f.Fuzz(func(t *testing.T, header string) {
		body := []byte(`{"event":"message.sent"}`)
		err := Verify("whsec_test_0123456789", header, body, time.Unix(1750000000, 0), 0)
		// Accepting means the header holds the right v1 (hex is case-insensitive).
		if err == nil && !strings.Contains(strings.ToLower(header), "v1=cd1083822eb0132d37685ddf9910480486374dd190a7520a8afab23c02d31b25") {
			t.Fatalf("Verify accepted %q", header)
		}
	})
}
