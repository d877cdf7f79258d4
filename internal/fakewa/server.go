package fakewa

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/socket"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

// tlsServerName is a name in the certificate httptest generates; the client
// transport verifies against it instead of the host whatsmeow dials.
const tlsServerName = "example.com"

// Server is a fake WhatsApp chat server on a loopback TLS listener. All
// methods are safe for concurrent use.
type Server struct {
	tb        testing.TB
	ts        *httptest.Server
	static    *keys.KeyPair
	certChain []byte
	wg        sync.WaitGroup

	mu         sync.Mutex
	closed     bool
	conns      map[*conn]struct{}
	users      map[string]*user // by phone number (JID user part)
	received   []Received
	attempts   map[types.MessageID]int
	seen       map[seenKey]bool
	errs       []error
	pairings   map[string]*pairing // by QR ref and by pair-success request ID
	faults     faultState
	changed    chan struct{} // closed and replaced whenever state changes
	iqsByXMLNS map[string]int
	logins     map[types.JID]int // successful logins per device, ever
}

// New starts a Server that lives until tb finishes, and makes whatsmeow trust
// its certificate chain (see UseRootKey).
func New(tb testing.TB) *Server {
	tb.Helper()
	UseRootKey(tb)
	s := &Server{
		tb:         tb,
		static:     keys.NewKeyPair(),
		conns:      make(map[*conn]struct{}),
		users:      make(map[string]*user),
		attempts:   make(map[types.MessageID]int),
		seen:       make(map[seenKey]bool),
		pairings:   make(map[string]*pairing),
		changed:    make(chan struct{}),
		iqsByXMLNS: make(map[string]int),
		logins:     make(map[types.JID]int),
	}
	chain, err := newCertChain(processRootKey(), *s.static.Pub, time.Now())
	if err != nil {
		tb.Fatalf("fakewa: %v", err)
	}
	s.certChain = chain

	mux := http.NewServeMux()
	mux.HandleFunc("/ws/chat", s.handleWebsocket)
	s.ts = httptest.NewUnstartedServer(mux)
	// Dropped connections make the TLS layer log; that is expected noise.
	s.ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.ts.StartTLS()
	tb.Cleanup(s.Close)
	return s
}

// URL is the websocket URL of the fake, for logs and debugging.
func (s *Server) URL() string { return "wss" + s.ts.URL[len("https"):] + "/ws/chat" }

// HTTPClient returns a client that sends every request to the fake's
// listener, whatever the URL's host, and trusts only the fake's certificate.
func (s *Server) HTTPClient() *http.Client {
	tr := s.ts.Client().Transport.(*http.Transport).Clone()
	addr := s.ts.Listener.Addr().String()
	var d net.Dialer
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", addr)
	}
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.ServerName = tlsServerName
	tr.TLSClientConfig.MinVersion = tls.VersionTLS12
	return &http.Client{Transport: tr}
}

// Install points cli's websocket connections (before and after login) at the
// fake. Media uploads and downloads are not redirected.
func (s *Server) Install(cli *whatsmeow.Client) {
	hc := s.HTTPClient()
	cli.SetWebsocketHTTPClient(hc)
	cli.SetPreLoginHTTPClient(hc)
}

// Close drops every connection and stops the listener. New registers it
// with tb.Cleanup; calling it again is harmless.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for c := range s.conns {
		c.kill()
	}
	s.mu.Unlock()
	s.ts.Close()
	s.wg.Wait()
}

func (s *Server) handleWebsocket(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OriginPatterns: []string{"web.whatsapp.com"},
	})
	if err != nil {
		s.logf("websocket accept: %v", err)
		return
	}
	ws.SetReadLimit(socket.FrameMaxSize + 64)
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{srv: s, ws: ws, ctx: ctx, cancel: cancel}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.CloseNow()
		cancel()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.notify()
	}()
	c.serve()
}

// notify wakes every waiter; call it after changing observable state.
func (s *Server) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// waitFor polls cond, under s.mu, each time the state changes until it
// returns true or ctx ends.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// logf logs through the test while it is running.
func (s *Server) logf(format string, args ...any) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if !closed {
		s.tb.Helper()
		s.tb.Logf("fakewa: "+format, args...)
	}
}

// fail records an unexpected protocol problem; Errors reports them.
func (s *Server) fail(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
	s.logf("error: %v", err)
	s.notify()
}

// Errors returns the protocol problems the fake saw: undecryptable
// messages, malformed nodes, failed pairings. A clean test expects none.
func (s *Server) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}
