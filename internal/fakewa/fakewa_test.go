package fakewa_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wacard/wacard/internal/fakewa"
)

const (
	senderPhone = "15550001111"
	bobPhone    = "15550002222"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// connect connects cli and waits until whatsmeow reports it logged in and
// done with its post-login requests.
func connect(t *testing.T, cli *whatsmeow.Client) {
	t.Helper()
	if err := cli.Connect(); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if !cli.WaitForConnection(10 * time.Second) {
		t.Fatalf("client did not log in")
	}
}

func contactCard(name string) *waE2E.Message {
	return &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
		DisplayName: proto.String(name),
		Vcard:       proto.String("BEGIN:VCARD\nVERSION:3.0\nFN:" + name + "\nTEL;type=CELL:+15550003333\nEND:VCARD"),
	}}
}

func noErrors(t *testing.T, srv *fakewa.Server) {
	t.Helper()
	for _, err := range srv.Errors() {
		t.Errorf("fake server error: %v", err)
	}
}

func TestSendContactMessage(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := fakewa.New(t)
	cli := srv.NewClient(t, senderPhone)
	bob := srv.AddRecipient(bobPhone)
	connect(t, cli)

	msg := contactCard("Alice Example")
	const id = types.MessageID("3EB0FAKEWA000001")
	resp, err := cli.SendMessage(ctx, bob.JID(), msg, whatsmeow.SendRequestExtra{ID: id})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if resp.ID != id {
		t.Errorf("resp.ID = %q, want %q", resp.ID, id)
	}
	got, err := srv.WaitReceived(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("received %d messages, want 1", len(got))
	}
	r := got[0]
	if r.ID != id || r.To != bob.JID() || r.EncType != "pkmsg" || r.Type != "media" {
		t.Errorf("received %+v", r)
	}
	if !proto.Equal(r.Message, msg) {
		t.Errorf("decrypted message = %v, want %v", r.Message, msg)
	}

	// Until bob answers, Signal keeps sending prekey messages on the same
	// session; the fake must decrypt the second one all the same.
	_, err = cli.SendMessage(ctx, bob.JID(), contactCard("Second"), whatsmeow.SendRequestExtra{ID: "3EB0FAKEWA000002"})
	if err != nil {
		t.Fatalf("second SendMessage: %v", err)
	}
	got, err = srv.WaitReceived(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got[1].ID != "3EB0FAKEWA000002" || got[1].Message.GetContactMessage().GetDisplayName() != "Second" {
		t.Errorf("second received %+v", got[1])
	}
	noErrors(t, srv)
}

func TestErrorAck(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := fakewa.New(t)
	cli := srv.NewClient(t, senderPhone)
	bob := srv.AddRecipient(bobPhone)
	connect(t, cli)

	for _, code := range []int{463, 429, 500} {
		srv.FailMessages(1, code)
		id := types.MessageID(fmt.Sprintf("3EB0ERR%d", code))
		_, err := cli.SendMessage(ctx, bob.JID(), contactCard("x"), whatsmeow.SendRequestExtra{ID: id})
		if !errors.Is(err, whatsmeow.ErrServerReturnedError) || !strings.Contains(err.Error(), strconv.Itoa(code)) {
			t.Errorf("code %d: SendMessage error = %v", code, err)
		}
		if n := srv.Attempts(id); n != 1 {
			t.Errorf("code %d: attempts = %d, want 1", code, n)
		}
	}
	if got := srv.Received(); len(got) != 0 {
		t.Errorf("rejected messages were delivered: %+v", got)
	}
	// The fault is used up: the next message goes through, and its Signal
	// session survives the rejected ones.
	if _, err := cli.SendMessage(ctx, bob.JID(), contactCard("ok"), whatsmeow.SendRequestExtra{ID: "3EB0OK"}); err != nil {
		t.Fatalf("SendMessage after faults: %v", err)
	}
	if _, err := srv.WaitReceived(ctx, 1); err != nil {
		t.Fatal(err)
	}
	noErrors(t, srv)
}

func TestDropBeforeAckResendDeliversOnce(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := fakewa.New(t)
	cli := srv.NewClient(t, senderPhone)
	bob := srv.AddRecipient(bobPhone)
	connect(t, cli)

	disconnected := make(chan struct{}, 1)
	cli.AddEventHandler(func(evt any) {
		if _, ok := evt.(*events.Disconnected); ok {
			select {
			case disconnected <- struct{}{}:
			default:
			}
		}
	})

	// whatsmeow notices the drop, reconnects and resends the same frame.
	srv.DropBeforeAck(1)
	const id = types.MessageID("3EB0DROP1")
	if _, err := cli.SendMessage(ctx, bob.JID(), contactCard("drop"), whatsmeow.SendRequestExtra{ID: id}); err != nil {
		t.Fatalf("SendMessage across a dropped connection: %v", err)
	}
	select {
	case <-disconnected:
	case <-ctx.Done():
		t.Fatal("no Disconnected event")
	}
	if n := srv.Attempts(id); n != 2 {
		t.Errorf("attempts = %d, want 2 (original and resend)", n)
	}

	// The caller retries with the same ID, as a job queue would after an
	// error: a fresh encryption, still delivered only once.
	if _, err := cli.SendMessage(ctx, bob.JID(), contactCard("drop"), whatsmeow.SendRequestExtra{ID: id}); err != nil {
		t.Fatalf("second SendMessage: %v", err)
	}
	if n := srv.Attempts(id); n != 3 {
		t.Errorf("attempts = %d, want 3", n)
	}
	got := srv.Received()
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("received %+v, want exactly one %s", got, id)
	}
	noErrors(t, srv)
}

func TestReceipts(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := fakewa.New(t)
	cli := srv.NewClient(t, senderPhone)
	bob := srv.AddRecipient(bobPhone)

	receipts := make(chan *events.Receipt, 4)
	cli.AddEventHandler(func(evt any) {
		if r, ok := evt.(*events.Receipt); ok {
			receipts <- r
		}
	})
	connect(t, cli)

	const id = types.MessageID("3EB0RECEIPT")
	if _, err := cli.SendMessage(ctx, bob.JID(), contactCard("r"), whatsmeow.SendRequestExtra{ID: id}); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []types.ReceiptType{types.ReceiptTypeDelivered, types.ReceiptTypeRead} {
		if err := bob.SendReceipt(ctx, id, typ); err != nil {
			t.Fatalf("SendReceipt(%q): %v", typ, err)
		}
		select {
		case r := <-receipts:
			if r.Type != typ || len(r.MessageIDs) != 1 || r.MessageIDs[0] != id || r.Chat != bob.JID() || r.IsFromMe {
				t.Errorf("receipt = %+v, want %q for %s from %s", r, typ, id, bob.JID())
			}
		case <-ctx.Done():
			t.Fatalf("no %q receipt event", typ)
		}
	}
	noErrors(t, srv)
}
