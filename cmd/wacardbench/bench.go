package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// benchCmd measures P1-P4 (docs/benchmarks.md) and prints one table. A goal
// that is missed shows as FAIL in the table; the command itself fails only
// when it cannot measure.
func benchCmd(ctx context.Context, env benchEnv, only string) error {
	start := time.Now()
	opt, err := redis.ParseURL(env.redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w (start one, or set WACARD_BENCH_REDIS_URL)", env.redisURL, err)
	}
	host := machine(ctx, rdb)
	ws, err := newWorkspace(ctx, env)
	if err != nil {
		return err
	}
	defer ws.close()

	var rows []row
	for _, part := range []struct {
		name string
		fn   func(context.Context, *workspace) ([]row, error)
	}{
		{"P1 accept", benchAccept},
		{"P2 batch", benchBatch},
		{"P3 latency", benchLatency},
		{"P4 scale", benchScale},
	} {
		if !selected(only, part.name[:2]) {
			continue
		}
		env.logf("%s …", part.name)
		r, err := part.fn(ctx, ws)
		if err != nil {
			ws.fail()
			return fmt.Errorf("%s: %w", part.name, err)
		}
		rows = append(rows, r...)
	}
	fmt.Fprintf(env.out, "\nwacard benchmarks — %s\n\n", host)
	printTable(env.out, rows)
	fmt.Fprintf(env.out, "\n(measured in %s)\n", time.Since(start).Round(time.Second))
	return nil
}

// selected reports whether name is in the comma-separated list only (an
// empty list selects everything).
func selected(only, name string) bool {
	if only == "" {
		return true
	}
	for _, s := range strings.Split(only, ",") {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return true
		}
	}
	return false
}
