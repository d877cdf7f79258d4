package status

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound is returned for a message with no record (never accepted, or
// past its retention).
var ErrNotFound = errors.New("status: message not found")

// Store reads and writes status records in Redis under a key prefix.
type Store struct {
	rdb       redis.UniversalClient
	prefix    string
	retention time.Duration
	now       func() time.Time
	events    bool
}

// EventsKey is the outbox list of state-change events (see WithEvents).
func (s *Store) EventsKey() string { return s.prefix + "events" }

// WithEvents makes every move to sent, delivered, read, failed or cancelled,
// and every batch reaching its last final item, append an event to the
// outbox list EventsKey in the same atomic step as the state change, so a
// crash can never lose one. Webhook delivery consumes the outbox.
func (s *Store) WithEvents() *Store {
	c := *s
	c.events = true
	return &c
}

// WithClient returns the store over another client to the same Redis (go-redis's
// autopipeliner, for one).
func (s *Store) WithClient(c redis.UniversalClient) *Store {
	n := *s
	n.rdb = c
	return &n
}

// Event kinds in the outbox, as webhooks name them.
const (
	EventSent           = "message.sent"
	EventDelivered      = "message.delivered"
	EventRead           = "message.read"
	EventFailed         = "message.failed"
	EventCancelled      = "message.cancelled"
	EventBatchCompleted = "batch.completed"
)

// OutboxEvent is one entry of the outbox.
type OutboxEvent struct {
	Event     string `json:"event"`
	MessageID string `json:"message_id,omitempty"`
	BatchID   string `json:"batch_id,omitempty"`
	DeviceID  string `json:"device_id,omitempty"`
	At        int64  `json:"at"` // unix milliseconds
}

// NewStore returns a Store writing keys under prefix, kept for retention after
// their last change.
func NewStore(rdb redis.UniversalClient, prefix string, retention time.Duration) *Store {
	return &Store{rdb: rdb, prefix: prefix, retention: retention, now: time.Now}
}

func (s *Store) key(id string) string     { return s.prefix + "msg:" + id }
func (s *Store) histKey(id string) string { return s.prefix + "msg:" + id + ":h" }

// Create writes a new record in state Queued. It is written before the job is
// enqueued, so a worker always finds it.
func (s *Store) Create(ctx context.Context, r Record) error {
	keys, args := s.createArgs(r)
	if err := createScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("status: create %s: %w", r.MessageID, err)
	}
	return nil
}

// CreatePipe queues the commands of Create on p, for callers that batch many
// records in one round trip.
func (s *Store) CreatePipe(ctx context.Context, p redis.Pipeliner, r Record) {
	keys, args := s.createArgs(r)
	// EVAL, not EVALSHA: inside a pipeline a missing script (a restarted
	// Redis) cannot fall back, so the pipeline sends the script itself.
	createScript.Eval(ctx, p, keys, args...)
}

// createScript writes a new record, its first history entry, its place in
// the recipient's order and its batch count, in one atomic call. KEYS: record,
// history, order, batch counts (ignored without a batch). ARGV: id, device,
// recipient, kind, batch, now ms, first history entry, order score (µs), ttl ms.
var createScript = redis.NewScript(`
redis.call('HSET', KEYS[1], 'state', 'queued', 'device', ARGV[2], 'recipient', ARGV[3], 'kind', ARGV[4],
  'batch', ARGV[5], 'attempts', 0, 'created_at', ARGV[6], 'updated_at', ARGV[6])
redis.call('RPUSH', KEYS[2], ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[8], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[9])
redis.call('PEXPIRE', KEYS[3], ARGV[9])
if ARGV[5] ~= '' then
  redis.call('HINCRBY', KEYS[4], 'queued', 1)
  redis.call('PEXPIRE', KEYS[4], ARGV[9])
end
return 1
`)

func (s *Store) createArgs(r Record) ([]string, []any) {
	now := r.CreatedAt
	if now.IsZero() {
		now = s.now()
	}
	keys := []string{s.key(r.MessageID), s.histKey(r.MessageID), s.orderKey(r.DeviceID, r.Recipient), s.BatchCountsKey(r.BatchID)}
	args := []any{r.MessageID, r.DeviceID, r.Recipient, r.Kind, r.BatchID, now.UnixMilli(),
		encodeEvent(Event{State: Queued, At: now}), now.UnixMicro(), s.retention.Milliseconds()}
	return keys, args
}

// BatchCountsKey is the hash of a batch's message counts by state, kept up to
// date by Create and Move.
func (s *Store) BatchCountsKey(batchID string) string {
	return s.prefix + "batch:" + batchID + ":counts"
}

// BatchFailedKey is the list of a batch's failed message ids, in the order they failed.
func (s *Store) BatchFailedKey(batchID string) string {
	return s.prefix + "batch:" + batchID + ":failed"
}

