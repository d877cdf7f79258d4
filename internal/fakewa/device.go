package fakewa

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"

	// The pure-Go SQLite driver registers itself as "sqlite".
	_ "modernc.org/sqlite"
)

// NewStore opens a whatsmeow SQLite store in a file under tb.TempDir and
// closes it when tb finishes.
func NewStore(tb testing.TB) *sqlstore.Container {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "whatsmeow.db")
	q := url.Values{"_pragma": {"foreign_keys(1)", "busy_timeout(10000)", "journal_mode(WAL)"}}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		tb.Fatalf("fakewa: open sqlite: %v", err)
	}
	container := sqlstore.NewWithDB(db, "sqlite3", nil)
	if err := container.Upgrade(context.Background()); err != nil {
		_ = db.Close()
		tb.Fatalf("fakewa: upgrade whatsmeow store: %v", err)
	}
	tb.Cleanup(func() { _ = container.Close() })
	return container
}

// NewDevice saves in container a device that is already linked to the
// account phone, as if it had been paired, and registers it with the fake
// so that it can log in. The account is created if needed; phone is digits
// with an optional leading '+'.
func (s *Server) NewDevice(ctx context.Context, container *sqlstore.Container, phone string) (*store.Device, error) {
	phone, err := normalizePhone(phone)
	if err != nil {
		return nil, err
	}
	dev := container.NewDevice()

	s.mu.Lock()
	u := s.userLocked(phone)
	id := u.nextDevice
	u.nextDevice++
	jid := types.NewADJID(phone, 0, uint8(id))
	account, err := u.signDeviceIdentity(id, *dev.IdentityKey.Pub)
	if err == nil {
		u.companions[id] = &companion{
			jid:         jid,
			noisePub:    *dev.NoiseKey.Pub,
			identityPub: *dev.IdentityKey.Pub,
			regID:       dev.RegistrationID,
			signed:      publicPreKey(dev.SignedPreKey),
		}
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}

	// The device countersigns the account's statement, as whatsmeow does
	// after verifying pair-success.
	devSig := sign(dev.IdentityKey, concat(whatsmeow.AdvDeviceSignaturePrefix,
		account.Details, dev.IdentityKey.Pub[:], account.AccountSignatureKey))
	account.DeviceSignature = devSig[:]
	dev.Account = account
	dev.ID = &jid
	dev.Platform = "android"
	dev.PushName = "fakewa " + phone
	if err := dev.Save(ctx); err != nil {
		return nil, fmt.Errorf("fakewa: save device: %w", err)
	}
	s.notify()
	return dev, nil
}

// NewClient returns a whatsmeow client for a new device linked to phone,
// with its own store, wired to the fake, not yet connected. It is
// disconnected when tb finishes. Auto-reconnect stays on, as in production.
func (s *Server) NewClient(tb testing.TB, phone string) *whatsmeow.Client {
	tb.Helper()
	dev, err := s.NewDevice(context.Background(), NewStore(tb), phone)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	cli := whatsmeow.NewClient(dev, nil)
	s.Install(cli)
	tb.Cleanup(cli.Disconnect)
	return cli
}

// publicPreKey copies the public half and signature of a prekey.
func publicPreKey(pk *keys.PreKey) *keys.PreKey {
	pub := *pk.Pub
	out := &keys.PreKey{KeyPair: keys.KeyPair{Pub: &pub}, KeyID: pk.KeyID}
	if pk.Signature != nil {
		sig := *pk.Signature
		out.Signature = &sig
	}
	return out
}
