package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"

	"github.com/wacard/wacard/internal/fakewa"
)

func TestRecipientCache(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var c recipientCache
	if _, ok := c.get("111", t0); ok {
		t.Fatal("empty cache answered")
	}
	c.put("111", true, t0)
	c.put("222", false, t0)

	tests := []struct {
		name   string
		user   string
		at     time.Time
		on, ok bool
	}{
		{"yes, fresh", "111", t0.Add(time.Hour), true, true},
		{"yes, just before a day", "111", t0.Add(onWhatsAppTTL - time.Second), true, true},
		{"yes, expired", "111", t0.Add(onWhatsAppTTL), false, false},
		{"no, fresh", "222", t0.Add(time.Second), false, true},
		{"no, expired", "222", t0.Add(notOnWhatsAppTTL), false, false},
		{"unknown", "333", t0, false, false},
	}
	for _, tt := range tests {
		on, ok := c.get(tt.user, tt.at)
		if on != tt.on || ok != tt.ok {
			t.Errorf("%s: get(%s) = %v, %v; want %v, %v", tt.name, tt.user, on, ok, tt.on, tt.ok)
		}
	}
}

func TestRecipientCacheBounded(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var c recipientCache
	for i := range maxKnownRecipients {
		c.put(fmt.Sprint(i), i%2 == 0, t0) // odd ones are "no": they expire first
	}
	later := t0.Add(2 * notOnWhatsAppTTL)
	c.put("new", true, later)
	if n := len(c.known); n != maxKnownRecipients/2+1 {
		t.Errorf("after a put at the bound: %d entries, want the %d live ones and the new one", n, maxKnownRecipients/2)
	}
	if on, ok := c.get("0", later); !on || !ok {
		t.Error("a live answer was dropped")
	}
}

// TestSessionSendChecksRecipient runs Send against the fake WhatsApp server:
// a number without an account fails before anything is sent, and answers are
// cached so repeated sends do not ask again.
func TestSessionSendChecksRecipient(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := fakewa.New(t)
	s := openTestStore(t, t.TempDir(), "")
	dev, err := srv.NewDevice(ctx, s.Container(), "15550001111")
	if err != nil {
		t.Fatal(err)
	}
	bob := srv.AddRecipient("15550002222")
	carol := srv.AddRecipient("15550003333")
	carol.SetOnWhatsApp(false)

	sess, err := s.Session(ctx, *dev.ID, Options{ClientHook: srv.Install})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	msg := &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
		DisplayName: proto.String("Ann"),
		Vcard:       proto.String("BEGIN:VCARD\nVERSION:3.0\nN:;Ann;;;\nFN:Ann\nEND:VCARD"),
	}}

	for i, want := range []string{"asks", "cached"} {
		id := fmt.Sprintf("3EB0CAROL%d", i)
		before := srv.IQCount("usync")
		if _, err := sess.Send(ctx, id, carol.JID(), msg); !errors.Is(err, ErrNotOnWhatsApp) {
			t.Fatalf("Send to a number without WhatsApp (%s) = %v, want ErrNotOnWhatsApp", want, err)
		}
		if n := srv.Attempts(id); n != 0 {
			t.Errorf("%s: the fake got the message %d times; want it never sent", want, n)
		}
		asked := srv.IQCount("usync") - before
		if (want == "asks") != (asked == 1) {
			t.Errorf("%s: %d usync queries", want, asked)
		}
	}

	if _, err := sess.Send(ctx, "3EB0BOB1", bob.JID(), msg); err != nil {
		t.Fatalf("Send to bob: %v", err)
	}
	before := srv.IQCount("usync")
	if _, err := sess.Send(ctx, "3EB0BOB2", bob.JID(), msg); err != nil {
		t.Fatalf("second Send to bob: %v", err)
	}
	if n := srv.IQCount("usync") - before; n != 0 {
		t.Errorf("second send to bob made %d usync queries; want the cached answer", n)
	}
	// A day later the answer is asked for again.
	sess.now = func() time.Time { return time.Now().Add(onWhatsAppTTL) }
	before = srv.IQCount("usync")
	if _, err := sess.Send(ctx, "3EB0BOB3", bob.JID(), msg); err != nil {
		t.Fatalf("third Send to bob: %v", err)
	}
	if n := srv.IQCount("usync") - before; n != 1 {
		t.Errorf("send after the cache expired made %d usync queries, want 1", n)
	}
	if got, err := srv.WaitReceived(ctx, 3); err != nil || got[0].To != bob.JID() {
		t.Errorf("received %+v, %v; want bob's three messages", got, err)
	}
	for _, err := range srv.Errors() {
		t.Errorf("fake server error: %v", err)
	}
}

// TestCheckError maps failed recipient lookups.
func TestCheckError(t *testing.T) {
	t.Parallel()
	var se *ServerError
	if err := checkError(fmt.Errorf("usync: %w", whatsmeow.ErrIQRateOverLimit)); !errors.As(err, &se) || se.Code != 429 {
		t.Errorf("rate limit = %v, want ServerError 429", err)
	}
	if err := checkError(whatsmeow.ErrIQDisconnected); !errors.Is(err, ErrNotConnected) {
		t.Errorf("disconnected = %v, want ErrNotConnected", err)
	}
	other := errors.New("boom")
	if err := checkError(other); !errors.Is(err, other) || errors.Is(err, ErrNotConnected) {
		t.Errorf("other = %v", err)
	}
}