// BatchCounts returns a batch's message counts by state.
func (s *Store) BatchCounts(ctx context.Context, batchID string) (map[State]int, error) {
	m, err := s.rdb.HGetAll(ctx, s.BatchCountsKey(batchID)).Result()
	if err != nil {
		return nil, fmt.Errorf("status: batch counts %s: %w", batchID, err)
	}
	out := make(map[State]int, len(m))
	for k, v := range m {
		if !State(k).Valid() {
			continue // e.g. the running count of final items
		}
		if n, _ := strconv.Atoi(v); n != 0 {
			out[State(k)] = n
		}
	}
	return out, nil
}

// BatchFailed returns one page of a batch's failed message ids.
func (s *Store) BatchFailed(ctx context.Context, batchID string, offset, limit int64) ([]string, int64, error) {
	var ids *redis.StringSliceCmd
	var total *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		ids = p.LRange(ctx, s.BatchFailedKey(batchID), offset, offset+limit-1)
		total = p.LLen(ctx, s.BatchFailedKey(batchID))
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("status: batch failures %s: %w", batchID, err)
	}
	return ids.Val(), total.Val(), nil
}

// Change is one state change a writer asks for.
type Change struct {
	To         State
	Note       string // kept in the history entry
	Attempts   int    // if > 0, the attempt number now running or just finished
	LastError  string // if set, replaces last_error
	ErrorClass string
	Sandbox    string // what a sandbox device would have sent
}

// Result says what Move did.
type Result int

const (
	Moved   Result = iota // the record moved to the new state
	Refused               // the move was not allowed from the current state; nothing changed
)

// moveScript applies a change only if the current state is one it may come
// from, so concurrent or late writers can never move a record backwards.
var moveScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return {-1, ''} end
if not string.find(ARGV[3], ',' .. cur .. ',', 1, true) then return {0, cur} end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated_at', ARGV[2])
for i = 9, #ARGV, 2 do
  if ARGV[i+1] == '-' then redis.call('HDEL', KEYS[1], ARGV[i])
  elseif ARGV[i+1] ~= '' then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
end
redis.call('RPUSH', KEYS[2], ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[4])
redis.call('LTRIM', KEYS[2], -200, -1)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local final = {sent=true, delivered=true, read=true, failed=true, cancelled=true}
local dev = redis.call('HGET', KEYS[1], 'device') or ''
if ARGV[1] == 'sent' or ARGV[1] == 'failed' or ARGV[1] == 'cancelled' then
  local rcpt = redis.call('HGET', KEYS[1], 'recipient')
  if rcpt then redis.call('ZREM', ARGV[6] .. 'order:' .. dev .. ':' .. rcpt, ARGV[7]) end
end
local events = ARGV[8] == '1'
local evkey = ARGV[6] .. 'events'
if events and final[ARGV[1]] then
  redis.call('RPUSH', evkey, cjson.encode({event = 'message.' .. ARGV[1], message_id = ARGV[7], device_id = dev, at = tonumber(ARGV[2])}))
end
local batch = redis.call('HGET', KEYS[1], 'batch')
if batch and batch ~= '' then
  local ck = ARGV[6] .. 'batch:' .. batch .. ':counts'
  redis.call('HINCRBY', ck, cur, -1)
  redis.call('HINCRBY', ck, ARGV[1], 1)
  redis.call('PEXPIRE', ck, ARGV[5])
  if ARGV[1] == 'failed' then
    local fk = ARGV[6] .. 'batch:' .. batch .. ':failed'
    redis.call('RPUSH', fk, ARGV[7])
    redis.call('PEXPIRE', fk, ARGV[5])
  end
  if final[ARGV[1]] and not final[cur] then
    local done = redis.call('HINCRBY', ck, 'final', 1)
    local total = tonumber(redis.call('HGET', ARGV[6] .. 'batch:' .. batch, 'total') or '-1')
    if done == total and events then
      redis.call('RPUSH', evkey, cjson.encode({event = 'batch.completed', batch_id = batch, device_id = dev, at = tonumber(ARGV[2])}))
    end
  end
