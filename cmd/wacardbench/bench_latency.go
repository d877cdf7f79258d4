package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// P3: one message alone on its device, from acceptance to sent.
const (
	latSamples  = 200
	idleDevices = 80
	// Round-robin over idleDevices at this spacing, each device gets a message
	// every 6.4 s, well after its pool stopped its asynq server (3-4 s idle tail).
	idleSpacing = 80 * time.Millisecond
	// One device at this spacing: its server never stops, and each message is
	// sent before the next one arrives.
	warmSpacing = 100 * time.Millisecond
	rawSpacing  = 50 * time.Millisecond
	pollEvery   = 50 * time.Millisecond // the pools' asynq TaskCheckInterval while active
)

// benchLatency is P3: acceptance → sent on idle and on warm sandbox devices,
// beside a bare asynq server's pickup latency at the same poll interval.
func benchLatency(ctx context.Context, ws *workspace) ([]row, error) {
	devices := make([]string, 0, idleDevices+1)
	for i := range idleDevices {
		devices = append(devices, fmt.Sprintf("idle-%02d", i))
	}
	devices = append(devices, "warm")
	d, err := ws.newDeployment(ctx, "latency", ws.env.redisURL, map[string]string{"WACARD_SANDBOX_DEVICES": strings.Join(devices, ",")})
	if err != nil {
		return nil, err
	}
	defer d.close()
	// At debug level the worker logs every start of a device's queue server,
	// which shows whether each "idle" sample really found its device idle.
	w1, err := d.startWorker("w1", map[string]string{"WACARD_LOG_LEVEL": "debug"})
	if err != nil {
		return nil, err
	}
	if err := d.startAPI(ctx, nil); err != nil {
		return nil, err
	}
	if err := d.waitSpread(ctx, devices, map[string]int{"w1": len(devices)}, 60*time.Second); err != nil {
		return nil, err
	}
	api := newAPIClient(d.api, 0)
	time.Sleep(2 * time.Second) // let the fresh pools finish their first sweep

	ws.env.logf("P3 %d idle samples over %d devices, then %d warm samples", latSamples, idleDevices, latSamples)
	idleIDs, err := paced(ctx, latSamples, idleSpacing, func(i int) (string, error) {
		return api.sendContact(ctx, devices[i%idleDevices], phone(1, i))
	})
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	cold, err := countLines(w1.logPath, `"queue server started"`, `"device_id":"idle-`)
	if err != nil {
		return nil, err
	}
	warm := func(series, n int) ([]string, error) {
		return paced(ctx, n, warmSpacing, func(i int) (string, error) { return api.sendContact(ctx, "warm", phone(series, i)) })
	}
	if _, err := warm(2, 5); err != nil { // start the warm device's server
		return nil, err
	}
	warmIDs, err := warm(3, latSamples)
	if err != nil {
		return nil, err
	}
	idleLat, err := d.acceptToSent(ctx, idleIDs)
	if err != nil {
		return nil, err
	}
	warmLat, err := d.acceptToSent(ctx, warmIDs)
	if err != nil {
		return nil, err
	}
	rawLat, err := rawPickup(ctx, d, latSamples, rawSpacing)
	if err != nil {
		return nil, err
	}
	ref := fmt.Sprintf("bare asynq pickup at %s poll: %s / %s", pollEvery, ms(percentile(rawLat, 0.5)), ms(percentile(rawLat, 0.99)))
	return []row{
		{id: "P3", measure: fmt.Sprintf("accepted → sent p50 / p99, idle device (%d samples, %d devices; %d server cold starts)", latSamples, idleDevices, cold),
			value: ms(percentile(idleLat, 0.5)) + " / " + ms(percentile(idleLat, 0.99)), reference: ref,
			goal: "p99 ≤ 300 ms", verdict: verdict(percentile(idleLat, 0.99) <= 300*time.Millisecond)},
		{id: "P3", measure: fmt.Sprintf("accepted → sent p50 / p99, warm device (%d samples)", latSamples),
			value: ms(percentile(warmLat, 0.5)) + " / " + ms(percentile(warmLat, 0.99)), reference: ref,
			goal: "p99 ≤ 300 ms", verdict: verdict(percentile(warmLat, 0.99) <= 300*time.Millisecond)},
	}, nil
}

// paced calls send n times, the i-th at i·spacing from the start, and
// returns the message ids.
func paced(ctx context.Context, n int, spacing time.Duration, send func(i int) (string, error)) ([]string, error) {
	ids := make([]string, 0, n)
	start := time.Now()
	for i := range n {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Until(start.Add(time.Duration(i) * spacing))):
		}
		id, err := send(i)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// acceptToSent waits for every message to be sent and returns, for each, its
// record's sent_at minus created_at (the API's acceptance time), in ms steps.
func (d *deployment) acceptToSent(ctx context.Context, ids []string) ([]time.Duration, error) {
	st, err := d.waitTerminal(ctx, ids, 60*time.Second)
	if err != nil {
		return nil, err
	}
	for id, s := range st {
		if s != "sent" {
			return nil, fmt.Errorf("message %s ended %q, not sent", id, s)
		}
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	if _, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, d.prefix+"msg:"+id, "created_at", "sent_at")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]time.Duration, len(ids))
	for i, c := range cmds {
		v := c.Val()
		created, _ := strconv.ParseInt(fmt.Sprint(v[0]), 10, 64)
		sent, _ := strconv.ParseInt(fmt.Sprint(v[1]), 10, 64)
		if created == 0 || sent == 0 {
			return nil, fmt.Errorf("message %s has no created_at/sent_at: %v", ids[i], v)
		}
		out[i] = time.Duration(sent-created) * time.Millisecond
	}
	return out, nil
}

// rawPickup measures a bare asynq server's latency from Enqueue to the
// handler, polling every pollEvery, for n lone tasks spaced by spacing.
func rawPickup(ctx context.Context, d *deployment, n int, spacing time.Duration) ([]time.Duration, error) {
	queue := d.prefix + "rawlat"
	got := make(chan time.Duration, n)
	srv := asynq.NewServerFromRedisClient(d.rdb, asynq.Config{
		Concurrency: 4, Queues: map[string]int{queue: 1},
		TaskCheckInterval: pollEvery, DelayedTaskCheckInterval: 500 * time.Millisecond,
		LogLevel: asynq.WarnLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench:ping", func(_ context.Context, t *asynq.Task) error {
		ns, _ := strconv.ParseInt(string(t.Payload()), 10, 64)
		got <- time.Since(time.Unix(0, ns))
		return nil
	})
	if err := srv.Start(mux); err != nil {
		return nil, err
	}
	defer srv.Shutdown()
	enq := asynq.NewClientFromRedisClient(d.rdb)
	defer enq.Close()
	time.Sleep(time.Second) // the server's first poll and heartbeat
	if _, err := paced(ctx, n, spacing, func(int) (string, error) {
		_, err := enq.EnqueueContext(ctx, asynq.NewTask("bench:ping", []byte(strconv.FormatInt(time.Now().UnixNano(), 10))), asynq.Queue(queue))
		return "", err
	}); err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, n)
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case l := <-got:
			out = append(out, l)
		case <-timeout:
			return nil, fmt.Errorf("bare asynq server handled %d of %d tasks", len(out), n)
		}
	}
	return out, nil
}

// countLines counts the lines of a file that contain every one of subs.
func countLines(path string, subs ...string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n := 0
lines:
	for _, l := range strings.Split(string(b), "\n") {
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue lines
			}
		}
		n++
	}
	return n, nil
}
