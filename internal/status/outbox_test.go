package status

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/wacard/wacard/internal/redistest"
)

func TestOutboxEvents(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	ctx := context.Background()
	s := NewStore(rdb, prefix, time.Hour).WithEvents()
	rdb.HSet(ctx, prefix+"batch:b1", "total", 2)
	for _, id := range []string{"3EB0AAAAAAAAAAAAAAAAAA", "3EB0BBBBBBBBBBBBBBBBBB"} {
		if err := s.Create(ctx, Record{MessageID: id, DeviceID: "d", Recipient: "1@s.whatsapp.net", BatchID: "b1"}); err != nil {
			t.Fatal(err)
		}
	}
	mustMove(t, s, "3EB0AAAAAAAAAAAAAAAAAA", Change{To: Sending})
	mustMove(t, s, "3EB0AAAAAAAAAAAAAAAAAA", Change{To: Sent})
	mustMove(t, s, "3EB0AAAAAAAAAAAAAAAAAA", Change{To: Delivered}) // not a second final step
	mustMove(t, s, "3EB0BBBBBBBBBBBBBBBBBB", Change{To: Cancelled})

	raw, err := rdb.LRange(ctx, s.EventsKey(), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range raw {
		var e OutboxEvent
		if err := json.Unmarshal([]byte(r), &e); err != nil {
			t.Fatalf("event %q: %v", r, err)
		}
		if e.At == 0 || e.DeviceID != "d" {
			t.Fatalf("event without time or device: %+v", e)
		}
		got = append(got, e.Event+":"+e.MessageID+e.BatchID)
	}
	want := []string{
		EventSent + ":3EB0AAAAAAAAAAAAAAAAAA",
		EventDelivered + ":3EB0AAAAAAAAAAAAAAAAAA",
		EventCancelled + ":3EB0BBBBBBBBBBBBBBBBBB",
		EventBatchCompleted + ":b1",
	}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	counts, _ := s.BatchCounts(ctx, "b1")
	if counts[Delivered] != 1 || counts[Cancelled] != 1 || len(counts) != 2 {
		t.Fatalf("batch counts %v", counts)
	}
	// Without WithEvents nothing is written.
	plain := NewStore(rdb, prefix+"plain:", time.Hour)
	_ = plain.Create(ctx, Record{MessageID: "3EB0CCCCCCCCCCCCCCCCCC", DeviceID: "d", Recipient: "1@s.whatsapp.net"})
	mustMove(t, plain, "3EB0CCCCCCCCCCCCCCCCCC", Change{To: Failed})
	if n := rdb.LLen(ctx, plain.EventsKey()).Val(); n != 0 {
		t.Fatalf("events written without WithEvents: %d", n)
	}
}
