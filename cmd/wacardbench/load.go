package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is the outcome of a load run.
type loadResult struct {
	n        int             // calls made
	errs     int             // calls that failed
	firstErr error           // the first failure, for the report
	elapsed  time.Duration   // wall time of the whole run
	lat      []time.Duration // latency of each successful call
}

// rate is successful calls per second over the whole run.
func (r loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.n-r.errs) / r.elapsed.Seconds()
}

func (r loadResult) p(q float64) time.Duration { return percentile(r.lat, q) }

// percentile returns the q-quantile (0 < q <= 1) of d by nearest rank.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// collector gathers latencies and errors from concurrent calls.
type collector struct {
	mu       sync.Mutex
	lat      []time.Duration
	errs     int
	firstErr error
}

func (c *collector) add(d time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs++
		if c.firstErr == nil {
			c.firstErr = err
		}
		return
	}
	c.lat = append(c.lat, d)
}

// closedLoop makes total calls of op from conc goroutines, each starting its
// next call as soon as the previous one answered: the maximum rate.
func closedLoop(ctx context.Context, conc, total int, op func(ctx context.Context, i int) error) loadResult {
	c := &collector{lat: make([]time.Duration, 0, total)}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total || ctx.Err() != nil {
					return
				}
				t := time.Now()
				err := op(ctx, i)
				c.add(time.Since(t), err)
			}
		})
	}
	wg.Wait()
	return loadResult{n: total, errs: c.errs, firstErr: c.firstErr, elapsed: time.Since(start), lat: c.lat}
}

// openLoop starts calls of op at a fixed rate for d, whether or not earlier
// ones have answered (up to inFlight at once). Each latency is measured from
// the call's scheduled start, so a stall counts against every call it delays
// instead of hiding them (no coordinated omission).
func openLoop(ctx context.Context, rate float64, d time.Duration, inFlight int, op func(ctx context.Context, i int) error) loadResult {
	n := int(rate * d.Seconds())
	type ticket struct {
		i  int
		at time.Time
	}
	tickets := make(chan ticket, n)
	c := &collector{lat: make([]time.Duration, 0, n)}
	var wg sync.WaitGroup
	for range inFlight {
		wg.Go(func() {
			for t := range tickets {
				err := op(ctx, t.i)
				c.add(time.Since(t.at), err)
			}
		})
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 200*time.Microsecond {
			time.Sleep(wait)
		}
		tickets <- ticket{i: i, at: at}
	}
	close(tickets)
	wg.Wait()
	return loadResult{n: n, errs: c.errs, firstErr: c.firstErr, elapsed: time.Since(start), lat: c.lat}
}
