package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// statusError is a receiver's non-2xx answer.
type statusError struct {
	Code       int
	RetryAfter time.Duration // from a Retry-After header in seconds; 0 if none
}

func (e *statusError) Error() string { return "receiver answered HTTP " + strconv.Itoa(e.Code) }

// deliver is the asynq handler: one POST of one event to one endpoint.
// Returning an error makes asynq retry after retryDelay, or archive the task
// after MaxRetry retries.
func (s *Service) deliver(ctx context.Context, t *asynq.Task) error {
	var d delivery
	if err := json.Unmarshal(t.Payload(), &d); err != nil || d.URL == "" || d.ID == "" {
		return fmt.Errorf("webhook: unreadable task: %v: %w", err, asynq.SkipRetry)
	}
	if _, ok := s.byURL[d.URL]; !ok {
		// The endpoint was removed from WACARD_WEBHOOK_URLS since dispatch:
		// it must not get events any more.
		s.log.Warn("dropping a delivery to an endpoint no longer configured", "endpoint", redact(d.URL), "event", d.Event)
		return fmt.Errorf("webhook: %s is no longer configured: %w", redact(d.URL), asynq.SkipRetry)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, ok := asynq.GetMaxRetry(ctx)
	if !ok {
		maxRetry = s.cfg.MaxRetry
	}
	attempt := retried + 1

	start := s.now()
	code, snippet, err := s.post(ctx, d, attempt, start)
	a := Attempt{
		Endpoint:   redact(d.URL),
		Attempt:    attempt,
		StatusCode: code,
		Response:   snippet,
		DurationMS: s.now().Sub(start).Milliseconds(),
		At:         start.UTC(),
		Delivered:  err == nil,
	}
	if err != nil && code == 0 {
		a.Error = err.Error()
	}
	a.Final = a.Delivered || retried >= maxRetry
	s.record(d.ID, a)

	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	if s.metrics != nil {
		s.metrics.WebhookDeliveries.WithLabelValues(d.Event, outcome).Inc()
	}
	log := s.log.With("event", d.Event, "event_id", d.ID, "endpoint", redact(d.URL), "attempt", attempt)
	switch {
	case err == nil:
		log.Debug("webhook delivered", "status", code)
		return nil
	case a.Final:
		log.Warn("webhook delivery failed for the last time; the task is archived", "err", err)
	default:
		log.Info("webhook delivery failed; will retry", "err", err)
	}
	return err
}

// post sends the request. It returns the receiver's status code (0 if none),
// the start of a non-2xx answer's body, and an error unless the answer was 2xx.
func (s *Service) post(ctx context.Context, d delivery, attempt int, at time.Time) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wacard-webhooks")
	req.Header.Set(HeaderEvent, d.Event)
	req.Header.Set(HeaderDelivery, d.ID)
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	req.Header.Set(HeaderSignature, Sign(s.cfg.Secret, at, d.Body))
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, "", unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		return resp.StatusCode, "", nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	se := &statusError{Code: resp.StatusCode}
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
		se.RetryAfter = time.Duration(n) * time.Second
	}
	return resp.StatusCode, string(b), se
}

// unwrapURLError drops the "Post <url>:" prefix, which may hold a password.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
