package webhook

import (
	"context"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"
)

// Attempt is the record of one delivery attempt, kept in the list
// <prefix>webhook:attempts:<event id> for AttemptRetention.
type Attempt struct {
	Endpoint   string    `json:"endpoint"` // URL, password hidden
	Attempt    int       `json:"attempt"`  // 1 for the first
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`    // when no answer came (timeout, refused, TLS)
	Response   string    `json:"response,omitempty"` // first 256 bytes of a non-2xx answer
	DurationMS int64     `json:"duration_ms"`
	At         time.Time `json:"at"`
	Delivered  bool      `json:"delivered"`       // 2xx
	Final      bool      `json:"final,omitempty"` // delivered, or the last attempt before archiving
}

// maxAttempts bounds one event's attempt list (every endpoint's attempts).
const maxAttempts = 500

// AttemptsKey is the list of an event's delivery attempts, oldest first.
func AttemptsKey(prefix, eventID string) string { return prefix + "webhook:attempts:" + eventID }

// record appends a to the event's attempt list. A failure to record is logged,
// never a reason to deliver again.
func (s *Service) record(eventID string, a Attempt) {
	raw, _ := json.Marshal(a)
	key := AttemptsKey(s.cfg.Prefix, eventID)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, key, raw)
		p.LTrim(ctx, key, -maxAttempts, -1)
		p.Expire(ctx, key, s.cfg.AttemptRetention)
		return nil
	})
	if err != nil {
		s.log.Warn("could not record a webhook attempt", "event_id", eventID, "err", err)
	}
}

// Attempts returns an event's delivery attempts, oldest first.
func Attempts(ctx context.Context, rdb redis.UniversalClient, prefix, eventID string) ([]Attempt, error) {
	raw, err := rdb.LRange(ctx, AttemptsKey(prefix, eventID), 0, -1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Attempt, 0, len(raw))
	for _, r := range raw {
		var a Attempt
		if json.Unmarshal([]byte(r), &a) == nil {
			out = append(out, a)
		}
	}
	return out, nil
}
