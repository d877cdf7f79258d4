package worker

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// queueState is what the pool needs to know about its queue to decide whether
// to run: pending and active counts and when the next delayed task is due.
type queueState struct {
	Pending, Active, Scheduled, Retry int64
	NextDue                           time.Time // earliest scheduled or retry task; zero if none
	OldestPending                     time.Time // when the oldest pending task became pending; zero if none
}

// asynqKey names one of asynq's keys for a queue (asynq v0.26 layout:
// "asynq:{<queue>}:<kind>"). TestAsynqKeys checks it against asynq's Inspector.
func asynqKey(queue, kind string) string { return "asynq:{" + queue + "}:" + kind }

// peekScript reads a queue's state in one command: sizes, the earliest
// scheduled/retry score and when the oldest pending task became pending
// (asynq pushes on the left and pops on the right, so it is the last element).
var peekScript = redis.NewScript(`
local pending = redis.call('LLEN', KEYS[1])
local oldest = false
if pending > 0 then
  local id = redis.call('LINDEX', KEYS[1], -1)
  if id then oldest = redis.call('HGET', ARGV[1] .. id, 'pending_since') end
end
local s = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
local r = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
return {pending, redis.call('LLEN', KEYS[2]), redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]),
  s[2] or false, r[2] or false, oldest}
`)

// peekQueue reads the queue's state in one round trip.
func peekQueue(ctx context.Context, rdb redis.UniversalClient, queue string) (queueState, error) {
	keys := []string{asynqKey(queue, "pending"), asynqKey(queue, "active"), asynqKey(queue, "scheduled"), asynqKey(queue, "retry")}
	res, err := peekScript.Run(ctx, rdb, keys, asynqKey(queue, "t:")).Slice()
	if err != nil {
		return queueState{}, err
	}
	num := func(v any) int64 {
		switch x := v.(type) {
		case int64:
			return x
		case string:
			n, _ := strconv.ParseInt(x, 10, 64)
			return n
		}
		return 0
	}
	q := queueState{Pending: num(res[0]), Active: num(res[1]), Scheduled: num(res[2]), Retry: num(res[3])}
	for _, v := range res[4:6] {
		if v == nil {
			continue
		}
		due := time.Unix(num(v), 0)
		if q.NextDue.IsZero() || due.Before(q.NextDue) {
			q.NextDue = due
		}
	}
	if ns := num(res[6]); ns > 0 {
		q.OldestPending = time.Unix(0, ns)
	}
	return q, nil
}

// recoverScript puts every task of a queue's active list back at the front of
// its pending list, as asynq's own requeue does (LREM active, ZREM lease,
// RPUSH pending, state=pending).
var recoverScript = redis.NewScript(`
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  redis.call('LREM', KEYS[1], 0, id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('RPUSH', KEYS[3], id)
  redis.call('HSET', ARGV[1] .. id, 'state', 'pending')
end
return #ids
`)

// recoverOrphans re-queues the tasks a previous holder of the device left
// active (it crashed mid-send). It is only safe while this worker holds the
// device's lease and its own server for the queue is not running: then no one
// else can be working on them. asynq's recoverer would need 60-111 s for this.
func recoverOrphans(ctx context.Context, rdb redis.UniversalClient, queue string) (int, error) {
	keys := []string{asynqKey(queue, "active"), asynqKey(queue, "lease"), asynqKey(queue, "pending")}
	return recoverScript.Run(ctx, rdb, keys, asynqKey(queue, "t:")).Int()
}
