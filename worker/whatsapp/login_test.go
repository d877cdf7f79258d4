package whatsapp

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
)

// runLogin drives login.run with scripted QR channel items, closing the
// channel after them when closeQR is set as whatsmeow does when ctx ends, and
// returns the updates run produced.
func runLogin(t *testing.T, ctx context.Context, pairPhone string, items []whatsmeow.QRChannelItem, pairedJID types.JID, closeQR bool) []LoginUpdate {
	t.Helper()
	s := openTestStore(t, t.TempDir(), "")
	qr := make(chan whatsmeow.QRChannelItem, len(items))
	for _, it := range items {
		qr <- it
	}
	if closeQR {
		close(qr)
	}
	paired := make(chan types.JID, 1)
	connected := make(chan struct{}, 1)
	if !pairedJID.IsEmpty() {
		paired <- pairedJID
		connected <- struct{}{}
	}
	out := make(chan LoginUpdate, 1)
	l := &login{
		cli:       newClient(s.container.NewDevice(), Options{}),
		log:       orDiscard(nil),
		pairPhone: pairPhone,
		qr:        qr,
		paired:    paired,
		connected: connected,
		out:       out,
	}
	go func() {
		defer close(out)
		l.run(ctx)
	}()
	var got []LoginUpdate
	for u := range out {
		got = append(got, u)
	}
	return got
}

func TestLoginRun(t *testing.T) {
	t.Parallel()
	jid := types.NewADJID("15550007777", 0, 9)
	code := func(c string) whatsmeow.QRChannelItem {
		return whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: c, Timeout: time.Second}
	}
	pairErr := errors.New("bad signature")

	tests := []struct {
		name      string
		pairPhone string
		items     []whatsmeow.QRChannelItem
		paired    types.JID
		wantQRs   []string
		wantJID   types.JID
		wantErr   error
		closeQR   bool
	}{
		{
			name:    "scanned",
			items:   []whatsmeow.QRChannelItem{code("one"), code("two"), whatsmeow.QRChannelSuccess},
			paired:  jid,
			wantQRs: []string{"one", "two"},
			wantJID: jid,
		},
		{
			name:    "codes ran out",
			items:   []whatsmeow.QRChannelItem{code("one"), whatsmeow.QRChannelTimeout},
			wantQRs: []string{"one"},
			wantErr: ErrLoginTimeout,
		},
		{
			name:    "pair error",
			items:   []whatsmeow.QRChannelItem{{Event: whatsmeow.QRChannelEventError, Error: pairErr}},
			wantErr: pairErr,
		},
		{
			name:    "client outdated",
			items:   []whatsmeow.QRChannelItem{whatsmeow.QRChannelClientOutdated},
			wantErr: ErrConnectRejected,
		},
		{
			name:    "channel closed without result",
			items:   []whatsmeow.QRChannelItem{code("one")},
			closeQR: true,
			wantQRs: []string{"one"},
			wantErr: ErrLoginTimeout,
		},
		{
			name:      "pairing code request fails offline",
			pairPhone: "15550008888",
			items:     []whatsmeow.QRChannelItem{code("one")},
			wantErr:   whatsmeow.ErrNotConnected,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got := runLogin(t, ctx, tt.pairPhone, tt.items, tt.paired, tt.closeQR)
			if len(got) == 0 {
				t.Fatal("no updates")
			}

			var qrs []string
			for _, u := range got[:len(got)-1] {
				if u.Done {
					t.Fatalf("Done before the last update: %+v", got)
				}
				qrs = append(qrs, u.QR)
			}
			if len(qrs) != len(tt.wantQRs) {
				t.Fatalf("QR updates = %q, want %q", qrs, tt.wantQRs)
			}
			for i := range qrs {
				if qrs[i] != tt.wantQRs[i] {
					t.Errorf("QR %d = %q, want %q", i, qrs[i], tt.wantQRs[i])
				}
			}
			last := got[len(got)-1]
			if !last.Done {
				t.Fatalf("last update %+v is not Done", last)
			}
			if tt.wantErr != nil {
				if !errors.Is(last.Err, tt.wantErr) {
					t.Errorf("Err = %v, want %v", last.Err, tt.wantErr)
				}
				return
			}
			if last.Err != nil || last.JID != tt.wantJID {
				t.Errorf("final = %+v, want JID %v", last, tt.wantJID)
			}
		})
	}
}

func TestLoginRunContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := runLogin(t, ctx, "", nil, types.EmptyJID, false)
	if len(got) != 1 || !got[0].Done || !errors.Is(got[0].Err, context.Canceled) {
		t.Errorf("updates = %+v, want one Done with context.Canceled", got)
	}
}
