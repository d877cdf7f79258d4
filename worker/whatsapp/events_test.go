package whatsapp

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

func TestTranslate(t *testing.T) {
	t.Parallel()
	chat := types.NewJID("15550005678", types.DefaultUserServer)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	receipt := func(typ types.ReceiptType) *events.Receipt {
		return &events.Receipt{
			MessageSource: types.MessageSource{Chat: chat},
			MessageIDs:    []types.MessageID{"A", "B"},
			Timestamp:     at,
			Type:          typ,
		}
	}
	read := Receipt{IDs: []string{"A", "B"}, Type: ReceiptRead, At: at, Chat: chat.String()}

	tests := []struct {
		name    string
		in      any
		want    Event
		settles bool
		err     error // the outcome's sentinel, when it settles with an error
	}{
		{name: "connected", in: &events.Connected{}, want: Connected{}, settles: true},
		{name: "disconnected", in: &events.Disconnected{}, want: Disconnected{}},
		{
			name: "logged out on connect",
			in:   &events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureLoggedOut},
			want: LoggedOut{Reason: events.ConnectFailureLoggedOut.String()}, settles: true, err: ErrLoggedOut,
		},
		{
			name: "device removed",
			in:   &events.LoggedOut{Reason: events.ConnectFailureLoggedOut},
			want: LoggedOut{Reason: events.ConnectFailureLoggedOut.String()}, settles: true, err: ErrLoggedOut,
		},
		{name: "stream replaced", in: &events.StreamReplaced{}, want: StreamReplaced{}, settles: true, err: ErrStreamReplaced},
		{
			name:    "temporary ban",
			in:      &events.TemporaryBan{Code: events.TempBanBlockedByUsers, Expire: time.Hour},
			want:    TemporaryBan{Code: 102, Reason: events.TempBanBlockedByUsers.String(), Expire: time.Hour},
			settles: true, err: ErrTemporaryBan,
		},
		{
			name:    "client outdated",
			in:      &events.ClientOutdated{},
			want:    ConnectFailure{Reason: 405, Message: events.ConnectFailureClientOutdated.String()},
			settles: true, err: ErrConnectRejected,
		},
		{
			name: "connect failure",
			in:   &events.ConnectFailure{Reason: events.ConnectFailureBadUserAgent, Message: "bad ua"},
			want: ConnectFailure{Reason: 409, Message: "bad ua"}, settles: true, err: ErrConnectRejected,
		},
		{
			name: "connect failure meaning logout",
			in:   &events.ConnectFailure{Reason: events.ConnectFailureMainDeviceGone},
			want: LoggedOut{Reason: events.ConnectFailureMainDeviceGone.String()}, settles: true, err: ErrLoggedOut,
		},
		{
			name: "delivered receipt", in: receipt(types.ReceiptTypeDelivered),
			want: Receipt{IDs: []string{"A", "B"}, Type: ReceiptDelivered, At: at, Chat: chat.String()},
		},
		{name: "read receipt", in: receipt(types.ReceiptTypeRead), want: read},
		{name: "read-self receipt", in: receipt(types.ReceiptTypeReadSelf), want: read},
		{name: "sender receipt", in: receipt(types.ReceiptTypeSender)},
		{name: "played receipt", in: receipt(types.ReceiptTypePlayed)},
		{name: "message", in: &events.Message{}},
		{name: "pair success", in: &events.PairSuccess{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, out := translate(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("event = %#v, want %#v", got, tt.want)
			}
			if out.settles != tt.settles {
				t.Errorf("settles = %v, want %v", out.settles, tt.settles)
			}
			if tt.err == nil && out.err != nil || tt.err != nil && !errors.Is(out.err, tt.err) {
				t.Errorf("outcome error = %v, want %v", out.err, tt.err)
			}
		})
	}
}

// TestTranslateCopiesIDs guards against the Receipt sharing whatsmeow's slice.
func TestTranslateCopiesIDs(t *testing.T) {
	t.Parallel()
	ids := []types.MessageID{"A"}
	ev, _ := translate(&events.Receipt{MessageIDs: ids})
	ids[0] = "changed"
	if got := ev.(Receipt).IDs[0]; got != "A" {
		t.Errorf("IDs[0] = %q after changing the source, want %q", got, "A")
	}
}
