package whatsapp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/mdp/qrterminal/v3"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// postPairWait bounds how long a login waits, after the phone confirmed the
// pairing, for the first authenticated connection. That connection uploads the
// device's prekeys; if it does not come, the next Connect does the same.
const postPairWait = 30 * time.Second

// Pairing by code has to name a browser and OS WhatsApp knows, in the form
// "Browser (OS)"; the phone shows it in the confirmation prompt.
const (
	pairClientType    = whatsmeow.PairClientChrome
	pairClientDisplay = "Chrome (Linux)"
)

// QRCodePrefix starts the line on which Login writes each QR code as plain
// text, after drawing it.
const QRCodePrefix = "QR code: "

// LoginUpdate is one step of pairing a new device. Exactly one of QR,
// PairCode or Done is set.
type LoginUpdate struct {
	QR       string    // a QR code to show now, replacing the previous one
	PairCode string    // the code to enter on the phone, when pairing by phone number
	JID      types.JID // the new device's JID, with Done when pairing succeeded
	Done     bool      // the last update; the channel is closed after it
	Err      error     // why pairing failed, with Done
}

// Login pairs a new device and returns its JID. With an empty pairPhone it
// writes each QR code WhatsApp issues to w as terminal art, then as text on a
// line starting with QRCodePrefix; otherwise it asks WhatsApp for a pairing
// code for that phone number (international, digits) and writes the code. It fails with ErrLoginTimeout when the codes expire and
// with ctx's error when ctx ends.
func (s *Store) Login(ctx context.Context, w io.Writer, pairPhone string, opts Options) (types.JID, error) {
	updates, err := s.LoginFlow(ctx, pairPhone, opts)
	if err != nil {
		return types.EmptyJID, err
	}
	for u := range updates {
		switch {
		case u.Done && u.Err != nil:
			return types.EmptyJID, u.Err
		case u.Done:
			return u.JID, nil
		case u.QR != "":
			fmt.Fprintln(w, "Scan this QR code in WhatsApp > Linked devices > Link a device:")
			qrterminal.GenerateHalfBlock(u.QR, qrterminal.L, w)
			// The code as text too, for scripts and for terminals that
			// garble the block characters (render it with any QR tool).
			fmt.Fprintf(w, "%s%s\n", QRCodePrefix, u.QR)
		case u.PairCode != "":
			fmt.Fprintf(w, "In WhatsApp > Linked devices > Link a device > Link with phone number instead, enter: %s\n", u.PairCode)
		}
	}
	if err := ctx.Err(); err != nil {
		return types.EmptyJID, err
	}
	return types.EmptyJID, ErrLoginTimeout
}

// LoginFlow starts pairing a new device and reports its progress on the
// returned channel: QR codes as WhatsApp rotates them (or a single pairing
// code when pairPhone is set), then a final update with Done set. The channel
// is closed after the final update, or when ctx ends; the caller must read
// it until then or cancel ctx.
//
// It returns an error, and no channel, if it cannot reach WhatsApp.
func (s *Store) LoginFlow(ctx context.Context, pairPhone string, opts Options) (<-chan LoginUpdate, error) {
	if opts.Log == nil {
		opts.Log = s.log
	}
	cli := newClient(s.container.NewDevice(), opts)

	paired := make(chan types.JID, 1)
	connected := make(chan struct{}, 1)
	cli.AddEventHandler(func(raw any) {
		switch e := raw.(type) {
		case *events.PairSuccess:
			select {
			case paired <- e.ID:
			default:
			}
		case *events.Connected:
			select {
			case connected <- struct{}{}:
			default:
			}
		}
		if ev, _ := translate(raw); ev != nil && opts.OnEvent != nil {
			opts.OnEvent(ev)
		}
	})

	flowCtx, cancel := context.WithCancel(ctx)
	qrCh, err := cli.GetQRChannel(flowCtx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("whatsapp: login: %w", err)
	}
	if err := cli.ConnectContext(flowCtx); err != nil {
		cancel()
		return nil, fmt.Errorf("whatsapp: login: connect: %w", err)
	}

	out := make(chan LoginUpdate, 1)
	l := &login{
		cli:       cli,
		log:       orDiscard(opts.Log),
		pairPhone: pairPhone,
		qr:        qrCh,
		paired:    paired,
		connected: connected,
		out:       out,
	}
	go func() {
		defer close(out)
		defer cancel()
		defer cli.Disconnect()
		l.run(flowCtx)
	}()
	return out, nil
}

