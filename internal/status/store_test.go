package status

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/wacard/wacard/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var allStates = []State{Queued, Sending, Retrying, Waiting, Sent, Delivered, Read, Failed, Cancelled}

const testRetention = time.Hour

// newTestStore returns a store under a prefix of its own, with a clock the
// test can read and advance.
func newTestStore(t *testing.T) (*Store, *redis.Client, *testClock) {
	t.Helper()
	rdb := redistest.Client(t)
	s := NewStore(rdb, redistest.Prefix(t, rdb), testRetention)
	clk := &testClock{t: time.UnixMilli(1_750_000_000_000).UTC()}
	s.now = clk.now
	return s, rdb, clk
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func testRecord(id string) Record {
	return Record{MessageID: id, DeviceID: "dev1", Recipient: "+15550001111", Kind: "vcard", BatchID: "b1"}
}

func mustCreate(t *testing.T, s *Store, r Record) {
	t.Helper()
	if err := s.Create(context.Background(), r); err != nil {
		t.Fatalf("Create(%s): %v", r.MessageID, err)
	}
}

func mustGet(t *testing.T, s *Store, id string) Record {
	t.Helper()
	r, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return r
}

// mustMove moves id to c.To and fails unless the move happened.
func mustMove(t *testing.T, s *Store, id string, c Change) {
	t.Helper()
	res, cur, err := s.Move(context.Background(), id, c)
	if err != nil {
		t.Fatalf("Move(%s -> %s): %v", id, c.To, err)
	}
	if res != Moved {
		t.Fatalf("Move(%s -> %s) refused from %s", id, c.To, cur)
	}
}

// forceState sets the state field directly, as a record that got there by
// whatever route would have it.
func forceState(t *testing.T, rdb *redis.Client, s *Store, id string, st State) {
	t.Helper()
	if err := rdb.HSet(context.Background(), s.key(id), "state", string(st)).Err(); err != nil {
		t.Fatalf("HSET state %s: %v", st, err)
	}
}

func TestCreateGet(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	created := time.UnixMilli(1_700_000_000_123).UTC()
	in := testRecord("3EB0AAAA")
	in.CreatedAt = created
	mustCreate(t, s, in)

	got := mustGet(t, s, "3EB0AAAA")
	want := Record{
		MessageID: "3EB0AAAA",
		DeviceID:  "dev1",
		Recipient: "+15550001111",
		Kind:      "vcard",
		BatchID:   "b1",
		State:     Queued,
		CreatedAt: created,
		UpdatedAt: created,
		History:   []Event{{State: Queued, At: created}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get:\n got %+v\nwant %+v", got, want)
	}
	if got.SentAt != nil || got.DeliveredAt != nil || got.ReadAt != nil || got.FinishedAt != nil {
		t.Errorf("fresh record has timestamps: %+v", got)
	}
	st, err := s.State(context.Background(), "3EB0AAAA")
	if err != nil || st != Queued {
		t.Errorf("State = %q, %v; want queued", st, err)
	}
}

func TestCreateWithoutCreatedAtUsesClock(t *testing.T) {
	t.Parallel()
	s, _, clk := newTestStore(t)
	mustCreate(t, s, testRecord("3EB0AAAA"))
	got := mustGet(t, s, "3EB0AAAA")
	if !got.CreatedAt.Equal(clk.now()) || !got.UpdatedAt.Equal(clk.now()) {
		t.Errorf("CreatedAt %v UpdatedAt %v, want the clock's %v", got.CreatedAt, got.UpdatedAt, clk.now())
	}
}

func TestGetUnknown(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	if _, err := s.Get(context.Background(), "3EB0NONE"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get unknown: err = %v, want ErrNotFound", err)
	}
	if _, err := s.State(context.Background(), "3EB0NONE"); !errors.Is(err, ErrNotFound) {
		t.Errorf("State unknown: err = %v, want ErrNotFound", err)
	}
}

// TestMoveMatchesCanMove checks, for every pair of states, that the Lua script
// accepts exactly the moves CanMove allows, and that a refused move changes
// nothing.
func TestMoveMatchesCanMove(t *testing.T) {
	t.Parallel()
	s, rdb, _ := newTestStore(t)
	for _, from := range allStates {
		for _, to := range allStates {
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				id := "3EB0" + strings.ToUpper(string(from)+"X"+string(to))
				mustCreate(t, s, testRecord(id))
				forceState(t, rdb, s, id, from)
				before := mustGet(t, s, id)

				res, cur, err := s.Move(ctx, id, Change{To: to, Note: "n"})
				if err != nil {
					t.Fatalf("Move: %v", err)
				}
				if cur != from {
					t.Errorf("Move returned current state %q, want %q", cur, from)
				}
				want := Refused
				if CanMove(from, to) {
					want = Moved
				}
				if res != want {
					t.Fatalf("Move %s -> %s = %v, CanMove says %v", from, to, res, want)
				}
				after := mustGet(t, s, id)
				if res == Moved {
					if after.State != to {
						t.Errorf("state after move = %q, want %q", after.State, to)
					}
					if n := len(after.History); n != len(before.History)+1 || after.History[n-1].State != to {
						t.Errorf("history after move = %+v", after.History)
					}
					return
				}
				if !reflect.DeepEqual(after, before) {
					t.Errorf("refused move changed the record:\nbefore %+v\n after %+v", before, after)
				}
			})
		}
	}
}

