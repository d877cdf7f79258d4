package worker

import (
	"math/rand/v2"
	"sync"
	"time"
)

// pacer spaces a device's sends: one per 60s/perMinute on average, each gap
// spread randomly by ±jitter so the rhythm does not look automated, and at
// most dailyCap sends per UTC day. Waiting for pace never uses an attempt.
type pacer struct {
	mu        sync.Mutex
	perMinute int
	dailyCap  int
	jitter    float64
	next      time.Time // earliest start of the next send
	day       string    // UTC day of count
	count     int
}

func newPacer(perMinute, dailyCap int, jitter float64) *pacer {
	return &pacer{perMinute: perMinute, dailyCap: dailyCap, jitter: jitter}
}

func (p *pacer) set(perMinute, dailyCap int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.perMinute, p.dailyCap = perMinute, dailyCap
}

// reserve claims the next send slot at or after now. It returns how long to
// wait for it; capped is true when today's cap is used up, and then wait
// lasts until the next UTC day and no slot was claimed.
func (p *pacer) reserve(now time.Time) (wait time.Duration, capped bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	day := now.UTC().Format("2006-01-02")
	if day != p.day {
		p.day, p.count = day, 0
	}
	if p.dailyCap > 0 && p.count >= p.dailyCap {
		y, m, d := now.UTC().Date()
		return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Sub(now), true
	}
	p.count++
	if p.perMinute <= 0 {
		return 0, false
	}
	start := now
	if p.next.After(now) {
		start = p.next
	}
	gap := time.Minute / time.Duration(p.perMinute)
	if p.jitter > 0 {
		gap = time.Duration(float64(gap) * (1 + p.jitter*(2*rand.Float64()-1)))
	}
	p.next = start.Add(gap)
	return start.Sub(now), false
}

// release gives back a slot reserved for a send that did not happen.
func (p *pacer) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.count > 0 {
		p.count--
	}
}

// restore sets today's count, e.g. from Redis after a takeover.
func (p *pacer) restore(now time.Time, count int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.day, p.count = now.UTC().Format("2006-01-02"), count
}

// paced reports whether sends are spaced at all.
func (p *pacer) paced() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.perMinute > 0
}
