package worker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
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
	failSuffix, flakySuffix, timelockSuffix string
	log                                     sendLog
	// deliveredAfter and readAfter, when > 0, make the sandbox emit delivery
	// and read receipts for each sent message, as a phone would.
	deliveredAfter, readAfter time.Duration
	onReceipt                 func(whatsapp.Receipt)

	mu   sync.Mutex
	seen map[string]bool // messages that met the simulated timelock
}

// sendLog records every sandbox send in Redis as "worker|unix-nanos|message-id",
// so tests (and curious operators) can check that no device ever sent from
// two workers at once. Capped at the newest 100,000 entries, kept a day.
type sendLog struct {
	rdb    redis.UniversalClient
	key    string
	worker string
}

func (l sendLog) add(ctx context.Context, id string) error {
	if l.rdb == nil {
		return nil
	}
	entry := l.worker + "|" + strconv.FormatInt(time.Now().UnixNano(), 10) + "|" + id
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, l.key, entry)
		p.LTrim(ctx, l.key, -100000, -1)
		p.Expire(ctx, l.key, 24*time.Hour)
		return nil
	})
	return err
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
	n, _ := asynq.GetRetryCount(ctx)
	if s.flakySuffix != "" && strings.HasSuffix(to.User, s.flakySuffix) && n == 0 {
		return sendResult{}, &TransientError{Reason: ReasonSandbox, Err: fmt.Errorf("sandbox: recipients ending in %s fail their first attempt", s.flakySuffix)}
	}
	// WhatsApp's reach-out timelock (error 463) once per message: the device
	// pauses, and the message is sent after the pause ends or on resume.
	if s.timelockSuffix != "" && strings.HasSuffix(to.User, s.timelockSuffix) && !s.timelocked(id) {
		return sendResult{}, &whatsapp.ServerError{Code: 463}
	}
	b, err := protojson.Marshal(msg)
	if err != nil {
		return sendResult{}, fmt.Errorf("sandbox: encode message: %w", err)
	}
	if err := s.log.add(ctx, id); err != nil {
		return sendResult{}, &TransientError{Reason: ReasonSandbox, Err: fmt.Errorf("sandbox: record send: %w", err)}
	}
	s.scheduleReceipts(id, to)
	return sendResult{At: time.Now().UTC(), Sandbox: string(b)}, nil
}

func (s *sandboxConn) scheduleReceipts(id string, to types.JID) {
	if s.onReceipt == nil {
		return
	}
	emit := func(typ string) func() {
		return func() {
			s.onReceipt(whatsapp.Receipt{IDs: []string{id}, Type: typ, At: time.Now().UTC(), Chat: to.String()})
		}
	}
	if s.deliveredAfter > 0 {
		time.AfterFunc(s.deliveredAfter, emit(whatsapp.ReceiptDelivered))
	}
	if s.readAfter > 0 {
		time.AfterFunc(s.readAfter, emit(whatsapp.ReceiptRead))
	}
}

// timelocked reports whether id already met its one simulated timelock, and
// marks it.
func (s *sandboxConn) timelocked(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if s.seen[id] {
		return true
	}
	s.seen[id] = true
	return false
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
