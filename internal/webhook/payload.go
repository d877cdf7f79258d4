package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/status"
)

// Payload is the JSON body of every webhook request.
type Payload struct {
	Event     string          `json:"event"`      // e.g. message.sent
	ID        string          `json:"id"`         // event id, as in Wacard-Delivery
	CreatedAt time.Time       `json:"created_at"` // when the state change happened
	Data      json.RawMessage `json:"data"`       // a status.Record, or a BatchSummary for batch.completed
}

// BatchSummary is the data of batch.completed.
type BatchSummary struct {
	BatchID  string               `json:"batch_id"`
	DeviceID string               `json:"device_id,omitempty"`
	Kind     string               `json:"kind,omitempty"`
	Total    int                  `json:"total"`
	Counts   map[status.State]int `json:"counts"` // by final state, zeros included
}

// finalStates are the states a completed batch's messages can be in.
var finalStates = [...]status.State{status.Sent, status.Delivered, status.Read, status.Failed, status.Cancelled}

// EventID is the stable id of an outbox event: the same for every endpoint,
// every attempt and every re-dispatch, so receivers can drop duplicates. A
// message has each event at most once and a batch completes once, so the
// event name and its subject identify it.
func EventID(e status.OutboxEvent) string {
	sum := sha256.Sum256([]byte(e.Event + "\x00" + e.MessageID + "\x00" + e.BatchID))
	return "evt_" + hex.EncodeToString(sum[:16])
}

// statusReader is what building a payload needs from the status store.
type statusReader interface {
	Get(ctx context.Context, id string) (status.Record, error)
	BatchCounts(ctx context.Context, batchID string) (map[status.State]int, error)
	EventsKey() string
}

var _ statusReader = (*status.Store)(nil)

// buildPayload snapshots the event's subject into the body sent to every
// endpoint. The body is fixed at dispatch, so every attempt of an event
// carries the same bytes.
func buildPayload(ctx context.Context, st statusReader, rdb redis.UniversalClient, prefix string, e status.OutboxEvent) ([]byte, error) {
	var data any
	switch {
	case e.Event == status.EventBatchCompleted:
		sum, err := batchSummary(ctx, st, rdb, prefix, e)
		if err != nil {
			return nil, err
		}
		data = sum
	default:
		rec, err := st.Get(ctx, e.MessageID)
		if errors.Is(err, status.ErrNotFound) {
			// Past its retention before dispatch: say what is still known.
			data = map[string]string{"message_id": e.MessageID, "device_id": e.DeviceID}
		} else if err != nil {
			return nil, err
		} else {
			data = rec
		}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Payload{Event: e.Event, ID: EventID(e), CreatedAt: time.UnixMilli(e.At).UTC(), Data: raw})
}

// batchSummary reads the batch hash the producer writes (prefix+"batch:<id>")
// and the batch's counts.
func batchSummary(ctx context.Context, st statusReader, rdb redis.UniversalClient, prefix string, e status.OutboxEvent) (BatchSummary, error) {
	vals, err := rdb.HMGet(ctx, prefix+"batch:"+e.BatchID, "device", "kind", "total").Result()
	if err != nil {
		return BatchSummary{}, fmt.Errorf("webhook: batch %s: %w", e.BatchID, err)
	}
	str := func(i int) string { v, _ := vals[i].(string); return v }
	counts, err := st.BatchCounts(ctx, e.BatchID)
	if err != nil {
		return BatchSummary{}, err
	}
	s := BatchSummary{BatchID: e.BatchID, DeviceID: str(0), Kind: str(1), Counts: map[status.State]int{}}
	if s.DeviceID == "" {
		s.DeviceID = e.DeviceID
	}
	s.Total, _ = strconv.Atoi(str(2))
	for _, state := range finalStates {
		s.Counts[state] = counts[state]
	}
	return s, nil
}
