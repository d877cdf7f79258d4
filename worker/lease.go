package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/device"
)

// leases holds device ownership in Redis. A lease is the key
// <prefix>lease:<device> whose value is "<worker>|<token>", set with a TTL.
// Only the holder of the token may renew or release it (compare-and-set in
// Lua), so a worker that lost its lease can never extend or delete another's.
//
// Workers also keep a heartbeat in the sorted set <prefix>workers (score =
// last heartbeat in ms), so each can compute its fair share of the devices.
type leases struct {
	rdb    redis.UniversalClient
	prefix string
	worker string
	ttl    time.Duration
}

func (l *leases) key(id string) string { return device.LeaseKey(l.prefix, id) }
func (l *leases) workersKey() string   { return l.prefix + "workers" }

func newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (l *leases) value(token string) string { return l.worker + "|" + token }

// acquire tries to take each device's lease; it returns the tokens of those
// it got. A lease that exists (held by anyone) is left alone.
func (l *leases) acquire(ctx context.Context, devices []string) (map[string]string, error) {
	tokens := make(map[string]string, len(devices))
	cmds := make(map[string]*redis.BoolCmd, len(devices))
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, d := range devices {
			tokens[d] = newToken()
			cmds[d] = p.SetNX(ctx, l.key(d), l.value(tokens[d]), l.ttl)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lease: acquire: %w", err)
	}
	for d, c := range cmds {
		if !c.Val() {
			delete(tokens, d)
		}
	}
	return tokens, nil
}

// renewScript extends every lease whose value still matches and reports the
// ones that no longer do. It also refreshes the worker's heartbeat and drops
// workers whose heartbeat is older than the TTL. ARGV: ttl ms, now ms, worker,
// then device/value pairs; KEYS[1] is the workers set.
var renewScript = redis.NewScript(`
local ttl, now, worker = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
redis.call('ZADD', KEYS[1], now, worker)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
local lost = {}
for i = 4, #ARGV, 3 do
  local key, val = ARGV[i+1], ARGV[i+2]
  if redis.call('GET', key) == val then
    redis.call('PEXPIRE', key, ttl)
  else
    table.insert(lost, ARGV[i])
  end
end
return {redis.call('ZCARD', KEYS[1]), lost}
`)

// renew extends the held leases in one round trip and returns the devices
// whose lease was lost, and how many workers are alive.
func (l *leases) renew(ctx context.Context, now time.Time, held map[string]string) (lost []string, live int, err error) {
	args := []any{l.ttl.Milliseconds(), now.UnixMilli(), l.worker}
	for d, tok := range held {
		args = append(args, d, l.key(d), l.value(tok))
	}
	res, err := renewScript.Run(ctx, l.rdb, []string{l.workersKey()}, args...).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("lease: renew: %w", err)
	}
	n, _ := res[0].(int64)
	if list, ok := res[1].([]any); ok {
		for _, v := range list {
			if s, ok := v.(string); ok {
				lost = append(lost, s)
			}
		}
	}
	return lost, int(n), nil
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// release deletes the lease only if this worker still holds it with token.
func (l *leases) release(ctx context.Context, device, token string) (bool, error) {
	n, err := releaseScript.Run(ctx, l.rdb, []string{l.key(device)}, l.value(token)).Int()
	if err != nil {
		return false, fmt.Errorf("lease: release %s: %w", device, err)
	}
	return n == 1, nil
}

// leave removes the worker's heartbeat, so others rebalance at once.
func (l *leases) leave(ctx context.Context) {
	l.rdb.ZRem(ctx, l.workersKey(), l.worker)
}

// owners returns the worker holding each device ("" when none).
func (l *leases) owners(ctx context.Context, ids []string) (map[string]string, error) {
	return device.NewRegistry(l.rdb, l.prefix).Owners(ctx, ids)
}

// fairShare is how many devices one of live workers should hold: the
// devices spread evenly, never above capacity.
func fairShare(devices, live, capacity int) int {
	if live < 1 {
		live = 1
	}
	share := (devices + live - 1) / live
	return min(share, capacity)
}
