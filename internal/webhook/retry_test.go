package webhook

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestNextDelay(t *testing.T) {
	t.Parallel()
	const base, limit = 2 * time.Second, time.Hour
	http500 := &statusError{Code: 500}
	tests := []struct {
		retried int
		err     error
		jitter  float64
		want    time.Duration
	}{
		{0, http500, 0, time.Second},               // half of base at the lowest jitter
		{0, http500, 0.999999999, 2 * time.Second}, // just under base at the highest
		{1, http500, 0, 2 * time.Second},
		{3, http500, 0.5, 12 * time.Second}, // 16s scaled by 0.75
		{10, errors.New("connection refused"), 0, 1024 * time.Second},
		{11, http500, 0, 30 * time.Minute}, // 4096s capped at 1h, halved
		{200, http500, 0.999999999, time.Hour},
		{0, &statusError{Code: 429, RetryAfter: 90 * time.Second}, 0.3, 90 * time.Second},
		{5, fmt.Errorf("wrapped: %w", &statusError{Code: 503, RetryAfter: 3 * time.Hour}), 0, time.Hour},
		{2, &statusError{Code: 503}, 0, 4 * time.Second}, // no Retry-After: backoff
	}
	for _, tt := range tests {
		got := nextDelay(tt.retried, tt.err, base, limit, tt.jitter)
		if d := got - tt.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("nextDelay(%d, %v, jitter %v) = %s, want %s", tt.retried, tt.err, tt.jitter, got, tt.want)
		}
	}
}
