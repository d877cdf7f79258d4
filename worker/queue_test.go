package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/redistest"
)

// queueWait bounds every wait on asynq in this file.
const queueWait = 10 * time.Second

func enqueue(t *testing.T, c *asynq.Client, queue string, opts ...asynq.Option) {
	t.Helper()
	opts = append(opts, asynq.Queue(queue))
	if _, err := c.Enqueue(asynq.NewTask("test:noop", []byte(`{}`)), opts...); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}

func mustPeek(t *testing.T, rdb redis.UniversalClient, queue string) queueState {
	t.Helper()
	q, err := peekQueue(context.Background(), rdb, queue)
	if err != nil {
		t.Fatalf("peekQueue: %v", err)
	}
	return q
}

// checkNextDue checks due is within a second or so of the window [from, to]:
// asynq keeps due times in whole seconds.
func checkNextDue(t *testing.T, due, from, to time.Time) {
	t.Helper()
	if due.Before(from.Add(-time.Second)) || due.After(to.Add(time.Second)) {
		t.Errorf("NextDue = %v, want between %v and %v", due, from, to)
	}
}

// TestAsynqKeys guards peekQueue's reading of asynq's private key layout
// against what asynq itself reports: pending and scheduled tasks.
func TestAsynqKeys(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	queue := redistest.Prefix(t, rdb) + "dev:x"

	if q := mustPeek(t, rdb, queue); q != (queueState{}) {
		t.Errorf("peekQueue of an unknown queue = %+v, want zero", q)
	}

	c := asynq.NewClientFromRedisClient(rdb)
	defer c.Close()
	before := time.Now()
	enqueue(t, c, queue)
	enqueue(t, c, queue)
	enqueue(t, c, queue, asynq.ProcessIn(time.Hour))
	after := time.Now()

	q := mustPeek(t, rdb, queue)
	if q.Pending != 2 || q.Active != 0 {
		t.Errorf("peekQueue = %+v, want Pending 2, Active 0", q)
	}
	checkNextDue(t, q.NextDue, before.Add(time.Hour), after.Add(time.Hour))

	info, err := asynq.NewInspectorFromRedisClient(rdb).GetQueueInfo(queue)
	if err != nil {
		t.Fatalf("GetQueueInfo: %v", err)
	}
	if int64(info.Pending) != q.Pending || int64(info.Active) != q.Active || info.Scheduled != 1 {
		t.Errorf("asynq reports pending %d active %d scheduled %d; peekQueue %+v",
			info.Pending, info.Active, info.Scheduled, q)
	}

	// An earlier scheduled task becomes the next due one.
	before = time.Now()
	enqueue(t, c, queue, asynq.ProcessIn(10*time.Minute))
	after = time.Now()
	checkNextDue(t, mustPeek(t, rdb, queue).NextDue, before.Add(10*time.Minute), after.Add(10*time.Minute))
}

// TestAsynqKeysActiveRetry runs a real asynq server on the queue to cross-check
// the active and retry keys: a task being handled, then one waiting to retry.
func TestAsynqKeysActiveRetry(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	queue := redistest.Prefix(t, rdb) + "dev:y"
	insp := asynq.NewInspectorFromRedisClient(rdb)

	c := asynq.NewClientFromRedisClient(rdb)
	defer c.Close()
	enqueue(t, c, queue, asynq.MaxRetry(3))

	started, release := make(chan struct{}), make(chan struct{})
	const retryIn = 30 * time.Minute
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:       1,
		Queues:            map[string]int{queue: 1},
		TaskCheckInterval: 10 * time.Millisecond,
		RetryDelayFunc:    func(int, error, *asynq.Task) time.Duration { return retryIn },
		LogLevel:          asynq.FatalLevel,
	})
	err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return errors.New("send failed")
	}))
	if err != nil {
		t.Fatalf("asynq server Start: %v", err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			srv.Shutdown()
		}
	}
	defer stop()

	select {
	case <-started:
	case <-time.After(queueWait):
		t.Fatal("the asynq server did not pick up the task")
	}
	q := mustPeek(t, rdb, queue)
	info, err := insp.GetQueueInfo(queue)
	if err != nil {
		t.Fatalf("GetQueueInfo: %v", err)
	}
	if q.Pending != 0 || q.Active != 1 || int64(info.Active) != q.Active || int64(info.Pending) != q.Pending {
		t.Errorf("while handling: peekQueue %+v; asynq pending %d active %d", q, info.Pending, info.Active)
	}

	before := time.Now()
	close(release)
	waitQueue(t, insp, queue, func(i *asynq.QueueInfo) bool { return i.Retry == 1 && i.Active == 0 })
	after := time.Now()
	stop()

	q = mustPeek(t, rdb, queue)
	if q.Pending != 0 || q.Active != 0 {
		t.Errorf("after the failure: peekQueue %+v, want nothing pending or active", q)
	}
	checkNextDue(t, q.NextDue, before.Add(retryIn), after.Add(retryIn))
}

// waitQueue polls asynq's view of queue until ok, or fails at the deadline.
func waitQueue(t *testing.T, insp *asynq.Inspector, queue string, ok func(*asynq.QueueInfo) bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(queueWait)
	var last *asynq.QueueInfo
	for {
		select {
		case <-tick.C:
			info, err := insp.GetQueueInfo(queue)
			if err != nil {
				t.Fatalf("GetQueueInfo: %v", err)
			}
			if ok(info) {
				return
			}
			last = info
		case <-deadline:
			t.Fatalf("queue %s did not reach the expected state within %v; last %+v", queue, queueWait, last)
		}
	}
}
