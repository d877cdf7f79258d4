package fakewa

import (
	"encoding/binary"
	"fmt"
	"strings"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

// handleNode routes one decoded node from the client.
func (s *Server) handleNode(c *conn, node *waBinary.Node) {
	if node.Tag == "iq" {
		s.handleIQ(c, node)
		return
	}
	s.mu.Lock()
	loggedIn := c.loggedInLocked()
	s.mu.Unlock()
	if !loggedIn {
		s.logf("ignoring <%s> before login", node.Tag)
		return
	}
	switch node.Tag {
	case "message":
		s.handleMessage(c, node)
	case "ack", "receipt", "presence", "chatstate", "call", "notification":
		// Client acknowledgements and status updates need no answer.
	default:
		s.logf("ignoring <%s>", node.Tag)
	}
}

// iqError is an error answer to an iq.
type iqError struct {
	code int
	text string
}

func (s *Server) handleIQ(c *conn, node *waBinary.Node) {
	ag := node.AttrGetter()
	id := ag.OptionalString("id")
	typ := ag.OptionalString("type")
	xmlns := ag.OptionalString("xmlns")
	if typ == "result" || typ == "error" {
		s.handleIQReply(c, node)
		return
	}
	s.mu.Lock()
	s.iqsByXMLNS[xmlns]++
	loggedIn := c.loggedInLocked()
	s.mu.Unlock()

	var content []waBinary.Node
	var ierr *iqError
	switch {
	case xmlns == "w:p":
		// Keepalive ping, answered before login too.
	case !loggedIn:
		ierr = &iqError{401, "not-authorized"}
	case xmlns == "encrypt":
		content, ierr = s.handleEncryptIQ(c, node)
	case xmlns == "usync":
		content, ierr = s.handleUsync(node)
	case xmlns == "md":
		s.handleMDIQ(c, node)
	default:
		// passive/active, privacy settings, props and everything else:
		// an empty result is all whatsmeow needs.
	}
	reply := waBinary.Node{Tag: "iq", Attrs: waBinary.Attrs{
		"from": types.ServerJID,
		"id":   id,
		"type": "result",
	}}
	if ierr != nil {
		reply.Attrs["type"] = "error"
		content = []waBinary.Node{{Tag: "error", Attrs: waBinary.Attrs{"code": ierr.code, "text": ierr.text}}}
	}
	if len(content) > 0 {
		reply.Content = content
	}
	c.sendOrLog(reply)
	s.notify()
}

// IQCount reports how many get/set iqs with the given xmlns the fake has
// answered, e.g. "encrypt", "usync", "passive", "w:p".
func (s *Server) IQCount(xmlns string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.iqsByXMLNS[xmlns]
}

// handleEncryptIQ serves the prekey count, prekey uploads and prekey
// bundle fetches.
func (s *Server) handleEncryptIQ(c *conn, node *waBinary.Node) ([]waBinary.Node, *iqError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, self := s.deviceLocked(c.jid)
	if self == nil {
		return nil, &iqError{401, "not-authorized"}
	}
	if _, ok := node.GetOptionalChildByTag("count"); ok {
		return []waBinary.Node{{Tag: "count", Attrs: waBinary.Attrs{"value": self.uploaded}}}, nil
	}
	if keyNode, ok := node.GetOptionalChildByTag("key"); ok {
		var users []waBinary.Node
		for _, req := range keyNode.GetChildren() {
			jid, ok := req.Attrs["jid"].(types.JID)
			if req.Tag != "user" || !ok {
				continue
			}
			users = append(users, s.bundleLocked(jid))
		}
		return []waBinary.Node{{Tag: "list", Content: users}}, nil
	}
	if list, ok := node.GetOptionalChildByTag("list"); ok {
		// Upload: remember the public keys so other clients could fetch them.
		for _, k := range list.GetChildren() {
			if pk, err := parsePreKeyNode(k); err == nil {
				self.preKeys = append(self.preKeys, pk)
				self.uploaded++
			}
		}
		if sk, err := parsePreKeyNode(node.GetChildByTag("skey")); err == nil {
			self.signed = sk
		}
		return nil, nil
	}
	return nil, &iqError{400, "bad-request"}
}

// bundleLocked answers one entry of a prekey fetch. Call with s.mu held.
func (s *Server) bundleLocked(jid types.JID) waBinary.Node {
	sim, comp := s.deviceLocked(jid)
	switch {
	case sim != nil:
		return sim.bundleNode(jid)
	case comp != nil && !comp.removed && comp.signed != nil:
		var one *keys.PreKey
		if len(comp.preKeys) > 0 {
			one, comp.preKeys = comp.preKeys[0], comp.preKeys[1:]
		}
		return bundleNode(jid, comp.regID, comp.identityPub, comp.signed, one)
	default:
		return waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid}, Content: []waBinary.Node{
			{Tag: "error", Attrs: waBinary.Attrs{"code": 404, "text": "item-not-found"}},
		}}
	}
}

