package fakewa

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/logger"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/session"
	"go.mau.fi/libsignal/state/record"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

var serializer = store.SignalProtobufSerializer

// simPreKeyCount is how many one-time prekeys a simulated device offers;
// after they are handed out, bundles carry only the signed prekey, which
// Signal allows.
const simPreKeyCount = 8

// simDevice is a WhatsApp device the fake plays itself (a recipient's phone,
// or the primary phone of the account under test). It holds real Signal keys
// and decrypts what the client encrypts for it.
type simDevice struct {
	jid      types.JID
	identity *keys.KeyPair
	regID    uint32
	signed   *keys.PreKey
	store    *signalStore

	mu      sync.Mutex
	offered []*keys.PreKey // one-time prekeys not yet handed out
}

func newSimDevice(jid types.JID) *simDevice {
	d := &simDevice{
		jid:      jid,
		identity: keys.NewKeyPair(),
		regID:    rand.Uint32N(16380) + 1,
	}
	d.signed = d.identity.CreateSignedPreKey(1)
	d.store = newSignalStore(d.identity, d.regID)
	d.store.signed[d.signed.KeyID] = record.NewSignedPreKey(d.signed.KeyID, 0,
		ecc.NewECKeyPair(ecc.NewDjbECPublicKey(*d.signed.Pub), ecc.NewDjbECPrivateKey(*d.signed.Priv)),
		*d.signed.Signature, serializer.SignedPreKeyRecord)
	for i := range simPreKeyCount {
		pk := keys.NewPreKey(uint32(100 + i))
		d.offered = append(d.offered, pk)
		d.store.preKeys[pk.KeyID] = record.NewPreKey(pk.KeyID,
			ecc.NewECKeyPair(ecc.NewDjbECPublicKey(*pk.Pub), ecc.NewDjbECPrivateKey(*pk.Priv)),
			serializer.PreKeyRecord)
	}
	return d
}

// bundleNode answers a prekey fetch for this device, handing out one
// one-time prekey if any is left.
func (d *simDevice) bundleNode(requested types.JID) waBinary.Node {
	d.mu.Lock()
	var one *keys.PreKey
	if len(d.offered) > 0 {
		one, d.offered = d.offered[0], d.offered[1:]
	}
	d.mu.Unlock()
	return bundleNode(requested, d.regID, *d.identity.Pub, d.signed, one)
}

// decrypt opens a pkmsg or msg enc payload sent by from, returning the
// still padded plaintext.
func (d *simDevice) decrypt(ctx context.Context, from types.JID, encType string, data []byte) ([]byte, error) {
	addr := from.SignalAddress()
	builder := session.NewBuilder(d.store, d.store, d.store, d.store, addr, serializer)
	cipher := session.NewCipher(builder, addr)
	switch encType {
	case "pkmsg":
		msg, err := protocol.NewPreKeySignalMessageFromBytes(data, serializer.PreKeySignalMessage, serializer.SignalMessage)
		if err != nil {
			return nil, fmt.Errorf("parse pkmsg: %w", err)
		}
		return cipher.DecryptMessage(ctx, msg)
	case "msg":
		msg, err := protocol.NewSignalMessageFromBytes(data, serializer.SignalMessage)
		if err != nil {
			return nil, fmt.Errorf("parse msg: %w", err)
		}
		return cipher.Decrypt(ctx, msg)
	default:
		return nil, fmt.Errorf("unsupported enc type %q", encType)
	}
}

// bundleNode renders a prekey bundle the way whatsmeow's fetchPreKeys
// parses it. one may be nil.
func bundleNode(jid types.JID, regID uint32, identityPub [32]byte, signed, one *keys.PreKey) waBinary.Node {
	var reg [4]byte
	binary.BigEndian.PutUint32(reg[:], regID)
	content := []waBinary.Node{
		{Tag: "registration", Content: reg[:]},
		{Tag: "type", Content: []byte{ecc.DjbType}},
		{Tag: "identity", Content: identityPub[:]},
	}
	if one != nil {
		content = append(content, preKeyNode("key", one))
	}
	content = append(content, preKeyNode("skey", signed))
	return waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid}, Content: content}
}

func preKeyNode(tag string, pk *keys.PreKey) waBinary.Node {
	var id [4]byte
	binary.BigEndian.PutUint32(id[:], pk.KeyID)
	content := []waBinary.Node{
		{Tag: "id", Content: id[1:]},
		{Tag: "value", Content: pk.Pub[:]},
	}
	if pk.Signature != nil {
		content = append(content, waBinary.Node{Tag: "signature", Content: pk.Signature[:]})
	}
	return waBinary.Node{Tag: tag, Content: content}
}

