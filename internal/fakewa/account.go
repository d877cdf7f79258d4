package fakewa

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
	"google.golang.org/protobuf/proto"
)

// user is one WhatsApp account known to the fake: a simulated primary phone
// (device 0), optional further simulated devices, and the real whatsmeow
// clients linked to it (companions).
type user struct {
	jid        types.JID // non-AD, e.g. 15550002222@s.whatsapp.net
	rawID      uint32    // ADV account id
	sims       map[uint16]*simDevice
	companions map[uint16]*companion
	nextDevice uint16
	hidden     bool // usync answers as if the number were not on WhatsApp
}

// primary is the phone whose identity key signs linked devices.
func (u *user) primary() *simDevice { return u.sims[0] }

// companion is a whatsmeow client device linked to an account. Its public
// keys come from the registration payload or from creating it ourselves,
// and its one-time prekeys from what the client uploads.
type companion struct {
	jid         types.JID
	noisePub    [32]byte
	identityPub [32]byte
	regID       uint32
	signed      *keys.PreKey // public half only
	preKeys     []*keys.PreKey
	uploaded    int
	removed     bool
}

// normalizePhone turns "+1 555-000 1111" into "15550001111".
func normalizePhone(phone string) (string, error) {
	var b strings.Builder
	for _, r := range phone {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' || r == ' ' || r == '-':
		default:
			return "", fmt.Errorf("fakewa: invalid phone number %q", phone)
		}
	}
	if b.Len() < 5 {
		return "", fmt.Errorf("fakewa: phone number %q is too short", phone)
	}
	return b.String(), nil
}

// userLocked returns the account for phone, creating it with a primary
// phone device. Call with s.mu held.
func (s *Server) userLocked(phone string) *user {
	if u, ok := s.users[phone]; ok {
		return u
	}
	u := &user{
		jid:        types.NewJID(phone, types.DefaultUserServer),
		rawID:      rand.Uint32(),
		sims:       make(map[uint16]*simDevice),
		companions: make(map[uint16]*companion),
		nextDevice: 1,
	}
	u.sims[0] = newSimDevice(u.jid)
	s.users[phone] = u
	return u
}

// deviceLocked finds the simulated device or companion behind a device JID.
func (s *Server) deviceLocked(jid types.JID) (*simDevice, *companion) {
	u, ok := s.users[jid.User]
	if !ok || jid.Server != types.DefaultUserServer {
		return nil, nil
	}
	return u.sims[jid.Device], u.companions[jid.Device]
}

// deviceIDs lists the devices usync reports for u, primary first.
func (u *user) deviceIDs() []uint16 {
	ids := make([]uint16, 0, len(u.sims)+len(u.companions))
	for id := range u.sims {
		ids = append(ids, id)
	}
	for id, c := range u.companions {
		if !c.removed {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// signDeviceIdentity is the primary phone vouching for a new linked device:
// the ADV identity whose account signature whatsmeow checks when pairing
// and sends to recipients in <device-identity>.
func (u *user) signDeviceIdentity(deviceID uint16, deviceIdentityPub [32]byte) (*waAdv.ADVSignedDeviceIdentity, error) {
	details, err := proto.Marshal(&waAdv.ADVDeviceIdentity{
		RawID:     proto.Uint32(u.rawID),
		Timestamp: proto.Uint64(uint64(time.Now().Unix())),
		KeyIndex:  proto.Uint32(uint32(deviceID)),
	})
	if err != nil {
		return nil, fmt.Errorf("marshal device identity: %w", err)
	}
	primary := u.primary().identity
	sig := sign(primary, concat(whatsmeow.AdvAccountSignaturePrefix, details, deviceIdentityPub[:]))
	return &waAdv.ADVSignedDeviceIdentity{
		Details:             details,
		AccountSignatureKey: primary.Pub[:],
		AccountSignature:    sig[:],
	}, nil
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
