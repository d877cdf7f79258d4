package main

import (
	"context"
	"sync"
	"time"
)

// faultRedisRestart stops a private Redis (append-only file, fsync on every
// write) with SIGTERM while a paced batch is being sent and single sends keep
// arriving, and starts it again on the same port and directory. Every message
// the API acknowledged must reach "sent"; requests refused during the outage
// are not acknowledged and do not count.
func faultRedisRestart(ctx context.Context, ws *workspace, plan faultPlan, r *faultResult) error {
	rs, err := ws.startRedis(ctx, "aof-redis", "--appendonly", "yes", "--appendfsync", "always")
	if err != nil {
		return err
	}
	defer rs.stop()
	devices := devicesNamed("r", 4)
	workers := []string{"w1", "w2"}
	c, err := startScenario(ctx, ws, "redis", rs.url(), plan.env(nil), workers, devices)
	if err != nil {
		return err
	}
	defer c.close()
	d := c.deployment
	ids, err := acceptBatches(ctx, d, devices, plan.perDev, 2)
	if err != nil {
		return err
	}
	batch := len(ids)

	// Single sends every 50 ms through the whole scenario.
	tr := &trickle{client: newAPIClient(d.api, 0)}
	tctx, stopTrickle := context.WithCancel(ctx)
	var twg sync.WaitGroup
	twg.Go(func() { tr.run(tctx, devices) })

	if err := waitSends(ctx, d, devices, batch/4, 60*time.Second); err != nil {
		stopTrickle()
		return err
	}
	down := time.Now()
	if err := rs.stop(); err != nil {
		stopTrickle()
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(plan.outage):
	}
	if err := rs.restart(ctx, ws.env.redisServer); err != nil {
		stopTrickle()
		return err
	}
	up := time.Now()
	// The API is back once a single send is acknowledged again.
	err = poll(ctx, 30*time.Second, "the API to accept again", func() (bool, error) { return tr.lastOK().After(up), nil })
	back := time.Since(up)
	time.Sleep(time.Second)
	stopTrickle()
	twg.Wait()
	if err != nil {
		return err
	}
	single, refused := tr.result()
	ids = append(ids, single...)

	r.say("%d workers, %d devices, a batch of %d plus %d single sends acknowledged (%d refused while Redis was down), paced %s/min per device, lease TTL %s",
		len(workers), len(devices), batch, len(single), refused, plan.pace, plan.leaseTTL)
	r.say("Redis stopped (SIGTERM) after a quarter of the batch, down %s; the API acknowledged sends again %s after the restart",
		up.Sub(down).Round(time.Millisecond), back.Round(time.Millisecond))
	n, logs, _, err := c.finish(ctx, plan, r, ids)
	if err != nil {
		return err
	}
	first := time.Duration(0)
	for _, l := range logs {
		for _, e := range l {
			if e.at.After(up) {
				if first == 0 || e.at.Sub(up) < first {
					first = e.at.Sub(up)
				}
				break
			}
		}
	}
	r.say("first send %s after the restart", first.Round(time.Millisecond))
	r.must(n.sent == n.accepted, "%d of %d acknowledged messages were sent", n.sent, n.accepted)
	return nil
}

// trickle sends single messages round-robin over devices at a steady pace,
// remembering which were acknowledged.
type trickle struct {
	client *apiClient
	mu     sync.Mutex
	ok     []string
	failed int
	last   time.Time
}

func (t *trickle) run(ctx context.Context, devices []string) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		// Not cancelled with ctx: a request cut off in flight could be
		// accepted without this side knowing its id.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		id, err := t.client.sendContact(rctx, devices[i%len(devices)], phone(3, i))
		cancel()
		t.mu.Lock()
		if err == nil {
			t.ok = append(t.ok, id)
			t.last = time.Now()
		} else {
			t.failed++
		}
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *trickle) lastOK() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

func (t *trickle) result() (ok []string, failed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ok, t.failed
}