func parsePreKeyNode(n waBinary.Node) (*keys.PreKey, error) {
	id, _ := n.GetChildByTag("id").Content.([]byte)
	val, _ := n.GetChildByTag("value").Content.([]byte)
	if len(id) != 3 || len(val) != 32 {
		return nil, fmt.Errorf("malformed prekey node <%s>", n.Tag)
	}
	pub := [32]byte(val)
	pk := &keys.PreKey{KeyPair: keys.KeyPair{Pub: &pub}, KeyID: binary.BigEndian.Uint32(append([]byte{0}, id...))}
	if sig, ok := n.GetChildByTag("signature").Content.([]byte); ok && len(sig) == 64 {
		s := [64]byte(sig)
		pk.Signature = &s
	}
	return pk, nil
}

// handleUsync answers user sync queries: device lists for sending and the
// contact (IsOnWhatsApp) query. Other query parts are answered with nothing.
func (s *Server) handleUsync(node *waBinary.Node) ([]waBinary.Node, *iqError) {
	usync, ok := node.GetOptionalChildByTag("usync")
	if !ok {
		return nil, &iqError{400, "bad-request"}
	}
	query := usync.GetChildByTag("query")
	list := usync.GetChildByTag("list")

	s.mu.Lock()
	defer s.mu.Unlock()
	var users []waBinary.Node
	for _, req := range list.GetChildren() {
		if req.Tag != "user" {
			continue
		}
		var phone, contactQuery string
		if jid, ok := req.Attrs["jid"].(types.JID); ok {
			phone = jid.User
		} else if contact, ok := req.GetOptionalChildByTag("contact"); ok {
			contactQuery = contentString(contact.Content)
			phone, _ = normalizePhone(strings.TrimSuffix(contactQuery, "@"+types.LegacyUserServer))
		}
		if phone == "" {
			continue
		}
		u, known := s.users[phone]
		onWhatsApp := known && !u.hidden
		var parts []waBinary.Node
		for _, q := range query.GetChildren() {
			switch q.Tag {
			case "devices":
				var devices []waBinary.Node
				if onWhatsApp {
					for _, id := range u.deviceIDs() {
						attrs := waBinary.Attrs{"id": int(id)}
						if id != 0 {
							attrs["key-index"] = int(id)
						}
						devices = append(devices, waBinary.Node{Tag: "device", Attrs: attrs})
					}
				}
				deviceList := waBinary.Node{Tag: "device-list"}
				if len(devices) > 0 {
					deviceList.Content = devices
				}
				parts = append(parts, waBinary.Node{Tag: "devices", Content: []waBinary.Node{deviceList}})
			case "contact":
				typ := "out"
				if onWhatsApp {
					typ = "in"
				}
				contact := waBinary.Node{Tag: "contact", Attrs: waBinary.Attrs{"type": typ}}
				if contactQuery != "" {
					contact.Content = []byte(contactQuery)
				}
				parts = append(parts, contact)
			}
		}
		userNode := waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": types.NewJID(phone, types.DefaultUserServer)}}
		if len(parts) > 0 {
			userNode.Content = parts
		}
		users = append(users, userNode)
	}
	attrs := waBinary.Attrs{"index": "0", "last": "true"}
	for _, k := range []string{"sid", "mode", "context"} {
		if v, ok := usync.Attrs[k]; ok {
			attrs[k] = v
		}
	}
	out := waBinary.Node{Tag: "usync", Attrs: attrs, Content: []waBinary.Node{{Tag: "list", Content: users}}}
	return []waBinary.Node{out}, nil
}

func contentString(content any) string {
	switch v := content.(type) {
	case []byte:
		return string(v)
	case string:
		return v
	default:
		return ""
	}
}

// handleMDIQ handles multi-device management: a client logging itself out.
func (s *Server) handleMDIQ(c *conn, node *waBinary.Node) {
	if rm, ok := node.GetOptionalChildByTag("remove-companion-device"); ok {
		jid, _ := rm.Attrs["jid"].(types.JID)
		s.mu.Lock()
		if _, comp := s.deviceLocked(jid); comp != nil && jid == c.jid {
			comp.removed = true
		}
		s.mu.Unlock()
	}
}
