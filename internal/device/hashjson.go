package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// The registry keeps several per-device records (state, pause) as JSON values
// of one Redis hash each; these helpers read and write them.

func (r *Registry) hsetJSON(ctx context.Context, key, what, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("device: encode %s %s: %w", what, id, err)
	}
	if err := r.rdb.HSet(ctx, key, id, b).Err(); err != nil {
		return fmt.Errorf("device: set %s %s: %w", what, id, err)
	}
	return nil
}

// hgetJSON decodes one value into v; found is false when there is none.
func (r *Registry) hgetJSON(ctx context.Context, key, what, id string, v any) (found bool, err error) {
	b, err := r.rdb.HGet(ctx, key, id).Bytes()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("device: %s of %s: %w", what, id, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("device: decode %s %s: %w", what, id, err)
	}
	return true, nil
}

// hgetAllJSON decodes every value of a hash; undecodable ones are skipped.
func hgetAllJSON[T any](ctx context.Context, r *Registry, key, what string) (map[string]T, error) {
	m, err := r.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("device: %s: %w", what, err)
	}
	out := make(map[string]T, len(m))
	for id, b := range m {
		var v T
		if json.Unmarshal([]byte(b), &v) == nil {
			out[id] = v
		}
	}
	return out, nil
}
