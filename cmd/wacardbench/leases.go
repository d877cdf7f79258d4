package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/device"
)

// sendEntry is one sandbox send: "worker|unix nanos|message id" in the list
// <prefix>sandbox:log:<device>, in the order Redis received them.
type sendEntry struct {
	worker string
	at     time.Time
	id     string
}

// sendLog returns every sandbox send of a device, in order.
func (d *deployment) sendLog(ctx context.Context, dev string) ([]sendEntry, error) {
	raw, err := d.rdb.LRange(ctx, d.prefix+"sandbox:log:"+dev, 0, -1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]sendEntry, 0, len(raw))
	for _, r := range raw {
		parts := strings.SplitN(r, "|", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("sandbox log of %s: bad entry %q", dev, r)
		}
		ns, _ := strconv.ParseInt(parts[1], 10, 64)
		out = append(out, sendEntry{worker: parts[0], at: time.Unix(0, ns), id: parts[2]})
	}
	return out, nil
}

// sendLogs returns the sandbox logs of several devices.
func (d *deployment) sendLogs(ctx context.Context, devices []string) (map[string][]sendEntry, error) {
	out := make(map[string][]sendEntry, len(devices))
	for _, dev := range devices {
		l, err := d.sendLog(ctx, dev)
		if err != nil {
			return nil, err
		}
		out[dev] = l
	}
	return out, nil
}

// epoch is one holding of a device's lease: one worker with one token. It
// began after from and was over by to (to is zero while it lasts), bounds
// taken from the polls around it, so they are wide, never narrow.
type epoch struct {
	worker, value string
	from, to      time.Time
}

// leaseWatch polls the lease keys of some devices every 10 ms and records
// every epoch, so that each sandbox send can be checked against who held the
// device's lease at the time.
type leaseWatch struct {
	mu     sync.Mutex
	epochs map[string][]*epoch
	cancel context.CancelFunc
	done   chan struct{}
}

func (d *deployment) watchLeases(ctx context.Context, devices []string) *leaseWatch {
	ctx, cancel := context.WithCancel(ctx)
	lw := &leaseWatch{epochs: map[string][]*epoch{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(lw.done)
		prevSent := map[string]time.Time{} // start of the last poll that answered; zero before the first
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			sent := time.Now()
			cmds := make([]*redis.StringCmd, len(devices))
			_, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, dev := range devices {
					cmds[i] = p.Get(ctx, device.LeaseKey(d.prefix, dev))
				}
				return nil
			})
			recv := time.Now()
			if err == nil || errors.Is(err, redis.Nil) {
				lw.mu.Lock()
				for i, dev := range devices {
					lw.observe(dev, cmds[i].Val(), prevSent[dev], recv)
					prevSent[dev] = sent
				}
				lw.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return lw
}

// observe records that dev's lease held v ("" = none) at some moment
// between the previous poll's start (prev) and recv.
func (lw *leaseWatch) observe(dev, v string, prev, recv time.Time) {
	eps := lw.epochs[dev]
	var cur *epoch
	if n := len(eps); n > 0 && eps[n-1].to.IsZero() {
		cur = eps[n-1]
	}
	if cur != nil && cur.value == v {
		return
	}
	if cur != nil {
		cur.to = recv // gone by now
	}
	if v != "" {
		lw.epochs[dev] = append(eps, &epoch{worker: device.ParseLease(v), value: v, from: prev})
	}
}

// stop ends the polling and returns the epochs of every device.
func (lw *leaseWatch) stop() map[string][]epoch {
	lw.cancel()
	<-lw.done
	lw.mu.Lock()
	defer lw.mu.Unlock()
	out := make(map[string][]epoch, len(lw.epochs))
	for dev, eps := range lw.epochs {
		for _, e := range eps {
			out[dev] = append(out[dev], *e)
		}
	}
	return out
}

// holdingCheck is the outcome of checking sends against leases.
type holdingCheck struct {
	sends      int
	outside    []string // sends made while the sender did not hold the lease
	outOfOrder []string // sends of an earlier holder that landed after a later holder's
}

func (h holdingCheck) ok() bool { return len(h.outside) == 0 && len(h.outOfOrder) == 0 }

func (h holdingCheck) String() string {
	s := fmt.Sprintf("%d sends checked against the lease holders: %d outside the sender's lease, %d landed after a later holder's",
		h.sends, len(h.outside), len(h.outOfOrder))
	for _, p := range append(slices.Clone(h.outside), h.outOfOrder...)[:min(5, len(h.outside)+len(h.outOfOrder))] {
		s += "\n      " + p
	}
	return s
}

// checkHolding checks that every send was made by the worker holding the
// device's lease at the time, and that the sends of consecutive holders
// never interleave: two workers never sent for one device at once.
func checkHolding(logs map[string][]sendEntry, epochs map[string][]epoch) holdingCheck {
	var h holdingCheck
	for dev, log := range logs {
		eps := epochs[dev]
		last := -1
		for _, e := range log {
			h.sends++
			at := -1
			if ep := epochOf(eps, e); ep != nil {
				at = slices.IndexFunc(eps, func(x epoch) bool { return x.value == ep.value })
			}
			switch {
			case at < 0:
				h.outside = append(h.outside, fmt.Sprintf("%s: %s sent %s at %s without holding the lease",
					dev, e.worker, e.id, e.at.Format("15:04:05.000")))
			case at < last:
				h.outOfOrder = append(h.outOfOrder, fmt.Sprintf("%s: %s's send of %s (%s) landed after the next holder's sends",
					dev, e.worker, e.id, e.at.Format("15:04:05.000")))
			default:
				last = at
			}
		}
	}
	return h
}

// sendCounts summarizes the sandbox logs against the accepted messages.
type sendCounts struct {
	accepted, sent, duplicated, resends, lost, failed, unknown int
}

func (c sendCounts) String() string {
	s := fmt.Sprintf("accepted %d, sent %d, duplicated %d (%d extra sends, same message id), lost %d, failed %d",
		c.accepted, c.sent, c.duplicated, c.resends, c.lost, c.failed)
	if c.unknown > 0 {
		s += fmt.Sprintf("; %d sends of messages whose request got an error answer", c.unknown)
	}
	return s
}

// countSends compares the accepted ids with their final states and the logs.
// lost is accepted but never terminal, or terminal "sent" without a send.
func countSends(ids []string, states map[string]string, logs map[string][]sendEntry) sendCounts {
	c := sendCounts{accepted: len(ids)}
	times := map[string]int{}
	for _, l := range logs {
		for _, e := range l {
			times[e.id]++
		}
	}
	accepted := make(map[string]bool, len(ids))
	for _, id := range ids {
		accepted[id] = true
		n := times[id]
		switch s := states[id]; {
		case !terminal(s), s == "sent" && n == 0:
			c.lost++
		case s == "failed" || s == "cancelled":
			c.failed++
		}
		if n > 0 {
			c.sent++
		}
		if n > 1 {
			c.duplicated++
			c.resends += n - 1
		}
	}
	for id := range times {
		if !accepted[id] {
			c.unknown++
		}
	}
	return c
}

// epochOf returns the latest of the sender's epochs that covers the send.
func epochOf(eps []epoch, e sendEntry) *epoch {
	var found *epoch
	for i := range eps {
		ep := &eps[i]
		if ep.worker == e.worker && !e.at.Before(ep.from) && (ep.to.IsZero() || !e.at.After(ep.to)) {
			found = ep
		}
	}
	return found
}
