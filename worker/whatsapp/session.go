package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// Options configure a Session or a login.
type Options struct {
	// OnEvent receives the session's Events. It is called from whatsmeow's
	// event goroutines, possibly concurrently, and must not block long:
	// receipts are delivered on the goroutine that reads the connection.
	OnEvent func(Event)

	// Log receives whatsmeow's logs. Nil means the Store's logger.
	Log *slog.Logger

	// ClientHook is called with the whatsmeow client right after it is
	// created, before any connection. Tests use it to point the client at a
	// fake server (SetWebsocketHTTPClient, SetPreLoginHTTPClient).
	// Production leaves it nil.
	ClientHook func(*whatsmeow.Client)
}

// newClient creates a whatsmeow client for device, applying opts.
func newClient(device *store.Device, opts Options) *whatsmeow.Client {
	cli := whatsmeow.NewClient(device, NewLogger(opts.Log).Sub("Client"))
	cli.EnableAutoReconnect = true
	if opts.ClientHook != nil {
		opts.ClientHook(cli)
	}
	return cli
}

// Session is one logged-in WhatsApp device. Its methods are safe for
// concurrent use.
type Session struct {
	cli     *whatsmeow.Client
	jid     types.JID
	onEvent func(Event)
	now     func() time.Time

	// recipients remembers who is on WhatsApp, for Send's check.
	recipients recipientCache

	// life bounds every connection the session makes; Close cancels it.
	life context.Context
	stop context.CancelFunc

	mu          sync.Mutex
	closed      bool
	waiters     []chan error       // pending Connect calls
	cancelConn  context.CancelFunc // cancels the current connection's context
	connectLock sync.Mutex         // one Connect at a time
}

// Session returns a session for the paired device jid, not yet connected. It
// returns ErrUnknownDevice if the store holds no such device. Open at most
// one Session per device: two connections with the same keys replace each
// other (StreamReplaced).
func (s *Store) Session(ctx context.Context, jid types.JID, opts Options) (*Session, error) {
	device, err := s.container.GetDevice(ctx, jid)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: load device %s: %w", jid, err)
	}
	if device == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownDevice, jid)
	}
	if opts.Log == nil {
		opts.Log = s.log
	}
	opts.Log = opts.Log.With("device", jid.String())
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	sess := &Session{
		jid:     jid,
		onEvent: opts.OnEvent,
		now:     time.Now,
		life:    life,
		stop:    stop,
	}
	sess.cli = newClient(device, opts)
	// whatsmeow retries a failed reconnect forever; stop once we are closed.
	sess.cli.AutoReconnectHook = func(error) bool { return !sess.isClosed() }
	sess.cli.AddEventHandler(sess.handleEvent)
	return sess, nil
}

// JID returns the device's JID.
func (s *Session) JID() types.JID { return s.jid }

// Connected reports whether the session is connected and authenticated.
func (s *Session) Connected() bool {
	return s.cli.IsConnected() && s.cli.IsLoggedIn()
}

// Connect connects and waits until WhatsApp has authenticated the device, or
// ctx ends. It returns ErrLoggedOut when the device has no credentials or
// WhatsApp says it was unlinked, ErrStreamReplaced, ErrTemporaryBan or
// ErrConnectRejected when WhatsApp refuses the connection, and ctx's error
// when ctx ends first. Calling Connect on a connected session returns nil.
//
// Once connected, the connection outlives ctx; whatsmeow reconnects by itself
// after a drop, except after StreamReplaced, a ban, or a logout.
func (s *Session) Connect(ctx context.Context) error {
	s.connectLock.Lock()
	defer s.connectLock.Unlock()

	if s.cli.Store.GetJID().IsEmpty() {
		return ErrLoggedOut
	}
	if s.Connected() {
		return nil
	}

	if s.isClosed() {
		return ErrSessionClosed
	}
	// A connection that is not authenticated is dead or still being retried
	// by whatsmeow: close it, stop its reconnect loop, and start afresh.
	s.cli.Disconnect()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrSessionClosed
	}
	if s.cancelConn != nil {
		s.cancelConn()
	}
	connCtx, cancelConn := context.WithCancel(s.life)
	s.cancelConn = cancelConn
	wait := make(chan error, 1)
	s.waiters = append(s.waiters, wait)
	s.mu.Unlock()

	// While dialling, ending ctx cancels the dial, which may hang.
	stopAfter := context.AfterFunc(ctx, cancelConn)
	cerr := s.cli.ConnectContext(connCtx)
	dialCut := !stopAfter()

	var err error
	switch {
	case dialCut:
		err = fmt.Errorf("whatsapp: connect: %w", ctx.Err())
	case cerr != nil && !errors.Is(cerr, whatsmeow.ErrAlreadyConnected):
		err = fmt.Errorf("whatsapp: connect: %w", cerr)
	default:
		select {
		case err = <-wait:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err == nil && ctx.Err() != nil { // ctx ended just as we connected; honour ctx
			err = ctx.Err()
		}
	}
	s.dropWaiter(wait)
	if err == nil {
		return nil
	}
	// Close the socket before ending its context: whatsmeow's read pump reads
	// its closed flag without a lock when the context ends first, a data race
	// (whatsmeow v0.0.0-20251217, socket.FrameSocket).
	s.cli.Disconnect()
	cancelConn()
	return err
}

