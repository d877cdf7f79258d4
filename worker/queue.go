package worker

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// queueState is what the pool needs to know about its queue to decide whether
// to run: pending and active counts and when the next delayed task is due.
type queueState struct {
	Pending, Active int64
	NextDue         time.Time // earliest scheduled or retry task; zero if none
}

// asynqKey names one of asynq's keys for a queue (asynq v0.26 layout:
// "asynq:{<queue>}:<kind>"). TestAsynqKeys checks it against asynq's Inspector.
func asynqKey(queue, kind string) string { return "asynq:{" + queue + "}:" + kind }

// peekQueue reads the queue's state in one round trip of four cheap commands.
func peekQueue(ctx context.Context, rdb redis.UniversalClient, queue string) (queueState, error) {
	var pending, active *redis.IntCmd
	var sched, retry *redis.ZSliceCmd
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		pending = p.LLen(ctx, asynqKey(queue, "pending"))
		active = p.LLen(ctx, asynqKey(queue, "active"))
		sched = p.ZRangeWithScores(ctx, asynqKey(queue, "scheduled"), 0, 0)
		retry = p.ZRangeWithScores(ctx, asynqKey(queue, "retry"), 0, 0)
		return nil
	})
	if err != nil {
		return queueState{}, err
	}
	q := queueState{Pending: pending.Val(), Active: active.Val()}
	for _, z := range [][]redis.Z{sched.Val(), retry.Val()} {
		if len(z) == 0 {
			continue
		}
		due := time.Unix(int64(z[0].Score), 0)
		if q.NextDue.IsZero() || due.Before(q.NextDue) {
			q.NextDue = due
		}
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
