package fakewa

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/whatsmeow"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/proto/waWa6"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
	"google.golang.org/protobuf/proto"
)

// qrRefCount is how many QR refs a pair-device request carries; whatsmeow
// shows them one after another.
const qrRefCount = 6

// pairing is one unregistered client waiting to be linked by QR.
type pairing struct {
	conn  *conn
	reg   *waWa6.ClientPayload_DevicePairingRegistrationData
	refs  []string
	reqID string    // id of the pair-success iq, once the QR was scanned
	jid   types.JID // the device JID offered in pair-success
}

func randomID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + strings.ToUpper(hex.EncodeToString(b))
}

// startPairing asks an unregistered client to show QR codes.
func (s *Server) startPairing(c *conn) {
	reg := c.payload.GetDevicePairingData()
	if len(reg.GetEIdent()) != 32 || len(reg.GetERegid()) != 4 || len(reg.GetESkeyID()) != 3 ||
		len(reg.GetESkeyVal()) != 32 || len(reg.GetESkeySig()) != 64 {
		s.fail(fmt.Errorf("malformed device pairing data"))
		c.kill()
		return
	}
	p := &pairing{conn: c, reg: reg}
	refs := make([]waBinary.Node, qrRefCount)
	s.mu.Lock()
	for i := range refs {
		ref := randomID("2@fakewa")
		p.refs = append(p.refs, ref)
		s.pairings[ref] = p
		refs[i] = waBinary.Node{Tag: "ref", Content: []byte(ref)}
	}
	s.mu.Unlock()
	c.sendOrLog(waBinary.Node{Tag: "iq", Attrs: waBinary.Attrs{
		"from":  types.ServerJID,
		"type":  "set",
		"id":    randomID("pair-"),
		"xmlns": "md",
	}, Content: []waBinary.Node{{Tag: "pair-device", Content: refs}}})
	s.notify()
}

// ScanQR plays the phone of account phone scanning a QR code the client
// showed (one of events.QR's Codes, or a whatsmeow QRChannelItem.Code). It
// sends pair-success with a device identity signed by the account's primary
// key and an HMAC under the client's ADV secret from the QR, and returns the
// JID the new device gets. Once the client countersigns, the fake registers
// the device and restarts the stream (code 515); whatsmeow then reconnects
// and logs in.
func (s *Server) ScanQR(code, phone string) (types.JID, error) {
	phone, err := normalizePhone(phone)
	if err != nil {
		return types.EmptyJID, err
	}
	parts := strings.Split(code, ",")
	if len(parts) != 4 {
		return types.EmptyJID, fmt.Errorf("fakewa: QR code has %d parts, want 4", len(parts))
	}
	noisePub, err1 := base64.StdEncoding.DecodeString(parts[1])
	identityPub, err2 := base64.StdEncoding.DecodeString(parts[2])
	advSecret, err3 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil || err3 != nil || len(noisePub) != 32 || len(identityPub) != 32 {
		return types.EmptyJID, fmt.Errorf("fakewa: malformed QR code keys")
	}

	s.mu.Lock()
	p := s.pairings[parts[0]]
	if p == nil || p.reqID != "" {
		s.mu.Unlock()
		return types.EmptyJID, fmt.Errorf("fakewa: QR ref %q is unknown or already scanned", parts[0])
	}
	if !bytes.Equal(noisePub, p.conn.noisePub[:]) || !bytes.Equal(identityPub, p.reg.GetEIdent()) {
		s.mu.Unlock()
		return types.EmptyJID, fmt.Errorf("fakewa: QR keys do not match the connection that showed it")
	}
	u := s.userLocked(phone)
	id := u.nextDevice
	u.nextDevice++
	jid := types.NewADJID(phone, 0, uint8(id))
	signed, err := u.signDeviceIdentity(id, [32]byte(identityPub))
	if err != nil {
		s.mu.Unlock()
		return types.EmptyJID, err
	}
	for _, ref := range p.refs {
		delete(s.pairings, ref)
	}
	p.reqID = randomID("pair-success-")
	p.jid = jid
	s.pairings[p.reqID] = p
	s.mu.Unlock()

	signedBytes, err := proto.Marshal(signed)
	if err != nil {
		return types.EmptyJID, fmt.Errorf("fakewa: marshal signed identity: %w", err)
	}
	mac := hmac.New(sha256.New, advSecret)
	mac.Write(signedBytes)
	container, err := proto.Marshal(&waAdv.ADVSignedDeviceIdentityHMAC{
		Details: signedBytes,
		HMAC:    mac.Sum(nil),
	})
	if err != nil {
		return types.EmptyJID, fmt.Errorf("fakewa: marshal identity container: %w", err)
	}
	err = p.conn.send(waBinary.Node{Tag: "iq", Attrs: waBinary.Attrs{
		"from":  types.ServerJID,
		"type":  "set",
		"id":    p.reqID,
		"xmlns": "md",
	}, Content: []waBinary.Node{{Tag: "pair-success", Content: []waBinary.Node{
		{Tag: "device-identity", Content: container},
		{Tag: "platform", Attrs: waBinary.Attrs{"name": "android"}},
		{Tag: "device", Attrs: waBinary.Attrs{"jid": jid}},
	}}}})
	if err != nil {
		return types.EmptyJID, fmt.Errorf("fakewa: send pair-success: %w", err)
	}
	return jid, nil
}

