// Package job holds the vocabulary shared by the producer and the worker: the
// asynq task type, its payload, and how a device's queue is named.
package job

import (
	"encoding/json"
	"fmt"
	"time"
)

// TypeSend is the asynq task type of every outgoing WhatsApp message.
const TypeSend = "wacard:send"

// Kind says what a payload carries.
type Kind string

const (
	KindContact Kind = "contact" // one or more contact cards
	KindText    Kind = "text"    // a plain text message
)

// Contact is one contact card. Phone holds digits only: an international number
// with its country code, or a service short code such as 112.
type Contact struct {
	Name         string `json:"name"`
	Phone        string `json:"phone"`
	Organization string `json:"organization,omitempty"`
	Email        string `json:"email,omitempty"`
}

// Payload is what the producer enqueues and the worker sends. It carries
// everything the worker needs, so a worker never reads the HTTP request.
type Payload struct {
	MessageID   string    `json:"message_id"` // WhatsApp message ID, used on every attempt
	DeviceID    string    `json:"device_id"`
	Kind        Kind      `json:"kind"`
	To          string    `json:"to"` // normalised recipient JID, e.g. 6289685024992@s.whatsapp.net
	Contacts    []Contact `json:"contacts,omitempty"`
	Text        string    `json:"text,omitempty"`
	IsForwarded bool      `json:"is_forwarded,omitempty"`
	Duration    uint32    `json:"duration,omitempty"` // disappearing timer in seconds; 0 = off
	BatchID     string    `json:"batch_id,omitempty"`
	AcceptedAt  time.Time `json:"accepted_at"`
}

// Encode marshals p for an asynq task.
func (p Payload) Encode() ([]byte, error) { return json.Marshal(p) }

// Decode parses a task payload and checks the fields a worker relies on.
func Decode(b []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("job: decode payload: %w", err)
	}
	switch {
	case p.MessageID == "":
		return p, fmt.Errorf("job: payload has no message_id")
	case p.DeviceID == "":
		return p, fmt.Errorf("job: payload has no device_id")
	case p.To == "":
		return p, fmt.Errorf("job: payload has no recipient")
	case p.Kind == KindContact && len(p.Contacts) == 0:
		return p, fmt.Errorf("job: contact payload has no contact")
	case p.Kind == KindText && p.Text == "":
		return p, fmt.Errorf("job: text payload has no text")
	case p.Kind != KindContact && p.Kind != KindText:
		return p, fmt.Errorf("job: unknown kind %q", p.Kind)
	}
	return p, nil
}

// QueueName is the asynq queue that holds one device's messages. prefix is the
// deployment's Redis key prefix (e.g. "wacard:"), so parallel tests and several
// deployments on one Redis never share a queue.
func QueueName(prefix, deviceID string) string { return prefix + "dev:" + deviceID }

// WakeChannel is the Redis channel the producer publishes a device id on after
// enqueueing, so an idle worker pool starts at once instead of polling.
func WakeChannel(prefix string) string { return prefix + "wake" }

// AsynqMaxRetry is the retry budget given to asynq. asynq archives a task once
// its retry count reaches it, and waits (device offline, paused, paced) are
// re-queued through the same path, so asynq's own budget is set out of reach
// and the worker enforces WACARD_MAX_RETRY on real failures itself.
const AsynqMaxRetry = 1 << 30
