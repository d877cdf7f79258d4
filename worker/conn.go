package worker

import (
	"context"
	"fmt"
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
//
// The record is the sandbox's "server side", so it is fenced the way
// WhatsApp fences a real session (a second connection of the same device
// replaces the first stream): the entry is written only if the device's
// lease still holds this worker's token, checked in the same Lua call, and
// stamped with Redis's clock. A worker that was frozen past its lease and
// wakes with a send in hand is refused instead of sending twice.
type sendLog struct {
	rdb      redis.UniversalClient
	key      string
	worker   string
	leaseKey string // <prefix>lease:<device>
	lease    string // the lease value this pool holds: "<worker>|<token>"
}

// fencedLogScript appends ARGV[2] (prefix) + Redis time + ARGV[3] (suffix)
// to KEYS[1] if KEYS[2] still holds ARGV[1]; it returns 0 when it does not.
var fencedLogScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
redis.call('RPUSH', KEYS[1], ARGV[2] .. t[1] .. string.format('%06d', tonumber(t[2])) .. '000' .. ARGV[3])
redis.call('LTRIM', KEYS[1], -100000, -1)
redis.call('EXPIRE', KEYS[1], 86400)
return 1
`)

func (l sendLog) add(ctx context.Context, id string) error {
	if l.rdb == nil {
		return nil
	}
	n, err := fencedLogScript.Run(ctx, l.rdb, []string{l.key, l.leaseKey}, l.lease, l.worker+"|", "|"+id).Int()
	if err != nil {
		return &TransientError{Reason: ReasonSandbox, Err: fmt.Errorf("sandbox: record send: %w", err)}
	}
	if n == 0 {
		return fmt.Errorf("sandbox: %w: the device's lease is held by another worker now", ErrNotOwner)
	}
	return nil
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
		return sendResult{}, err
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