// handleIQReply handles the client's answers to the fake's own iqs; only
// the answer to pair-success matters.
func (s *Server) handleIQReply(c *conn, node *waBinary.Node) {
	id, _ := node.Attrs["id"].(string)
	s.mu.Lock()
	p := s.pairings[id]
	if p == nil || p.conn != c {
		s.mu.Unlock()
		return
	}
	delete(s.pairings, id)
	s.mu.Unlock()

	if node.Attrs["type"] == "error" {
		s.logf("client refused pairing: %s", node.XMLString())
		c.endStream()
		return
	}
	comp, err := s.verifyPairSign(p, node)
	if err != nil {
		s.fail(fmt.Errorf("pairing %s: %w", p.jid, err))
		c.kill()
		return
	}
	s.mu.Lock()
	s.users[p.jid.User].companions[p.jid.Device] = comp
	s.mu.Unlock()
	s.logf("paired %s", p.jid)
	// Like WhatsApp: restart the stream so the client logs in as the device.
	c.sendOrLog(waBinary.Node{Tag: "stream:error", Attrs: waBinary.Attrs{"code": "515"}})
	c.endStream()
	s.notify()
}

// verifyPairSign checks the device's countersignature in pair-device-sign
// and builds the companion record from the registration payload.
func (s *Server) verifyPairSign(p *pairing, node *waBinary.Node) (*companion, error) {
	raw, _ := node.GetChildByTag("pair-device-sign", "device-identity").Content.([]byte)
	var signed waAdv.ADVSignedDeviceIdentity
	if err := proto.Unmarshal(raw, &signed); err != nil {
		return nil, fmt.Errorf("unmarshal pair-device-sign identity: %w", err)
	}
	if len(signed.GetDeviceSignature()) != 64 {
		return nil, fmt.Errorf("pair-device-sign lacks a device signature")
	}
	reg := p.reg
	s.mu.Lock()
	primaryPub := *s.users[p.jid.User].primary().identity.Pub
	s.mu.Unlock()
	msg := concat(whatsmeow.AdvDeviceSignaturePrefix, signed.GetDetails(), reg.GetEIdent(), primaryPub[:])
	if !ecc.VerifySignature(ecc.NewDjbECPublicKey([32]byte(reg.GetEIdent())), msg, [64]byte(signed.GetDeviceSignature())) {
		return nil, fmt.Errorf("device signature does not verify")
	}
	skeyPub := [32]byte(reg.GetESkeyVal())
	skeySig := [64]byte(reg.GetESkeySig())
	return &companion{
		jid:         p.jid,
		noisePub:    p.conn.noisePub,
		identityPub: [32]byte(reg.GetEIdent()),
		regID:       binary.BigEndian.Uint32(reg.GetERegid()),
		signed: &keys.PreKey{
			KeyPair:   keys.KeyPair{Pub: &skeyPub},
			KeyID:     binary.BigEndian.Uint32(append([]byte{0}, reg.GetESkeyID()...)),
			Signature: &skeySig,
		},
	}, nil
}
