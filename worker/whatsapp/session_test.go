package whatsapp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// refusingServer stands in for WhatsApp's websocket endpoint and refuses every
// upgrade, counting the attempts. httpClient routes every dial to it.
type refusingServer struct {
	srv  *httptest.Server
	hits atomic.Int32
}

func newRefusingServer(t *testing.T) *refusingServer {
	t.Helper()
	rs := &refusingServer{}
	rs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.hits.Add(1)
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	t.Cleanup(rs.srv.Close)
	return rs
}

func (rs *refusingServer) httpClient() *http.Client {
	addr := rs.srv.Listener.Addr().String()
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	// DialTLSContext returning a plain connection makes the transport speak
	// plain HTTP to the test server for wss:// URLs.
	return &http.Client{Transport: &http.Transport{
		DialContext:       dial,
		DialTLSContext:    dial,
		DisableKeepAlives: true,
	}}
}

func (rs *refusingServer) hook(cli *whatsmeow.Client) {
	cli.SetWebsocketHTTPClient(rs.httpClient())
	cli.SetPreLoginHTTPClient(rs.httpClient())
}

func TestSessionUnknownDevice(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *Store) {
		jid := types.NewADJID("15550009999", 0, 1)
		sess, err := s.Session(context.Background(), jid, Options{})
		if !errors.Is(err, ErrUnknownDevice) {
			t.Fatalf("Session(%v) = %v, %v; want ErrUnknownDevice", jid, sess, err)
		}
	})
}

func TestSessionStoredDevice(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		jid := types.NewADJID("15550001234", 0, 5)
		putTestDevice(t, s, jid)

		devices, err := s.Devices(ctx)
		if err != nil {
			t.Fatalf("Devices: %v", err)
		}
		if len(devices) != 1 || devices[0] != jid {
			t.Fatalf("Devices = %v, want [%v]", devices, jid)
		}

		rs := newRefusingServer(t)
		var (
			mu  sync.Mutex
			got []Event
		)
		sess, err := s.Session(ctx, jid, Options{
			OnEvent: func(ev Event) {
				mu.Lock()
				got = append(got, ev)
				mu.Unlock()
			},
			ClientHook: rs.hook,
		})
		if err != nil {
			t.Fatalf("Session: %v", err)
		}
		defer sess.Close()

		if sess.JID() != jid {
			t.Errorf("JID = %v, want %v", sess.JID(), jid)
		}
		if sess.Connected() {
			t.Error("Connected before Connect")
		}

		to := types.NewJID("15550005678", types.DefaultUserServer)
		_, err = sess.Send(ctx, "3EB0TEST", to, &waE2E.Message{Conversation: proto.String("hi")})
		if !errors.Is(err, ErrNotConnected) || !errors.Is(err, whatsmeow.ErrNotConnected) {
			t.Errorf("Send while disconnected = %v, want ErrNotConnected", err)
		}

		// Connect goes through the hooked HTTP client, so it reaches the fake
		// server and fails there instead of dialling WhatsApp.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err = sess.Connect(cctx)
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Connect to refusing server = %v, want a dial error", err)
		}
		if rs.hits.Load() == 0 {
			t.Error("ClientHook not applied: the fake server saw no connection")
		}

		// Events are translated and delivered until the session is closed.
		sess.handleEvent(&events.Receipt{
			MessageSource: types.MessageSource{Chat: to},
			MessageIDs:    []types.MessageID{"3EB0TEST"},
			Type:          types.ReceiptTypeRead,
		})
		sess.Close()
		sess.Close() // idempotent
		sess.handleEvent(&events.Connected{})

		mu.Lock()
		defer mu.Unlock()
		if len(got) != 1 {
			t.Fatalf("events = %#v, want one Receipt", got)
		}
		if r, ok := got[0].(Receipt); !ok || r.Type != ReceiptRead || r.Chat != to.String() {
			t.Errorf("event = %#v, want read Receipt for %v", got[0], to)
		}

		if err := sess.Connect(ctx); !errors.Is(err, ErrSessionClosed) {
			t.Errorf("Connect after Close = %v, want ErrSessionClosed", err)
		}
	})
}

// TestSessionConnectSettles checks that a pending Connect returns the outcome
// the event handler reports.
func TestSessionConnectSettles(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, t.TempDir(), "")
	jid := types.NewADJID("15550004321", 0, 2)
	putTestDevice(t, s, jid)
	sess, err := s.Session(context.Background(), jid, Options{})
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	defer sess.Close()

	wait := make(chan error, 1)
	sess.mu.Lock()
	sess.waiters = append(sess.waiters, wait)
	sess.mu.Unlock()

	sess.handleEvent(&events.Disconnected{}) // not an outcome
	sess.handleEvent(&events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureLoggedOut})
	sess.handleEvent(&events.Connected{}) // too late: the first outcome wins
	if err := <-wait; !errors.Is(err, ErrLoggedOut) {
		t.Errorf("outcome = %v, want ErrLoggedOut", err)
	}
}

func TestLoginFlowUsesClientHook(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, t.TempDir(), "")
	rs := newRefusingServer(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := s.LoginFlow(ctx, "", Options{ClientHook: rs.hook})
	if err == nil {
		t.Fatalf("LoginFlow against a refusing server = %v, nil; want error", ch)
	}
	if rs.hits.Load() == 0 {
		t.Error("ClientHook not applied: the fake server saw no connection")
	}

	jid, err := s.Login(ctx, nil, "", Options{ClientHook: rs.hook})
	if err == nil {
		t.Errorf("Login against a refusing server = %v, nil; want error", jid)
	}
	devices, err := s.Devices(ctx)
	if err != nil || len(devices) != 0 {
		t.Errorf("Devices after failed logins = %v, %v; want none", devices, err)
	}
}

// TestSessionConnectHonoursContext checks that ctx bounds a dial to a server
// that accepts the connection and never answers.
func TestSessionConnectHonoursContext(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, t.TempDir(), "")
	jid := types.NewADJID("15550003333", 0, 6)
	putTestDevice(t, s, jid)

	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hung.Close()
	rs := &refusingServer{srv: hung}

	sess, err := s.Session(context.Background(), jid, Options{ClientHook: rs.hook})
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	defer sess.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := sess.Connect(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Connect to a silent server = %v, want context.DeadlineExceeded", err)
	}
}

// TestSessionWithoutCredentials covers a device whatsmeow has deleted, as it
// does when WhatsApp reports a logout.
func TestSessionWithoutCredentials(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, t.TempDir(), "")
	jid := types.NewADJID("15550004444", 0, 8)
	putTestDevice(t, s, jid)
	ctx := context.Background()

	sess, err := s.Session(ctx, jid, Options{})
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	defer sess.Close()
	if err := sess.cli.Store.Delete(ctx); err != nil {
		t.Fatalf("delete device: %v", err)
	}

	if err := sess.Connect(ctx); !errors.Is(err, ErrLoggedOut) {
		t.Errorf("Connect = %v, want ErrLoggedOut", err)
	}
	to := types.NewJID("15550005678", types.DefaultUserServer)
	if _, err := sess.Send(ctx, "3EB0TEST", to, &waE2E.Message{}); !errors.Is(err, ErrLoggedOut) {
		t.Errorf("Send = %v, want ErrLoggedOut", err)
	}
	if err := sess.Logout(ctx); err != nil {
		t.Errorf("Logout of a logged-out device = %v, want nil", err)
	}
	if devices, err := s.Devices(ctx); err != nil || len(devices) != 0 {
		t.Errorf("Devices = %v, %v; want none", devices, err)
	}
}
