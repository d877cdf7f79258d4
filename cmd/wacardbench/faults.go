package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// faultPlan sizes the fault scenarios: the full run (docs/reliability.md)
// or the short one CI runs (make faults-short).
type faultPlan struct {
	short    bool
	leaseTTL time.Duration // WACARD_LEASE_TTL of every process
	perDev   int           // messages per device in each scenario's batches
	pace     string        // WACARD_PACE_PER_MINUTE: sends per minute per device
	outage   time.Duration // how long Redis, or the webhook receiver, stays down
	finish   time.Duration // how long messages may take to finish after a fault
}

func planFor(short bool) faultPlan {
	if short {
		return faultPlan{short: true, leaseTTL: 3 * time.Second, perDev: 40, pace: "600", outage: 2 * time.Second, finish: 45 * time.Second}
	}
	return faultPlan{leaseTTL: 15 * time.Second, perDev: 150, pace: "600", outage: 10 * time.Second, finish: 3 * time.Minute}
}

// env is the configuration every process of a scenario gets.
func (p faultPlan) env(extra map[string]string) map[string]string {
	env := map[string]string{"WACARD_LEASE_TTL": p.leaseTTL.String(), "WACARD_PACE_PER_MINUTE": p.pace}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// faultResult is what a scenario reports: its lines and whether it passed.
type faultResult struct {
	name  string
	lines []string
	fails []string
}

func (r *faultResult) say(format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

// must records a failed guarantee unless ok.
func (r *faultResult) must(ok bool, format string, args ...any) {
	if !ok {
		r.fails = append(r.fails, fmt.Sprintf(format, args...))
	}
}

type scenario struct {
	name string
	what string
	run  func(context.Context, *workspace, faultPlan, *faultResult) error
}

var scenarios = []scenario{
	{"kill9", "kill -9 of a worker in the middle of a batch", faultKill9},
	{"redis", "Redis (AOF, fsync always) restarted in the middle of a batch", faultRedisRestart},
	{"fence", "a worker stopped (SIGSTOP) past its lease TTL, then resumed", faultFence},
	{"webhook", "the webhook receiver down, then back", faultWebhook},
}

// faultsCmd runs the scenarios one after the other and fails if any lost a
// message or let two workers send for one device at once.
func faultsCmd(ctx context.Context, env benchEnv, short bool, only string) error {
	start := time.Now()
	plan := planFor(short)
	ws, err := newWorkspace(ctx, env)
	if err != nil {
		return err
	}
	defer ws.close()
	var results []*faultResult
	for _, s := range scenarios {
		if !selected(only, s.name) {
			continue
		}
		env.logf("%s: %s …", s.name, s.what)
		r := &faultResult{name: s.name}
		t := time.Now()
		if err := s.run(ctx, ws, plan, r); err != nil {
			r.fails = append(r.fails, "could not run: "+err.Error())
		}
		r.say("took %s", time.Since(t).Round(100*time.Millisecond))
		fmt.Fprintf(env.out, "\n== %s: %s\n", s.name, s.what)
		for _, l := range r.lines {
			fmt.Fprintln(env.out, "   "+l)
		}
		for _, f := range r.fails {
			fmt.Fprintln(env.out, "   FAIL: "+f)
		}
		if len(r.fails) == 0 {
			fmt.Fprintln(env.out, "   PASS")
		}
		results = append(results, r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	var failed []string
	for _, r := range results {
		if len(r.fails) > 0 {
			failed = append(failed, r.name)
		}
	}
	mode := "full"
	if short {
		mode = "short"
	}
	fmt.Fprintf(env.out, "\nfaults (%s, lease TTL %s): %d scenarios in %s, %d failed\n",
		mode, plan.leaseTTL, len(results), time.Since(start).Round(time.Second), len(failed))
	if len(failed) > 0 {
		ws.fail()
		return fmt.Errorf("failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// acceptBatches queues perDev messages on each device, one batch per device,
// and returns every message id.
func acceptBatches(ctx context.Context, d *deployment, devices []string, perDev, series int) ([]string, error) {
	var ids []string
	for i, dev := range devices {
		to := make([]string, perDev)
		for j := range to {
			to[j] = phone(series, i*perDev+j)
		}
		got, err := d.client.sendBatch(ctx, dev, batchBody(to))
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// devicesNamed returns n device ids "<prefix>1".."<prefix>n".
func devicesNamed(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return out
}

// startCluster starts the workers first, waits for their heartbeats, then
// the API, which registers the sandbox devices, so that the workers split
// the devices evenly from the start; it waits until they have.
func startCluster(ctx context.Context, d *deployment, workers, devices []string, within time.Duration) error {
	for _, w := range workers {
		if _, err := d.startWorker(w, nil); err != nil {
			return err
		}
	}
	if err := d.waitWorkers(ctx, len(workers)); err != nil {
		return err
	}
	if err := d.startAPI(ctx, map[string]string{"WACARD_SANDBOX_DEVICES": strings.Join(devices, ",")}); err != nil {
		return err
	}
	per := map[string]int{}
	for i := range devices {
		per[workers[i%len(workers)]]++
	}
	return d.waitSpread(ctx, devices, per, within)
}

// waitSends waits until the devices' sandbox logs hold at least n sends.
func waitSends(ctx context.Context, d *deployment, devices []string, n int, within time.Duration) error {
	return poll(ctx, within, fmt.Sprintf("%d sends", n), func() (bool, error) {
		total := 0
		for _, dev := range devices {
			c, err := d.rdb.LLen(ctx, d.prefix+"sandbox:log:"+dev).Result()
			if err != nil {
				return false, nil
			}
			total += int(c)
		}
		return total >= n, nil
	})
}

// cluster is a scenario's deployment with its workers and sandbox devices
// running, and the watch on the devices' leases that every send is checked
// against.
type cluster struct {
	*deployment
	devices []string
	watch   *leaseWatch
}

// startScenario starts the deployment name on redisURL with env, its workers
// and devices spread evenly over them (startCluster), and watches the
// devices' leases from then on. Close it when done.
func startScenario(ctx context.Context, ws *workspace, name, redisURL string, env map[string]string, workers, devices []string) (*cluster, error) {
	d, err := ws.newDeployment(ctx, name, redisURL, env)
	if err != nil {
		return nil, err
	}
	if err := startCluster(ctx, d, workers, devices, 60*time.Second); err != nil {
		d.close()
		return nil, err
	}
	return &cluster{deployment: d, devices: devices, watch: d.watchLeases(ctx, devices)}, nil
}

func (c *cluster) close() {
	c.watch.stop()
	c.deployment.close()
}

// heldBy returns the devices worker holds now, in the order of c.devices.
func (c *cluster) heldBy(ctx context.Context, worker string) ([]string, error) {
	own, err := c.owners(ctx, c.devices)
	if err != nil {
		return nil, err
	}
	var held []string
	for _, dev := range c.devices {
		if own[dev] == worker {
			held = append(held, dev)
		}
	}
	return held, nil
}

// finish waits for every message to finish, then checks the guarantees every
// scenario shares: nothing lost, no send outside its worker's lease.
func (c *cluster) finish(ctx context.Context, plan faultPlan, r *faultResult, ids []string) (sendCounts, map[string][]sendEntry, map[string][]epoch, error) {
	d, devices := c.deployment, c.devices
	states, werr := d.waitTerminal(ctx, ids, plan.finish)
	time.Sleep(500 * time.Millisecond) // sends in flight land in the logs
	epochs := c.watch.stop()
	logs, err := d.sendLogs(ctx, devices)
	if err != nil {
		return sendCounts{}, nil, nil, err
	}
	if states == nil {
		return sendCounts{}, nil, nil, werr
	}
	n := countSends(ids, states, logs)
	hold := checkHolding(logs, epochs)
	r.say("%s", n)
	r.say("%s", hold)
	r.must(n.lost == 0, "%d accepted messages lost (not finished %s after the fault)", n.lost, plan.finish)
	r.must(n.failed == 0, "%d messages failed", n.failed)
	r.must(hold.ok(), "sends outside their worker's lease, or interleaved holders")
	return n, logs, epochs, nil
}