// login is one running LoginFlow.
type login struct {
	cli       *whatsmeow.Client
	log       *slog.Logger
	pairPhone string
	qr        <-chan whatsmeow.QRChannelItem
	paired    <-chan types.JID
	connected <-chan struct{}
	out       chan<- LoginUpdate
}

func (l *login) run(ctx context.Context) {
	codeRequested := false
	for {
		var item whatsmeow.QRChannelItem
		var ok bool
		select {
		case <-ctx.Done():
			l.finish(ctx, LoginUpdate{Err: ctx.Err()})
			return
		case item, ok = <-l.qr:
		}
		if !ok { // whatsmeow closes the channel without a result when ctx ends
			err := ctx.Err()
			if err == nil {
				err = ErrLoginTimeout
			}
			l.finish(ctx, LoginUpdate{Err: err})
			return
		}

		switch item.Event {
		case whatsmeow.QRChannelEventCode:
			if l.pairPhone == "" {
				if !l.send(ctx, LoginUpdate{QR: item.Code}) {
					return
				}
				continue
			}
			// The first QR code means the connection is ready for a
			// pairing-code request; later codes are ignored.
			if codeRequested {
				continue
			}
			codeRequested = true
			code, err := l.cli.PairPhone(ctx, l.pairPhone, true, pairClientType, pairClientDisplay)
			if err != nil {
				l.finish(ctx, LoginUpdate{Err: fmt.Errorf("whatsapp: request pairing code: %w", err)})
				return
			}
			if !l.send(ctx, LoginUpdate{PairCode: code}) {
				return
			}
		case whatsmeow.QRChannelSuccess.Event:
			l.finish(ctx, LoginUpdate{JID: l.awaitConnected(ctx)})
			return
		case whatsmeow.QRChannelTimeout.Event:
			l.finish(ctx, LoginUpdate{Err: ErrLoginTimeout})
			return
		case whatsmeow.QRChannelEventError:
			l.finish(ctx, LoginUpdate{Err: fmt.Errorf("whatsapp: pairing failed: %w", item.Error)})
			return
		case whatsmeow.QRChannelClientOutdated.Event:
			l.finish(ctx, LoginUpdate{Err: fmt.Errorf("%w: client outdated", ErrConnectRejected)})
			return
		case whatsmeow.QRChannelScannedWithoutMultidevice.Event:
			// Not final: the same code works once the phone enables it.
			l.log.Warn("whatsapp: QR code scanned by a phone without multi-device support")
		default:
			l.finish(ctx, LoginUpdate{Err: fmt.Errorf("whatsapp: login: unexpected %q", item.Event)})
			return
		}
	}
}

// awaitConnected returns the paired JID once the first authenticated
// connection is up, or after postPairWait or ctx end: the pairing itself is
// already saved, so it is reported as a success either way.
func (l *login) awaitConnected(ctx context.Context) types.JID {
	var jid types.JID
	select {
	case jid = <-l.paired:
	default:
		jid = l.cli.Store.GetJID() // saved before whatsmeow reports success
	}
	timer := time.NewTimer(postPairWait)
	defer timer.Stop()
	select {
	case <-l.connected:
	case <-timer.C:
		l.log.Warn("whatsapp: paired, but the first connection did not come up", "device", jid.String())
	case <-ctx.Done():
	}
	return jid
}

// send delivers a non-final update; it reports false when ctx ended first.
func (l *login) send(ctx context.Context, u LoginUpdate) bool {
	select {
	case l.out <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

// finish delivers the final update. The buffered channel takes it at once
// when the reader has kept up, even if ctx has just ended.
func (l *login) finish(ctx context.Context, u LoginUpdate) {
	u.Done = true
	select {
	case l.out <- u:
		return
	default:
	}
	select {
	case l.out <- u:
	case <-ctx.Done():
	}
}
