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
	// Generous: a loaded 2-CPU runner under -race needs seconds for a first
	// login (812 prekeys); passing tests never wait it out.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
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
	if !cli.WaitForConnection(30 * time.Second) {
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
	if err := srv.WaitConnections(ctx, cli.Store.GetJID(), 1); err != nil {
		t.Fatal(err)
	}
	if n := srv.Logins(cli.Store.GetJID()); n != 1 {
		t.Errorf("Logins = %d, want 1", n)
	}

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
	// After login whatsmeow counted and uploaded prekeys and went active;
	// sending fetched device lists and prekey bundles.
	if n := srv.IQCount("passive"); n != 1 {
		t.Errorf("passive iqs = %d, want 1", n)
	}
	if n := srv.IQCount("encrypt"); n < 4 {
		t.Errorf("encrypt iqs = %d, want count, upload, count and key fetch", n)
	}
	if n := srv.IQCount("usync"); n < 1 {
		t.Errorf("usync iqs = %d, want at least 1", n)
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
	if raceEnabled {
		// whatsmeow's autoReconnect and retryFrame both call
		// exsync.Event.GetChan, which writes a field under a read lock
		// (go.mau.fi/util v0.9.4). TestDropBeforeAckManualReconnect covers
		// the same delivery guarantee without auto-reconnect.
		t.Skip("known data race in go.mau.fi/util exsync.Event during whatsmeow auto-reconnect")
	}
	t.Parallel()
	ctx := testContext(t)
	srv := fakewa.New(t)
	cli := srv.NewClient(t, senderPhone)
	bob := srv.AddRecipient(bobPhone)
	connect(t, cli)

	disconnected := eventChan[*events.Disconnected](cli)

	// whatsmeow notices the drop, reconnects and resends the same frame.
	srv.DropBeforeAck(1)
	const id = types.MessageID("3EB0DROP1")
	if _, err := cli.SendMessage(ctx, bob.JID(), contactCard("drop"), whatsmeow.SendRequestExtra{ID: id}); err != nil {
		t.Fatalf("SendMessage across a dropped connection: %v", err)
	}
	waitEvent(ctx, t, disconnected)
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

func TestDropBeforeAckManualReconnect(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := fakewa.New(t)
	cli := srv.NewClient(t, senderPhone)
	cli.EnableAutoReconnect = false
	bob := srv.AddRecipient(bobPhone)
	connect(t, cli)

	disconnected := eventChan[*events.Disconnected](cli)
	srv.DropBeforeAck(1)
	const id = types.MessageID("3EB0DROP2")
	sendErr := make(chan error, 1)
	go func() {
		_, err := cli.SendMessage(ctx, bob.JID(), contactCard("drop"), whatsmeow.SendRequestExtra{ID: id})
		sendErr <- err
	}()
	// The fake delivers, then drops the connection; whatsmeow waits for a
	// reconnect to resend the frame, which the caller provides here.
	if _, err := srv.WaitReceived(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, disconnected)
	connect(t, cli)
	select {
	case err := <-sendErr:
		if err != nil {
			t.Fatalf("SendMessage across a manual reconnect: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("SendMessage did not return")
	}
	if n := srv.Attempts(id); n != 2 {
		t.Errorf("attempts = %d, want 2", n)
	}
	if got := srv.Received(); len(got) != 1 {
		t.Errorf("received %d messages, want 1: %+v", len(got), got)
	}
	noErrors(t, srv)
}

func TestSlowAckTimesOut(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := fakewa.New(t)
	cli := srv.NewClient(t, senderPhone)
	bob := srv.AddRecipient(bobPhone)
	connect(t, cli)

	srv.SetAckDelay(2 * time.Second)
	_, err := cli.SendMessage(ctx, bob.JID(), contactCard("slow"), whatsmeow.SendRequestExtra{
		ID:      "3EB0SLOW",
		Timeout: 100 * time.Millisecond,
	})
	if !errors.Is(err, whatsmeow.ErrMessageTimedOut) {
		t.Errorf("SendMessage error = %v, want ErrMessageTimedOut", err)
	}
	// The server did take the message: a timeout is not a rejection.
	if _, err := srv.WaitReceived(ctx, 1); err != nil {
		t.Fatal(err)
	}
	noErrors(t, srv)
}

func TestNotOnWhatsApp(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := fakewa.New(t)
	cli := srv.NewClient(t, senderPhone)
	srv.AddRecipient(bobPhone)
	carol := srv.AddRecipient("15550004444")
	carol.SetOnWhatsApp(false)
	connect(t, cli)

	resp, err := cli.IsOnWhatsApp(ctx, []string{"+" + bobPhone, "+15550004444", "+15550009999"})
	if err != nil {
		t.Fatalf("IsOnWhatsApp: %v", err)
	}
	want := map[string]bool{"+" + bobPhone: true, "+15550004444": false, "+15550009999": false}
	if len(resp) != len(want) {
		t.Fatalf("IsOnWhatsApp returned %d entries: %+v", len(resp), resp)
	}
	for _, r := range resp {
		if in, ok := want[r.Query]; !ok || r.IsIn != in {
			t.Errorf("IsOnWhatsApp(%s) = %v, want %v", r.Query, r.IsIn, in)
		}
	}

	devices, err := cli.GetUserDevices(ctx, []types.JID{carol.JID()})
	if err != nil || len(devices) != 0 {
		t.Errorf("GetUserDevices(not on WhatsApp) = %v, %v; want none", devices, err)
	}
	// whatsmeow still sends (to the sender's own phone only); nobody on the
	// recipient side receives it.
	if _, err := cli.SendMessage(ctx, carol.JID(), contactCard("void"), whatsmeow.SendRequestExtra{ID: "3EB0VOID"}); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if got := srv.Received(); len(got) != 0 {
		t.Errorf("received %+v, want nothing", got)
	}
	noErrors(t, srv)
}

// eventChan delivers the client's events of type T.
func eventChan[T any](cli *whatsmeow.Client) <-chan T {
	ch := make(chan T, 8)
	cli.AddEventHandler(func(evt any) {
		if e, ok := evt.(T); ok {
			select {
			case ch <- e:
			default:
			}
		}
	})
	return ch
}

// waitEvent returns the next event from ch, or fails the test when ctx ends.
func waitEvent[T any](ctx context.Context, t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-ctx.Done():
		var zero T
		t.Fatalf("no %T event", zero)
		return zero
	}
}

func TestStreamReplaced(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := fakewa.New(t)
	cli := srv.NewClient(t, senderPhone)
	replaced := eventChan[*events.StreamReplaced](cli)
	connect(t, cli)

	srv.ReplaceStream(types.EmptyJID)
	waitEvent(ctx, t, replaced)
	if cli.IsLoggedIn() {
		t.Error("client still logged in after its stream was replaced")
	}
	// Return before the fake closes the socket: whatsmeow v0.0.0-20251217
	// races (FrameSocket.closed) when Disconnect meets a server-side close.
}

func TestDeviceRemoved(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := fakewa.New(t)
	cli := srv.NewClient(t, senderPhone)
	loggedOut := eventChan[*events.LoggedOut](cli)
	connect(t, cli)
	jid := cli.Store.GetJID()

	srv.RemoveDevice(jid)
	evt := waitEvent(ctx, t, loggedOut)
	if evt.OnConnect {
		t.Errorf("LoggedOut.OnConnect = true, want false for a live stream")
	}
}

func TestLoginFailure(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := fakewa.New(t)
	cli := srv.NewClient(t, senderPhone)
	loggedOut := eventChan[*events.LoggedOut](cli)

	srv.SetLoginFailure(401)
	if err := cli.Connect(); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	evt := waitEvent(ctx, t, loggedOut)
	if !evt.OnConnect || evt.Reason != events.ConnectFailureLoggedOut {
		t.Errorf("LoggedOut = %+v, want OnConnect with reason 401", evt)
	}
}

func TestPairByQR(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := fakewa.New(t)
	bob := srv.AddRecipient(bobPhone)

	cli := whatsmeow.NewClient(fakewa.NewStore(t).NewDevice(), nil)
	srv.Install(cli)
	t.Cleanup(cli.Disconnect)
	qr, err := cli.GetQRChannel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	connected := eventChan[*events.Connected](cli)
	if err := cli.Connect(); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	item := waitEvent(ctx, t, qr)
	if item.Event != whatsmeow.QRChannelEventCode {
		t.Fatalf("first QR channel item = %+v", item)
	}
	jid, err := srv.ScanQR(item.Code, senderPhone)
	if err != nil {
		t.Fatalf("ScanQR: %v", err)
	}
	if item := waitEvent(ctx, t, qr); item.Event != whatsmeow.QRChannelSuccess.Event {
		t.Fatalf("QR channel result = %+v, want success", item)
	}
	waitEvent(ctx, t, connected)
	if got := cli.Store.GetJID(); got != jid {
		t.Errorf("paired as %s, want %s", got, jid)
	}

	if _, err := cli.SendMessage(ctx, bob.JID(), contactCard("paired"), whatsmeow.SendRequestExtra{ID: "3EB0PAIRED"}); err != nil {
		t.Fatalf("SendMessage after pairing: %v", err)
	}
	got, err := srv.WaitReceived(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].From != jid {
		t.Errorf("message from %s, want %s", got[0].From, jid)
	}
	noErrors(t, srv)
}

func TestRecipientWithTwoDevices(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv := fakewa.New(t)
	cli := srv.NewClient(t, senderPhone)
	bob := srv.AddRecipient(bobPhone)
	laptop := bob.AddDevice()
	connect(t, cli)

	msg := contactCard("Both")
	if _, err := cli.SendMessage(ctx, bob.JID(), msg, whatsmeow.SendRequestExtra{ID: "3EB0TWO"}); err != nil {
		t.Fatal(err)
	}
	got, err := srv.WaitReceived(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	devices := map[types.JID]bool{}
	for _, r := range got {
		devices[r.Device] = true
		if r.To != bob.JID() || !proto.Equal(r.Message, msg) {
			t.Errorf("received %+v", r)
		}
	}
	if !devices[bob.JID()] || !devices[laptop] {
		t.Errorf("delivered to %v, want %s and %s", devices, bob.JID(), laptop)
	}
	noErrors(t, srv)
}
