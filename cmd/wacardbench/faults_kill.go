package main

import (
	"context"
	"slices"
	"syscall"
	"time"
)

// faultKill9 kills a worker with SIGKILL while a paced batch runs on every
// device: its devices must move to the survivors once their leases expire,
// and every accepted message must still be sent.
func faultKill9(ctx context.Context, ws *workspace, plan faultPlan, r *faultResult) error {
	devices := devicesNamed("k", 6)
	workers := []string{"w1", "w2", "w3"}
	c, err := startScenario(ctx, ws, "kill9", ws.env.redisURL, plan.env(nil), workers, devices)
	if err != nil {
		return err
	}
	defer c.close()
	d := c.deployment
	ids, err := acceptBatches(ctx, d, devices, plan.perDev, 1)
	if err != nil {
		return err
	}
	own, err := d.owners(ctx, devices[:1])
	if err != nil {
		return err
	}
	victim := own[devices[0]]
	victimDevs, err := c.heldBy(ctx, victim)
	if err != nil {
		return err
	}
	if err := waitSends(ctx, d, victimDevs[:1], 5, 30*time.Second); err != nil {
		return err
	}
	before, _ := d.sendLogs(ctx, devices)
	n := 0
	for _, l := range before {
		n += len(l)
	}
	killed := time.Now()
	if err := d.workers[victim].signal(syscall.SIGKILL); err != nil {
		return err
	}
	r.say("%d workers, %d devices, %d messages in one batch per device, paced %s/min per device, lease TTL %s",
		len(workers), len(devices), len(ids), plan.pace, plan.leaseTTL)
	r.say("killed %s holding %v after %d sends", victim, victimDevs, n)

	_, logs, _, err := c.finish(ctx, plan, r, ids)
	if err != nil {
		return err
	}
	// Failover: from the kill to the first send by the device's new holder.
	var fail []time.Duration
	for _, dev := range victimDevs {
		for _, e := range logs[dev] {
			if e.worker != victim && e.at.After(killed) {
				fail = append(fail, e.at.Sub(killed))
				break
			}
		}
	}
	r.must(len(fail) == len(victimDevs), "only %d of %d devices of the killed worker sent again", len(fail), len(victimDevs))
	if len(fail) > 0 {
		r.say("failover (kill → first send by the new holder): %s to %s", slices.Min(fail).Round(time.Millisecond), slices.Max(fail).Round(time.Millisecond))
	}
	return nil
}