// TestAllowedFromTable pins the state machine itself, so a change to
// allowedFrom is a deliberate one.
func TestAllowedFromTable(t *testing.T) {
	t.Parallel()
	// want[to] lists the states it may be entered from, in allStates order.
	want := map[State]string{
		Queued:    "",
		Sending:   "queued sending retrying waiting",
		Retrying:  "queued sending waiting",
		Waiting:   "queued sending retrying waiting",
		Sent:      "queued sending retrying waiting",
		Delivered: "queued sending retrying waiting sent",
		Read:      "queued sending retrying waiting sent delivered",
		Failed:    "queued sending retrying waiting",
		Cancelled: "queued retrying waiting",
	}
	for _, to := range allStates {
		var from []string
		for _, f := range allStates {
			if CanMove(f, to) {
				from = append(from, string(f))
			}
		}
		if got := strings.Join(from, " "); got != want[to] {
			t.Errorf("may enter %s from %q, want %q", to, got, want[to])
		}
	}
	for _, st := range allStates {
		if CanMove(st, Queued) {
			t.Errorf("CanMove(%s, queued): nothing goes back to queued", st)
		}
	}
}

func TestNeverBackwards(t *testing.T) {
	t.Parallel()
	s, rdb, _ := newTestStore(t)
	tests := []struct{ from, to State }{
		{Sent, Retrying},
		{Sent, Sending},
		{Sent, Waiting},
		{Read, Delivered},
		{Read, Sent},
		{Delivered, Sent},
		{Failed, Sent},
		{Failed, Retrying},
		{Cancelled, Sending},
		{Cancelled, Sent},
		{Sending, Cancelled},
	}
	for _, tt := range tests {
		t.Run(string(tt.from)+"->"+string(tt.to), func(t *testing.T) {
			t.Parallel()
			id := "3EB0B" + strings.ToUpper(string(tt.from)+"X"+string(tt.to))
			mustCreate(t, s, testRecord(id))
			forceState(t, rdb, s, id, tt.from)
			res, cur, err := s.Move(context.Background(), id, Change{To: tt.to, LastError: "late"})
			if err != nil {
				t.Fatalf("Move: %v", err)
			}
			if res != Refused || cur != tt.from {
				t.Errorf("Move = %v from %q, want Refused from %q", res, cur, tt.from)
			}
			got := mustGet(t, s, id)
			if got.State != tt.from || got.LastError != "" {
				t.Errorf("record changed by a refused move: %+v", got)
			}
		})
	}
}

// TestLifecycle walks a message through the whole happy path with real moves
// and checks the history and the fields each change sets.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	s, _, clk := newTestStore(t)
	ctx := context.Background()
	const id = "3EB0CAFE"
	created := clk.now()
	mustCreate(t, s, testRecord(id))

	tSending := clk.advance(time.Second)
	mustMove(t, s, id, Change{To: Sending, Attempts: 1})
	tRetrying := clk.advance(time.Second)
	mustMove(t, s, id, Change{To: Retrying, Attempts: 1, LastError: "timeout", ErrorClass: "timeout", Note: "attempt 1 | timeout"})
	tSending2 := clk.advance(time.Second)
	mustMove(t, s, id, Change{To: Sending, Attempts: 2})
	tSent := clk.advance(time.Second)
	mustMove(t, s, id, Change{To: Sent, Attempts: 2, Sandbox: `{"conversation":"x"}`})

	got := mustGet(t, s, id)
	if got.State != Sent || got.Attempts != 2 {
		t.Errorf("state %q attempts %d, want sent 2", got.State, got.Attempts)
	}
	// A sent record carries no error; the retry's error stays in its history note.
	if got.LastError != "" || got.ErrorClass != "" {
		t.Errorf("LastError %q ErrorClass %q on a sent record, want none", got.LastError, got.ErrorClass)
	}
	if got.History[2].Note != "attempt 1 | timeout" {
		t.Errorf("retry note %q, want the retry's error", got.History[2].Note)
	}
	if got.Sandbox != `{"conversation":"x"}` {
		t.Errorf("Sandbox = %q", got.Sandbox)
	}
	if !got.UpdatedAt.Equal(tSent) {
		t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, tSent)
	}
	wantHist := []Event{
		{State: Queued, At: created},
		{State: Sending, At: tSending},
		{State: Retrying, At: tRetrying, Note: "attempt 1 | timeout"},
		{State: Sending, At: tSending2},
		{State: Sent, At: tSent},
	}
	if !reflect.DeepEqual(got.History, wantHist) {
		t.Errorf("history:\n got %+v\nwant %+v", got.History, wantHist)
	}

	// Attempts 0 means "not an attempt": the count stays.
	mustMove(t, s, id, Change{To: Delivered})
	if got := mustGet(t, s, id); got.Attempts != 2 {
		t.Errorf("Attempts after a receipt = %d, want 2", got.Attempts)
	}
	if res, cur, err := s.Move(ctx, id, Change{To: Retrying}); err != nil || res != Refused || cur != Delivered {
		t.Errorf("late retrying after delivered = %v, %q, %v; want Refused", res, cur, err)
	}
}