// signalStore is an in-memory libsignal store for one simulated device.
// Sessions are kept serialised so that every load starts from a copy, as
// with a database.
type signalStore struct {
	identity *identity.KeyPair
	regID    uint32

	mu         sync.Mutex
	preKeys    map[uint32]*record.PreKey
	signed     map[uint32]*record.SignedPreKey
	sessions   map[string][]byte
	identities map[string][32]byte
}

func newSignalStore(kp *keys.KeyPair, regID uint32) *signalStore {
	return &signalStore{
		identity: identity.NewKeyPair(
			identity.NewKey(ecc.NewDjbECPublicKey(*kp.Pub)),
			ecc.NewDjbECPrivateKey(*kp.Priv),
		),
		regID:      regID,
		preKeys:    make(map[uint32]*record.PreKey),
		signed:     make(map[uint32]*record.SignedPreKey),
		sessions:   make(map[string][]byte),
		identities: make(map[string][32]byte),
	}
}

func (s *signalStore) GetIdentityKeyPair() *identity.KeyPair { return s.identity }
func (s *signalStore) GetLocalRegistrationID() uint32        { return s.regID }

func (s *signalStore) SaveIdentity(_ context.Context, addr *protocol.SignalAddress, key *identity.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identities[addr.String()] = key.PublicKey().PublicKey()
	return nil
}

// IsTrustedIdentity trusts every key, like whatsmeow's AutoTrustIdentity: a
// client that re-registers gets a new identity and must still be heard.
func (s *signalStore) IsTrustedIdentity(context.Context, *protocol.SignalAddress, *identity.Key) (bool, error) {
	return true, nil
}

func (s *signalStore) LoadPreKey(_ context.Context, id uint32) (*record.PreKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.preKeys[id], nil
}

func (s *signalStore) StorePreKey(_ context.Context, id uint32, rec *record.PreKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.preKeys[id] = rec
	return nil
}

func (s *signalStore) ContainsPreKey(_ context.Context, id uint32) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.preKeys[id]
	return ok, nil
}

func (s *signalStore) RemovePreKey(_ context.Context, id uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.preKeys, id)
	return nil
}

func (s *signalStore) LoadSignedPreKey(_ context.Context, id uint32) (*record.SignedPreKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signed[id], nil
}

func (s *signalStore) LoadSignedPreKeys(context.Context) ([]*record.SignedPreKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*record.SignedPreKey, 0, len(s.signed))
	for _, rec := range s.signed {
		out = append(out, rec)
	}
	return out, nil
}

func (s *signalStore) StoreSignedPreKey(_ context.Context, id uint32, rec *record.SignedPreKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signed[id] = rec
	return nil
}

func (s *signalStore) ContainsSignedPreKey(_ context.Context, id uint32) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.signed[id]
	return ok, nil
}

func (s *signalStore) RemoveSignedPreKey(_ context.Context, id uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.signed, id)
	return nil
}

func (s *signalStore) LoadSession(_ context.Context, addr *protocol.SignalAddress) (*record.Session, error) {
	s.mu.Lock()
	raw, ok := s.sessions[addr.String()]
	s.mu.Unlock()
	if !ok {
		return record.NewSession(serializer.Session, serializer.State), nil
	}
	return record.NewSessionFromBytes(raw, serializer.Session, serializer.State)
}

func (s *signalStore) GetSubDeviceSessions(_ context.Context, name string) ([]uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []uint32
	for key := range s.sessions {
		i := strings.LastIndex(key, protocol.ADDRESS_SEPARATOR)
		if i < 0 || key[:i] != name {
			continue
		}
		if dev, err := strconv.ParseUint(key[i+len(protocol.ADDRESS_SEPARATOR):], 10, 32); err == nil {
			ids = append(ids, uint32(dev))
		}
	}
	return ids, nil
}

func (s *signalStore) StoreSession(_ context.Context, addr *protocol.SignalAddress, rec *record.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[addr.String()] = rec.Serialize()
	return nil
}

func (s *signalStore) ContainsSession(_ context.Context, addr *protocol.SignalAddress) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sessions[addr.String()]
	return ok, nil
}

func (s *signalStore) DeleteSession(_ context.Context, addr *protocol.SignalAddress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, addr.String())
	return nil
}

func (s *signalStore) DeleteAllSessions(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
	return nil
}

// libsignal picks its logger lazily on first use without synchronisation,
// which the race detector reports once tests use it from two goroutines.
// Making the first use happen during package initialisation avoids that;
// the default logger discards debug messages.
func init() { logger.Debug("fakewa: libsignal logger initialised") }