// dropWaiter forgets a Connect call's channel.
func (s *Session) dropWaiter(wait chan error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range s.waiters {
		if w == wait {
			s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
			return
		}
	}
}

// settle tells pending Connect calls how the attempt ended.
func (s *Session) settle(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.waiters {
		select {
		case w <- err:
		default: // already settled; the first outcome wins
		}
	}
}

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// handleEvent is the whatsmeow event handler.
func (s *Session) handleEvent(raw any) {
	ev, out := translate(raw)
	if out.settles {
		s.settle(out.err)
	}
	if ev == nil || s.onEvent == nil || s.isClosed() {
		return
	}
	s.onEvent(ev)
}

// Send sends msg to to under the WhatsApp message ID id, chosen by the caller
// so that every attempt at one message uses the same ID, and returns the
// timestamp WhatsApp gave the message.
//
// Before sending to a phone-number JID it asks WhatsApp whether the number
// has an account (answers are cached per session, see onWhatsAppTTL), because
// whatsmeow would otherwise report success for a message that reaches nobody.
//
// Errors: ErrNotConnected when there is no authenticated connection,
// ErrLoggedOut when the device lost its credentials, ErrNotOnWhatsApp when the
// recipient has no WhatsApp account, *ServerError when WhatsApp acked the
// message with an error code (or rate-limited the recipient check: 429), and
// whatsmeow's own errors (such as whatsmeow.ErrMessageTimedOut) wrapped
// otherwise.
func (s *Session) Send(ctx context.Context, id string, to types.JID, msg *waE2E.Message) (time.Time, error) {
	if !s.Connected() {
		if s.cli.Store.GetJID().IsEmpty() {
			return time.Time{}, ErrLoggedOut
		}
		return time.Time{}, ErrNotConnected
	}
	if err := s.checkRecipient(ctx, to); err != nil {
		return time.Time{}, err
	}
	resp, err := s.cli.SendMessage(ctx, to, msg, whatsmeow.SendRequestExtra{ID: id})
	if err != nil {
		return time.Time{}, sendError(err)
	}
	return resp.Timestamp, nil
}

// Close disconnects and stops reporting events. It is idempotent, and a closed
// session cannot connect again.
func (s *Session) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()

	s.settle(ErrSessionClosed)
	s.cli.Disconnect()
	s.stop()
}

// Logout unlinks the device on WhatsApp, deletes it from the store and closes
// the session. It connects first if needed; a device WhatsApp already
// considers logged out counts as success.
func (s *Session) Logout(ctx context.Context) error {
	if err := s.Connect(ctx); err != nil {
		if errors.Is(err, ErrLoggedOut) {
			// Either the device has no credentials left, or WhatsApp just
			// said it was unlinked and whatsmeow deletes it from the store.
			s.Close()
			return nil
		}
		return fmt.Errorf("whatsapp: logout: %w", err)
	}
	if err := s.cli.Logout(ctx); err != nil {
		return fmt.Errorf("whatsapp: logout: %w", err)
	}
	s.Close()
	return nil
}
