// Package status keeps the record of every message: its state, attempts, last
// error and history, in Redis, written by the producer and the worker.
package status

import "time"

// State is where a message is in its life. See docs/architecture.md for the
// state machine.
type State string

const (
	Queued    State = "queued"    // accepted, waiting in its device's queue
	Sending   State = "sending"   // a worker is sending it now
	Retrying  State = "retrying"  // an attempt failed transiently; it will be tried again
	Waiting   State = "waiting"   // held back without using an attempt: device offline, paused or paced
	Sent      State = "sent"      // WhatsApp acknowledged it
	Delivered State = "delivered" // the recipient's phone received it
	Read      State = "read"      // the recipient read it
	Failed    State = "failed"    // terminal: given up, with a reason
	Cancelled State = "cancelled" // terminal: cancelled before it was sent
)

// Terminal reports whether no further send will happen for a message in s.
func (s State) Terminal() bool {
	switch s {
	case Sent, Delivered, Read, Failed, Cancelled:
		return true
	}
	return false
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	switch s {
	case Queued, Sending, Retrying, Waiting, Sent, Delivered, Read, Failed, Cancelled:
		return true
	}
	return false
}

// allowedFrom lists, for each target state, the states it may be entered from.
// Anything else is refused, so records never move backwards even when events
// arrive twice or out of order (a late "retrying" after "sent", a "delivered"
// after "read").
var allowedFrom = map[State][]State{
	Sending:   {Queued, Retrying, Waiting, Sending},
	Retrying:  {Sending, Queued, Waiting},
	Waiting:   {Queued, Sending, Retrying, Waiting},
	Sent:      {Queued, Sending, Retrying, Waiting},
	Delivered: {Queued, Sending, Retrying, Waiting, Sent},
	Read:      {Queued, Sending, Retrying, Waiting, Sent, Delivered},
	Failed:    {Queued, Sending, Retrying, Waiting},
	Cancelled: {Queued, Retrying, Waiting},
}

// CanMove reports whether a record in state from may move to state to.
func CanMove(from, to State) bool {
	for _, s := range allowedFrom[to] {
		if s == from {
			return true
		}
	}
	return false
}

// Event is one state change in a record's history.
type Event struct {
	State State     `json:"state"`
	At    time.Time `json:"at"`
	Note  string    `json:"note,omitempty"`
}

// Record is the status of one message as GET /messages/{id} returns it.
type Record struct {
	MessageID   string     `json:"message_id"`
	DeviceID    string     `json:"device_id"`
	Recipient   string     `json:"recipient"`
	Kind        string     `json:"kind"`
	BatchID     string     `json:"batch_id,omitempty"`
	State       State      `json:"state"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error,omitempty"`
	ErrorClass  string     `json:"error_class,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	ReadAt      *time.Time `json:"read_at,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	// Sandbox holds, for sandbox devices, the WhatsApp message that would have
	// been sent (protobuf JSON), so demos and users' CI can see it.
	Sandbox string  `json:"sandbox_message,omitempty"`
	History []Event `json:"history"`
}
