package worker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/wacard/wacard/worker/whatsapp"
)

// conn is a device's way of sending: a WhatsApp session or a sandbox.
type conn interface {
	// Send sends msg with the given WhatsApp message ID.
	Send(ctx context.Context, id string, to types.JID, msg *waE2E.Message) (sendResult, error)
	// Ready reports whether a send may be tried now.
	Ready() bool
	// Close disconnects; it is idempotent.
	Close()
}

type sendResult struct {
	At      time.Time
	Sandbox string // for sandbox devices: the message that would have been sent
}

// sandboxConn accepts every send and keeps the message it would have sent.
// Recipients ending in failSuffix fail permanently; ending in flakySuffix
// fail their first attempt and then succeed. Demos and users' CI use it.
type sandboxConn struct {
	failSuffix, flakySuffix string
}

func (s *sandboxConn) Ready() bool { return true }
func (s *sandboxConn) Close()      {}

func (s *sandboxConn) Send(ctx context.Context, id string, to types.JID, msg *waE2E.Message) (sendResult, error) {
	if err := ctx.Err(); err != nil {
		return sendResult{}, err
	}
	if s.failSuffix != "" && strings.HasSuffix(to.User, s.failSuffix) {
		return sendResult{}, &PermanentError{Reason: ReasonSandbox, Err: fmt.Errorf("sandbox: recipients ending in %s always fail", s.failSuffix)}
	}
	if n, _ := asynq.GetRetryCount(ctx); s.flakySuffix != "" && strings.HasSuffix(to.User, s.flakySuffix) && n == 0 {
		return sendResult{}, &TransientError{Reason: ReasonSandbox, Err: fmt.Errorf("sandbox: recipients ending in %s fail their first attempt", s.flakySuffix)}
	}
	b, err := protojson.Marshal(msg)
	if err != nil {
		return sendResult{}, fmt.Errorf("sandbox: encode message: %w", err)
	}
	return sendResult{At: time.Now().UTC(), Sandbox: string(b)}, nil
}

// waSession is what the worker uses of a whatsapp.Session.
type waSession interface {
	Connect(ctx context.Context) error
	Send(ctx context.Context, id string, to types.JID, msg *waE2E.Message) (time.Time, error)
	Connected() bool
	Close()
}

var _ waSession = (*whatsapp.Session)(nil)

// waConn adapts a WhatsApp session to conn.
type waConn struct{ s waSession }

func (c waConn) Ready() bool { return c.s.Connected() }
func (c waConn) Close()      { c.s.Close() }

func (c waConn) Send(ctx context.Context, id string, to types.JID, msg *waE2E.Message) (sendResult, error) {
	at, err := c.s.Send(ctx, id, to, msg)
	return sendResult{At: at}, err
}

// offlineConn stands for a WhatsApp device that cannot connect (never paired,
// logged out, or its store is unavailable): messages wait for it.
type offlineConn struct{ err error }

func (c offlineConn) Ready() bool { return false }
func (c offlineConn) Close()      {}
func (c offlineConn) Send(context.Context, string, types.JID, *waE2E.Message) (sendResult, error) {
	return sendResult{}, c.err
}