func TestDuplicateReceipts(t *testing.T) {
	t.Parallel()
	s, _, clk := newTestStore(t)
	ctx := context.Background()
	const id = "3EB0D0D0"
	mustCreate(t, s, testRecord(id))
	mustMove(t, s, id, Change{To: Sent})
	tDelivered := clk.advance(time.Second)
	mustMove(t, s, id, Change{To: Delivered})
	first := mustGet(t, s, id)

	clk.advance(time.Second)
	res, cur, err := s.Move(ctx, id, Change{To: Delivered})
	if err != nil || res != Refused || cur != Delivered {
		t.Fatalf("second delivered = %v, %q, %v; want Refused from delivered", res, cur, err)
	}
	second := mustGet(t, s, id)
	if !reflect.DeepEqual(second, first) {
		t.Errorf("duplicate receipt changed the record:\nbefore %+v\n after %+v", first, second)
	}
	if second.DeliveredAt == nil || !second.DeliveredAt.Equal(tDelivered) {
		t.Errorf("DeliveredAt = %v, want the first receipt's %v", second.DeliveredAt, tDelivered)
	}

	// read, then a late delivered and a duplicate read: both refused.
	mustMove(t, s, id, Change{To: Read})
	for _, to := range []State{Delivered, Read} {
		if res, cur, err := s.Move(ctx, id, Change{To: to}); err != nil || res != Refused || cur != Read {
			t.Errorf("%s after read = %v, %q, %v; want Refused from read", to, res, cur, err)
		}
	}
}

func TestTimestamps(t *testing.T) {
	t.Parallel()
	type stamps struct{ sent, delivered, read, finished bool }
	tests := []struct {
		path []State // moves after Create
		want stamps
	}{
		{[]State{Sending}, stamps{}},
		{[]State{Sending, Sent}, stamps{sent: true, finished: true}},
		{[]State{Sent, Delivered}, stamps{sent: true, delivered: true, finished: true}},
		{[]State{Sent, Delivered, Read}, stamps{sent: true, delivered: true, read: true, finished: true}},
		{[]State{Read}, stamps{read: true}},
		{[]State{Sending, Failed}, stamps{finished: true}},
		{[]State{Cancelled}, stamps{finished: true}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.path), func(t *testing.T) {
			t.Parallel()
			s, _, clk := newTestStore(t)
			const id = "3EB0E1E1"
			mustCreate(t, s, testRecord(id))
			at := map[State]time.Time{}
			for _, st := range tt.path {
				at[st] = clk.advance(time.Minute)
				mustMove(t, s, id, Change{To: st})
			}
			got := mustGet(t, s, id)
			check := func(name string, ts *time.Time, want bool, wantAt time.Time) {
				t.Helper()
				switch {
				case !want && ts != nil:
					t.Errorf("%s = %v, want unset", name, ts)
				case want && ts == nil:
					t.Errorf("%s unset, want %v", name, wantAt)
				case want && !ts.Equal(wantAt):
					t.Errorf("%s = %v, want %v", name, ts, wantAt)
				}
			}
			check("sent_at", got.SentAt, tt.want.sent, at[Sent])
			check("delivered_at", got.DeliveredAt, tt.want.delivered, at[Delivered])
			check("read_at", got.ReadAt, tt.want.read, at[Read])
			finished := at[Sent]
			if f, ok := at[Failed]; ok {
				finished = f
			}
			if c, ok := at[Cancelled]; ok {
				finished = c
			}
			check("finished_at", got.FinishedAt, tt.want.finished, finished)
		})
	}
}

