// Package redistest connects tests to the real Redis named by
// WACARD_TEST_REDIS_URL (default redis://127.0.0.1:6379/0). A test that needs
// Redis fails loudly when it is not there; it never skips. Each test gets its
// own key prefix, so tests run in parallel without FLUSHDB. wacardbench uses
// Clean for its own prefixes too.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL is the Redis URL tests use.
func URL() string {
	if u := os.Getenv("WACARD_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Client returns a client to the test Redis, closed when the test ends.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	opt, err := redis.ParseURL(URL())
	if err != nil {
		tb.Fatalf("redistest: WACARD_TEST_REDIS_URL %q: %v", URL(), err)
	}
	opt.PoolSize = 64
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		tb.Fatalf("redistest: Redis at %s is not reachable (%v). Start it (redis-server) or set WACARD_TEST_REDIS_URL; tests never skip without it.", URL(), err)
	}
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Prefix returns a key prefix unique to this test, like "wt:3f9a1c:". Keys and
// queues under it are deleted when the test ends.
func Prefix(tb testing.TB, rdb redis.UniversalClient) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "wt:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() { Clean(rdb, p) })
	return p
}

// Clean deletes every key under prefix, including asynq's keys for queues whose
// names start with prefix.
func Clean(rdb redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, pattern := range []string{prefix + "*", "asynq:{" + prefix + "*"} {
		iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
			if len(keys) == 500 {
				rdb.Unlink(ctx, keys...)
				keys = keys[:0]
			}
		}
		if len(keys) > 0 {
			rdb.Unlink(ctx, keys...)
		}
	}
	// asynq lists every queue in one set; drop ours.
	qs, _ := rdb.SMembers(ctx, "asynq:queues").Result()
	for _, q := range qs {
		if strings.HasPrefix(q, prefix) {
			rdb.SRem(ctx, "asynq:queues", q)
		}
	}
}
