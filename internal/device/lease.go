package device

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// LeaseKey is the Redis key of a device's lease: its value is
// "<worker>|<token>" while a worker holds the device (see worker/lease.go).
func LeaseKey(prefix, id string) string { return prefix + "lease:" + id }

// ParseLease returns the worker named in a lease value.
func ParseLease(v string) (worker string) {
	worker, _, _ = strings.Cut(v, "|")
	return worker
}

// Owner returns the worker holding the device, or "" when none does.
func (r *Registry) Owner(ctx context.Context, id string) (string, error) {
	v, err := r.rdb.Get(ctx, LeaseKey(r.prefix, id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return ParseLease(v), nil
}

// Owners returns the worker holding each device ("" for none), in one round trip.
func (r *Registry) Owners(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = LeaseKey(r.prefix, id)
	}
	vals, err := r.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		s, _ := v.(string)
		out[ids[i]] = ParseLease(s)
	}
	return out, nil
}