end
return {1, cur}
`)

// Move applies c to the record of id. It returns Refused (and the current
// state) when the transition is not allowed, ErrNotFound for an unknown id.
func (s *Store) Move(ctx context.Context, id string, c Change) (Result, State, error) {
	if !c.To.Valid() {
		return Refused, "", fmt.Errorf("status: invalid target state %q", c.To)
	}
	now := s.now().UnixMilli()
	from := "," + joinStates(allowedFrom[c.To]) + ","
	ev := "0"
	if s.events {
		ev = "1"
	}
	args := []any{string(c.To), now, from, c.Note, s.retention.Milliseconds(), s.prefix, id, ev}
	add := func(k, v string) { args = append(args, k, v) }
	if c.Attempts > 0 {
		add("attempts", strconv.Itoa(c.Attempts))
	}
	add("last_error", c.LastError)
	add("error_class", c.ErrorClass)
	add("sandbox", c.Sandbox)
	switch c.To {
	case Sent:
		// An earlier attempt's error stays in the history, not on a sent record.
		add("last_error", "-")
		add("error_class", "-")
		add("sent_at", strconv.FormatInt(now, 10))
		add("finished_at", strconv.FormatInt(now, 10))
	case Delivered:
		add("delivered_at", strconv.FormatInt(now, 10))
	case Read:
		add("read_at", strconv.FormatInt(now, 10))
	case Failed, Cancelled:
		add("finished_at", strconv.FormatInt(now, 10))
	}
	res, err := moveScript.Run(ctx, s.rdb, []string{s.key(id), s.histKey(id)}, args...).Slice()
	if err != nil {
		return Refused, "", fmt.Errorf("status: move %s to %s: %w", id, c.To, err)
	}
	code, _ := res[0].(int64)
	cur, _ := res[1].(string)
	switch code {
	case -1:
		return Refused, "", ErrNotFound
	case 0:
		return Refused, State(cur), nil
	}
	return Moved, State(cur), nil
}

// Get returns the record of id with its history.
func (s *Store) Get(ctx context.Context, id string) (Record, error) {
	var hget *redis.MapStringStringCmd
	var hist *redis.StringSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		hget = p.HGetAll(ctx, s.key(id))
		hist = p.LRange(ctx, s.histKey(id), 0, -1)
		return nil
	})
	if err != nil {
		return Record{}, fmt.Errorf("status: get %s: %w", id, err)
	}
	f := hget.Val()
	if len(f) == 0 {
		return Record{}, ErrNotFound
	}
	r := Record{
		MessageID:  id,
		DeviceID:   f["device"],
		Recipient:  f["recipient"],
		Kind:       f["kind"],
		BatchID:    f["batch"],
		State:      State(f["state"]),
		LastError:  f["last_error"],
		ErrorClass: f["error_class"],
		Sandbox:    f["sandbox"],
		History:    []Event{},
	}
	r.Attempts, _ = strconv.Atoi(f["attempts"])
	r.CreatedAt = msTime(f["created_at"])
	r.UpdatedAt = msTime(f["updated_at"])
	r.SentAt = msTimePtr(f["sent_at"])
	r.DeliveredAt = msTimePtr(f["delivered_at"])
	r.ReadAt = msTimePtr(f["read_at"])
	r.FinishedAt = msTimePtr(f["finished_at"])
	for _, e := range hist.Val() {
		if ev, ok := decodeEvent(e); ok {
			r.History = append(r.History, ev)
		}
	}
	return r, nil
}

// State returns only the current state of id (one cheap read for the worker).
func (s *Store) State(ctx context.Context, id string) (State, error) {
	v, err := s.rdb.HGet(ctx, s.key(id), "state").Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("status: state of %s: %w", id, err)
	}
	return State(v), nil
}

func (s *Store) orderKey(device, recipient string) string {
	return s.prefix + "order:" + device + ":" + recipient
}

// Ahead returns the oldest message to the same recipient from the same
// device that is still unfinished, if it is not id. Messages to one recipient
// are sent in the order they were accepted: a message waits while another is
// ahead of it. Entries whose record is gone or final are cleaned away.
func (s *Store) Ahead(ctx context.Context, device, recipient, id string) (string, error) {
	key := s.orderKey(device, recipient)
	for range 10 {
		head, err := s.rdb.ZRange(ctx, key, 0, 0).Result()
		if err != nil {
			return "", fmt.Errorf("status: order of %s: %w", recipient, err)
		}
		if len(head) == 0 || head[0] == id {
			return "", nil
		}
		st, err := s.State(ctx, head[0])
		if err != nil && !errors.Is(err, ErrNotFound) {
			return "", err
		}
		if err == nil && !st.Terminal() {
			return head[0], nil
		}
		s.rdb.ZRem(ctx, key, head[0])
	}
	return "", nil
}

func encodeEvent(e Event) string {
	return string(e.State) + "|" + strconv.FormatInt(e.At.UnixMilli(), 10) + "|" + e.Note
}

func decodeEvent(s string) (Event, bool) {
	parts := strings.SplitN(s, "|", 3)
	if len(parts) != 3 {
		return Event{}, false
	}
	return Event{State: State(parts[0]), At: msTime(parts[1]), Note: parts[2]}, true
}

func joinStates(ss []State) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

func msTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func msTimePtr(s string) *time.Time {
	t := msTime(s)
	if t.IsZero() {
		return nil
	}
	return &t
}