func TestMoveUnknown(t *testing.T) {
	t.Parallel()
	s, rdb, _ := newTestStore(t)
	res, cur, err := s.Move(context.Background(), "3EB0NONE", Change{To: Sending})
	if !errors.Is(err, ErrNotFound) || res != Refused || cur != "" {
		t.Errorf("Move unknown = %v, %q, %v; want Refused, \"\", ErrNotFound", res, cur, err)
	}
	// A refused move on a missing record must not create its history list.
	if n, err := rdb.Exists(context.Background(), s.key("3EB0NONE"), s.histKey("3EB0NONE")).Result(); err != nil || n != 0 {
		t.Errorf("keys of the unknown id exist after Move: %d, %v", n, err)
	}
}

func TestMoveInvalidState(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	const id = "3EB0F00D"
	mustCreate(t, s, testRecord(id))
	for _, to := range []State{"", "bogus", "SENT"} {
		res, _, err := s.Move(context.Background(), id, Change{To: to})
		if err == nil || errors.Is(err, ErrNotFound) || res != Refused {
			t.Errorf("Move to %q = %v, %v; want Refused and an error", to, res, err)
		}
	}
	if got := mustGet(t, s, id); got.State != Queued || len(got.History) != 1 {
		t.Errorf("record changed by invalid moves: %+v", got)
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	s, rdb, _ := newTestStore(t)
	ctx := context.Background()
	const id = "3EB0A11E"
	keys := []string{s.key(id), s.histKey(id)}
	checkTTL := func(when string) {
		t.Helper()
		for _, k := range keys {
			ttl, err := rdb.PTTL(ctx, k).Result()
			if err != nil {
				t.Fatalf("PTTL %s: %v", k, err)
			}
			if ttl <= 0 || ttl > testRetention {
				t.Errorf("%s: PTTL %s = %v, want in (0, %v]", when, k, ttl, testRetention)
			}
		}
	}
	mustCreate(t, s, testRecord(id))
	checkTTL("after Create")

	// Move renews the retention: drop it, move, and it is back.
	for _, k := range keys {
		if err := rdb.Persist(ctx, k).Err(); err != nil {
			t.Fatalf("PERSIST %s: %v", k, err)
		}
	}
	mustMove(t, s, id, Change{To: Sending})
	checkTTL("after Move")
}

func TestHistoryCapped(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	const id = "3EB0CA9"
	mustCreate(t, s, testRecord(id))
	for i := range 250 {
		mustMove(t, s, id, Change{To: Waiting, Note: fmt.Sprint(i)})
	}
	got := mustGet(t, s, id)
	if len(got.History) != 200 {
		t.Fatalf("history holds %d events, want the last 200", len(got.History))
	}
	if first, last := got.History[0].Note, got.History[199].Note; first != "50" || last != "249" {
		t.Errorf("history runs %q..%q, want 50..249", first, last)
	}
}

// TestConcurrentFinish races a "sent" ack against "failed" verdicts from
// several writers: exactly one wins and the others see its state.
func TestConcurrentFinish(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestStore(t)
	ctx := context.Background()
	const id = "3EB0AACE"
	mustCreate(t, s, testRecord(id))
	mustMove(t, s, id, Change{To: Sending, Attempts: 1})

	const n = 20
	type outcome struct {
		to  State
		res Result
		cur State
		err error
	}
	out := make([]outcome, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		to := Sent
		if i%2 == 1 {
			to = Failed
		}
		wg.Go(func() {
			<-start
			res, cur, err := s.Move(ctx, id, Change{To: to, LastError: fmt.Sprint("writer ", i)})
			out[i] = outcome{to, res, cur, err}
		})
	}
	close(start)
	wg.Wait()

	var winner State
	wins := 0
	for _, o := range out {
		if o.err != nil {
			t.Fatalf("Move: %v", o.err)
		}
		if o.res == Moved {
			wins++
			winner = o.to
			if o.cur != Sending {
				t.Errorf("winner moved from %q, want sending", o.cur)
			}
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers moved the record, want exactly 1", wins)
	}
	for _, o := range out {
		if o.res == Refused && o.cur != winner {
			t.Errorf("loser saw state %q, want the winner's %q", o.cur, winner)
		}
	}
	got := mustGet(t, s, id)
	if got.State != winner {
		t.Errorf("final state %q, want %q", got.State, winner)
	}
	if len(got.History) != 3 || got.History[2].State != winner {
		t.Errorf("history = %+v, want queued, sending, %s", got.History, winner)
	}
}
