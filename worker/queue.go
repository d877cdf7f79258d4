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
