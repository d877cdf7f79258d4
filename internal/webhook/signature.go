package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers wacard sets on every webhook request.
const (
	HeaderEvent     = "Wacard-Event"     // the event name, e.g. message.sent
	HeaderDelivery  = "Wacard-Delivery"  // the event id: the same on every attempt and endpoint
	HeaderSignature = "Wacard-Signature" // t=<unix seconds>,v1=<hex HMAC-SHA256>
	HeaderAttempt   = "Wacard-Attempt"   // 1 on the first attempt
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Sign returns the Wacard-Signature header value for body sent at t:
// "t=<unix>,v1=<hex(HMAC-SHA256(secret, "<unix>.<body>"))>".
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a Wacard-Signature header against the raw request body, for
// receivers: the HMAC must match one v1 value and the timestamp must be within
// tolerance of now (DefaultTolerance if tolerance <= 0), which stops replays of
// old requests. body must be the bytes as received, before any JSON decoding.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrNoSignature
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value", ErrMalformed, part)
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return fmt.Errorf("%w: v1 is not a hex SHA-256", ErrMalformed)
			}
			sigs = append(sigs, b)
		} // other schemes are ignored, so new ones can be added
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no numeric t", ErrMalformed)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrMalformed)
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		ok = ok || hmac.Equal(s, want)
	}
	if !ok {
		return ErrSignatureMismatch
	}
	if age := now.Sub(time.Unix(unix, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: signed %s ago", ErrExpired, age.Round(time.Second))
	}
	return nil
}
