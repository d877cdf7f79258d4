package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wacard/wacard/internal/redistest"
	"github.com/wacard/wacard/internal/status"
)

// failingScripts makes the first n script calls fail as if Redis were down.
type failingScripts struct {
	n     int64
	calls atomic.Int64
}

func (h *failingScripts) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *failingScripts) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *failingScripts) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := strings.ToLower(cmd.Name()); (name == "evalsha" || name == "eval") && h.calls.Add(1) <= h.n {
			err := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

// TestRecordRetriesWhileRedisIsDown: an outcome that already happened (the
// message was sent) is written once Redis answers again, not dropped, so the
// message is not recovered as "sending" and sent twice.
func TestRecordRetriesWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t, rdb)
	ctx := context.Background()
	st := status.NewStore(rdb, prefix, time.Hour)
	const id = "3EB0AAAAAAAAAAAAAAAAAA"
	if err := st.Create(ctx, status.Record{MessageID: id, DeviceID: "d", Recipient: "6289685024992@s.whatsapp.net", Kind: "contact", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Move(ctx, id, status.Change{To: status.Sending, Attempts: 1}); err != nil {
		t.Fatal(err)
	}

	flaky := redis.NewClient(rdb.Options())
	t.Cleanup(func() { flaky.Close() })
	hook := &failingScripts{n: 3}
	flaky.AddHook(hook)
	w := &Worker{status: status.NewStore(flaky, prefix, time.Hour), now: time.Now}
	p := &pool{w: w, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	p.record(ctx, id, status.Change{To: status.Sent})

	if got := hook.calls.Load(); got < 4 {
		t.Fatalf("record made %d script calls, want the 3 failures and a success", got)
	}
	if s, err := st.State(ctx, id); err != nil || s != status.Sent {
		t.Fatalf("state = %s (%v), want sent", s, err)
	}
}
