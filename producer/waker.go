package producer

import (
	"context"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"
)

// waker tells workers that a device has new work, off the request path: ids
// noted while a publish is in flight are coalesced into the next one, so a
// burst of accepts for one device costs one PUBLISH, not one each. A lost wake
// only delays a message until the worker's periodic sweep.
type waker struct {
	rdb     redis.UniversalClient
	channel string
	log     *slog.Logger

	mu      sync.Mutex
	pending map[string]struct{}
	signal  chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
}

func newWaker(rdb redis.UniversalClient, channel string, log *slog.Logger) *waker {
	w := &waker{rdb: rdb, channel: channel, log: log, pending: map[string]struct{}{},
		signal: make(chan struct{}, 1), done: make(chan struct{})}
	w.wg.Add(1)
	go w.run()
	return w
}

func (w *waker) notify(device string) {
	w.mu.Lock()
	w.pending[device] = struct{}{}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *waker) run() {
	defer w.wg.Done()
	for {
		select {
		case <-w.signal:
			w.flush()
		case <-w.done:
			w.flush()
			return
		}
	}
}

func (w *waker) flush() {
	w.mu.Lock()
	ids := w.pending
	w.pending = make(map[string]struct{}, len(ids))
	w.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx := context.Background()
	_, err := w.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for id := range ids {
			p.Publish(ctx, w.channel, id)
		}
		return nil
	})
	if err != nil {
		w.log.Warn("wake publish failed; workers will find the work on their next sweep", "err", err)
	}
}

func (w *waker) close() {
	close(w.done)
	w.wg.Wait()
}
