package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/device"
	"github.com/wacard/wacard/internal/redistest"
)

// deployment is one wacard deployment under test: an API process and
// workers sharing a Redis and a key prefix of their own.
type deployment struct {
	ws      *workspace
	name    string
	rdb     *redis.Client
	prefix  string
	env     map[string]string // every process's environment
	api     string            // base URL, "http://127.0.0.1:port"
	apiProc *proc
	workers map[string]*proc
	client  *apiClient
}

// newDeployment connects to redisURL and picks a fresh prefix; env is the
// configuration every process of the deployment gets.
func (w *workspace) newDeployment(ctx context.Context, name, redisURL string, env map[string]string) (*deployment, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, err
	}
	opt.PoolSize = 64
	rdb := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis at %s: %w (start one, or set WACARD_BENCH_REDIS_URL)", redisURL, err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	d := &deployment{ws: w, name: name, rdb: rdb, prefix: "wb:" + hex.EncodeToString(b[:]) + ":",
		workers: map[string]*proc{}}
	d.env = map[string]string{
		"WACARD_REDIS_URL":               redisURL,
		"WACARD_REDIS_PREFIX":            d.prefix,
		"WACARD_METRICS_ADDR":            "off",
		"WACARD_SANDBOX_DELIVERED_AFTER": "off",
		"WACARD_SANDBOX_READ_AFTER":      "off",
	}
	maps.Copy(d.env, env)
	return d, nil
}

// startAPI starts `wacard api` on a free loopback port; extra adds to the
// deployment's environment.
func (d *deployment) startAPI(ctx context.Context, extra map[string]string) error {
	env := maps.Clone(d.env)
	env["WACARD_ADDR"] = "127.0.0.1:0"
	env["WACARD_DATA_DIR"] = filepath.Join(d.ws.dir, d.name+"-api")
	maps.Copy(env, extra)
	p, err := d.ws.start(d.name+"-api", env, "api")
	if err != nil {
		return err
	}
	addr, err := p.apiAddr(ctx, 60*time.Second)
	if err != nil {
		return err
	}
	d.apiProc, d.api = p, "http://"+addr
	d.client = newAPIClient(d.api, 0)
	return nil
}

// startWorker starts `wacard worker` named id.
func (d *deployment) startWorker(id string, extra map[string]string) (*proc, error) {
	env := maps.Clone(d.env)
	env["WACARD_WORKER_ID"] = id
	env["WACARD_DATA_DIR"] = filepath.Join(d.ws.dir, d.name+"-"+id)
	maps.Copy(env, extra)
	p, err := d.ws.start(d.name+"-"+id, env, "worker")
	if err != nil {
		return nil, err
	}
	d.workers[id] = p
	return p, nil
}

// waitWorkers waits until n workers have a heartbeat.
func (d *deployment) waitWorkers(ctx context.Context, n int) error {
	return poll(ctx, 60*time.Second, fmt.Sprintf("%d workers to start", n), func() (bool, error) {
		for id, p := range d.workers {
			if !p.running() {
				return false, fmt.Errorf("worker %s exited; see %s", id, p.logPath)
			}
		}
		c, err := d.rdb.ZCard(ctx, d.prefix+"workers").Result()
		return err == nil && c >= int64(n), nil
	})
}

// owners reads every device's lease holder straight from Redis ("" = none).
func (d *deployment) owners(ctx context.Context, devices []string) (map[string]string, error) {
	cmds := make([]*redis.StringCmd, len(devices))
	_, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range devices {
			cmds[i] = p.Get(ctx, device.LeaseKey(d.prefix, id))
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return nil, err
	}
	out := make(map[string]string, len(devices))
	for i, id := range devices {
		out[id] = device.ParseLease(cmds[i].Val())
	}
	return out, nil
}

// waitSpread waits until every device is held and each worker in per holds
// exactly per[worker] of them.
func (d *deployment) waitSpread(ctx context.Context, devices []string, per map[string]int, within time.Duration) error {
	return poll(ctx, within, fmt.Sprintf("devices spread as %v", per), func() (bool, error) {
		own, err := d.owners(ctx, devices)
		if err != nil {
			return false, nil
		}
		got := map[string]int{}
		for _, w := range own {
			if w == "" {
				return false, nil
			}
			got[w]++
		}
		return maps.Equal(got, per), nil
	})
}

// close stops the deployment's processes and deletes its keys.
func (d *deployment) close() {
	if d.apiProc != nil {
		_ = d.apiProc.stop(15 * time.Second)
	}
	for _, p := range d.workers {
		_ = p.stop(15 * time.Second)
	}
	redistest.Clean(d.rdb, d.prefix)
	_ = d.rdb.Close()
}

// states reads the state of every message, in pipelines of 1,000.
func (d *deployment) states(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for start := 0; start < len(ids); start += 1000 {
		chunk := ids[start:min(start+1000, len(ids))]
		cmds := make([]*redis.StringCmd, len(chunk))
		_, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range chunk {
				cmds[i] = p.HGet(ctx, d.prefix+"msg:"+id, "state")
			}
			return nil
		})
		if err != nil && err != redis.Nil {
			return nil, err
		}
		for i, id := range chunk {
			out[id] = cmds[i].Val()
		}
	}
	return out, nil
}

// terminal reports whether a message in state s will not be sent again.
func terminal(s string) bool {
	switch s {
	case "sent", "delivered", "read", "failed", "cancelled":
		return true
	}
	return false
}

// waitTerminal waits until every message is terminal or within passes, and
// returns the last states read either way.
func (d *deployment) waitTerminal(ctx context.Context, ids []string, within time.Duration) (map[string]string, error) {
	var st map[string]string
	err := poll(ctx, within, "every message to finish", func() (bool, error) {
		var err error
		st, err = d.states(ctx, ids)
		if err != nil {
			return false, nil // Redis may be restarting
		}
		for _, s := range st {
			if !terminal(s) {
				return false, nil
			}
		}
		return true, nil
	})
	return st, err
}

// phone returns the i-th (below a million) of a series (0-9) of valid,
// distinct recipient numbers that match no sandbox failure suffix: they all
// end in 1.
func phone(series, i int) string { return fmt.Sprintf("62896%d%06d1", series%10, i%1000000) }
