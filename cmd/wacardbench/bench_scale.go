package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// P4 runs on a private redis-server, so that its command counter holds only
// what the measured processes do (the shared Redis serves other work).
const (
	scaleDevices  = 500
	scaleBaseFor  = 20 * time.Second // measuring the worker with no devices
	scaleFor      = 30 * time.Second // measuring it with scaleDevices idle devices
	scaleSettle   = 10 * time.Second // after the leases are taken: first sweeps, state writes
	rawServers    = 50               // bare asynq servers for the reference
	rawServersFor = 10 * time.Second
)

// benchScale is P4: Redis commands per second per idle device, and the
// worker's memory, with 500 sandbox devices held by one worker.
func benchScale(ctx context.Context, ws *workspace) ([]row, error) {
	rs, err := ws.startRedis(ctx, "scale-redis")
	if err != nil {
		return nil, err
	}
	defer rs.stop()
	d, err := ws.newDeployment(ctx, "scale", rs.url(), nil)
	if err != nil {
		return nil, err
	}
	defer d.close()

	// Baseline: one worker, no devices.
	w0, err := d.startWorker("w0", nil)
	if err != nil {
		return nil, err
	}
	if err := d.waitWorkers(ctx, 1); err != nil {
		return nil, err
	}
	time.Sleep(5 * time.Second)
	ws.env.logf("P4 baseline: a worker without devices, %s", scaleBaseFor)
	base, _, err := commandRate(ctx, d.rdb, scaleBaseFor)
	if err != nil {
		return nil, err
	}
	rss0, _, err := w0.memory()
	if err != nil {
		return nil, err
	}
	if err := w0.stop(30 * time.Second); err != nil {
		return nil, err
	}

	devices := make([]string, scaleDevices)
	for i := range devices {
		devices[i] = fmt.Sprintf("s-%03d", i)
	}
	w1, err := d.startWorker("w1", map[string]string{"WACARD_SANDBOX_DEVICES": strings.Join(devices, ",")})
	if err != nil {
		return nil, err
	}
	if err := d.waitSpread(ctx, devices, map[string]int{"w1": scaleDevices}, 2*time.Minute); err != nil {
		return nil, err
	}
	time.Sleep(scaleSettle)
	ws.env.logf("P4 %d idle devices held by one worker, %s", scaleDevices, scaleFor)
	rate, calls, err := commandRate(ctx, d.rdb, scaleFor)
	if err != nil {
		return nil, err
	}
	rss, peak, err := w1.memory()
	if err != nil {
		return nil, err
	}
	if err := w1.stop(60 * time.Second); err != nil {
		return nil, err
	}
	ws.env.logf("  commands/s: %.0f with %d devices (%s), %.1f without", rate, scaleDevices, topCommands(calls, scaleFor, 5), base)

	ws.env.logf("P4 reference: %d bare idle asynq servers (default poll), %s", rawServers, rawServersFor)
	rawRate, err := idleAsynqServers(ctx, d, rawServers, rawServersFor)
	if err != nil {
		return nil, err
	}
	per := (rate - base) / scaleDevices
	return []row{
		{id: "P4", measure: fmt.Sprintf("Redis commands/s per idle held device (%d devices, one worker, %s)", scaleDevices, scaleFor),
			value:     fmt.Sprintf("%.2f/s", per),
			reference: fmt.Sprintf("bare idle asynq server %.2f/s; worker alone %.1f/s", rawRate/rawServers, base),
			ratio:     pct(per / (rawRate / rawServers)), goal: "≤ 2/s", verdict: verdict(per <= 2)},
		{id: "P4", measure: fmt.Sprintf("worker RSS with %d devices (peak)", scaleDevices),
			value: mib(rss) + " (" + mib(peak) + ")", reference: "worker without devices " + mib(rss0),
			goal: "≤ 1 GiB", verdict: verdict(peak <= 1<<30)},
	}, nil
}

// commandRate measures Redis commands per second over d, and the calls per
// command in that time.
func commandRate(ctx context.Context, rdb *redis.Client, d time.Duration) (float64, map[string]int64, error) {
	before := commandStats(ctx, rdb)
	n0, err := commandsProcessed(ctx, rdb)
	if err != nil {
		return 0, nil, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	case <-time.After(d):
	}
	n1, err := commandsProcessed(ctx, rdb)
	if err != nil {
		return 0, nil, err
	}
	el := time.Since(t0)
	calls := commandStats(ctx, rdb)
	for k, v := range before {
		calls[k] -= v
	}
	return float64(n1-n0-1) / el.Seconds(), calls, nil // -1: the INFO that read n1
}

// topCommands names the n commands called most, per second over d.
func topCommands(calls map[string]int64, d time.Duration, n int) string {
	names := slices.Collect(maps.Keys(calls))
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(calls[b], calls[a]) })
	var parts []string
	for _, k := range names[:min(n, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, float64(calls[k])/d.Seconds()))
	}
	return strings.Join(parts, ", ")
}

// idleAsynqServers runs n asynq servers with the default configuration on
// empty queues, sharing one Redis client as one process would, and returns
// the Redis commands per second they cost together.
func idleAsynqServers(ctx context.Context, d *deployment, n int, over time.Duration) (float64, error) {
	var servers []*asynq.Server
	defer func() {
		for _, s := range servers {
			s.Shutdown()
		}
	}()
	mux := asynq.NewServeMux()
	for i := range n {
		s := asynq.NewServerFromRedisClient(d.rdb, asynq.Config{
			Concurrency: 4, Queues: map[string]int{fmt.Sprintf("%sraw:%d", d.prefix, i): 1}, LogLevel: asynq.WarnLevel,
		})
		if err := s.Start(mux); err != nil {
			return 0, err
		}
		servers = append(servers, s)
	}
	time.Sleep(3 * time.Second)
	rate, _, err := commandRate(ctx, d.rdb, over)
	return rate, err
}
