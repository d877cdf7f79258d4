package webhook

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// retryDelay is asynq's RetryDelayFunc for deliveries: the receiver's
// Retry-After when it sent one, else exponential backoff with jitter.
func (s *Service) retryDelay(retried int, err error, _ *asynq.Task) time.Duration {
	return nextDelay(retried, err, s.cfg.RetryBase, s.cfg.RetryCap, rand.Float64())
}

// nextDelay decides how long to wait before retry number retried+1. Without
// a Retry-After it is RetryBase·2^retried, capped at RetryCap, scaled by a
// jitter in [0.5, 1) so receivers that come back are not hit by every
// retry at once. jitter is a random number in [0, 1).
func nextDelay(retried int, err error, base, limit time.Duration, jitter float64) time.Duration {
	var se *statusError
	if errors.As(err, &se) && se.RetryAfter > 0 {
		return min(se.RetryAfter, limit)
	}
	d := base
	for i := 0; i < retried && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + time.Duration(float64(d/2)*jitter)
}
