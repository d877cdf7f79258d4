package main

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// faultFence freezes a worker with SIGSTOP in the middle of a paced batch,
// keeps it frozen until another worker has taken its devices and sent for
// them, then lets it run again (SIGCONT). The frozen worker wakes with sends
// in hand and believing it holds its devices; fencing must keep it from
// sending for any device while the other worker holds the lease. Sending for
// a device again after it has legitimately taken it back (the workers
// rebalance once both are alive) is fine.
func faultFence(ctx context.Context, ws *workspace, plan faultPlan, r *faultResult) error {
	devices := devicesNamed("f", 4)
	workers := []string{"w1", "w2"}
	const victim, other = "w1", "w2"
	stopFor := plan.leaseTTL + plan.leaseTTL/2 + 2*time.Second
	c, err := startScenario(ctx, ws, "fence", ws.env.redisURL, plan.env(nil), workers, devices)
	if err != nil {
		return err
	}
	defer c.close()
	d := c.deployment
	// Enough messages (at 10 a second per device) to still be sending
	// well after the frozen worker resumes.
	perDev := max(plan.perDev, int((stopFor+8*time.Second).Seconds()*10))
	ids, err := acceptBatches(ctx, d, devices, perDev, 4)
	if err != nil {
		return err
	}
	victimDevs, err := c.heldBy(ctx, victim)
	if err != nil {
		return err
	}
	if len(victimDevs) == 0 {
		return fmt.Errorf("%s holds no device", victim)
	}
	if err := waitSends(ctx, d, victimDevs[:1], 5, 30*time.Second); err != nil {
		return err
	}
	stopped := time.Now()
	if err := d.workers[victim].signal(syscall.SIGSTOP); err != nil {
		return err
	}
	// Wait for the takeover: the other worker holds every frozen device and
	// has sent for each.
	err = poll(ctx, stopFor+30*time.Second, "the takeover of the frozen worker's devices", func() (bool, error) {
		o, err := d.owners(ctx, victimDevs)
		if err != nil {
			return false, nil
		}
		for _, dev := range victimDevs {
			if o[dev] != other || d.firstSendBy(ctx, dev, other, stopped).IsZero() {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		_ = d.workers[victim].signal(syscall.SIGCONT)
		return err
	}
	took := time.Since(stopped)
	if wait := time.Until(stopped.Add(stopFor)); wait > 0 {
		time.Sleep(wait)
	}
	if err := d.workers[victim].signal(syscall.SIGCONT); err != nil {
		return err
	}
	resumed := time.Now()
	r.say("%d workers, %d devices, %d messages in one batch per device, paced %s/min per device, lease TTL %s",
		len(workers), len(devices), len(ids), plan.pace, plan.leaseTTL)
	r.say("%s frozen holding %v for %s; %s had taken them over and sent for them %s after the freeze",
		victim, victimDevs, resumed.Sub(stopped).Round(time.Millisecond), other, took.Round(time.Millisecond))

	_, logs, epochs, err := c.finish(ctx, plan, r, ids)
	if err != nil {
		return err
	}
	// After the takeover, every send of the frozen worker for its old
	// devices must come from a lease it acquired later, never from the
	// one it held when it was frozen.
	var during, retaken int
	for _, dev := range victimDevs {
		var t0 time.Time
		seen := false
		for _, e := range logs[dev] {
			if !seen && e.worker == other && e.at.After(stopped) {
				seen, t0 = true, e.at
			}
			if !seen || e.worker != victim {
				continue
			}
			if ep := epochOf(epochs[dev], e); ep != nil && ep.from.After(t0) {
				retaken++
			} else {
				during++
			}
		}
	}
	r.say("after the takeover, %s sent for %v: %d times under the lease it held when frozen or none, %d times after taking a device back under a new lease",
		victim, victimDevs, during, retaken)
	r.must(during == 0, "%s sent %d times for a device another worker had taken over (fencing)", victim, during)
	return nil
}

// firstSendBy is the time of the first send by worker for dev after since,
// or zero if there is none yet.
func (d *deployment) firstSendBy(ctx context.Context, dev, worker string, since time.Time) time.Time {
	log, err := d.sendLog(ctx, dev)
	if err != nil {
		return time.Time{}
	}
	for _, e := range log {
		if e.worker == worker && e.at.After(since) {
			return e.at
		}
	}
	return time.Time{}
}
