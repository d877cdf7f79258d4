package fakewa

import (
	"bytes"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waWa6"
	"go.mau.fi/whatsmeow/socket"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
	"google.golang.org/protobuf/proto"
)

// handshakeTimeout bounds how long a client may take between connecting and
// finishing the Noise handshake.
const handshakeTimeout = 10 * time.Second

// streamEndGrace is how long the fake keeps a connection open after a
// stream:error or failure node, so that whatsmeow handles the node (and
// decides whether to reconnect) before it sees the socket close.
const streamEndGrace = 200 * time.Millisecond

// conn is one client websocket. Reads happen on the serve goroutine only;
// writes are serialised by writeMu.
type conn struct {
	srv    *Server
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc

	gotHeader bool
	inbuf     []byte
	readKey   cipher.AEAD
	readCtr   uint32

	writeMu  sync.Mutex
	writeKey cipher.AEAD
	writeCtr uint32

	noisePub [32]byte
	payload  *waWa6.ClientPayload

	// jid is the logged-in device, empty until <success> was sent.
	// Guarded by srv.mu.
	jid types.JID
}

func (c *conn) serve() {
	defer c.kill()
	if err := c.handshake(); err != nil {
		if c.ctx.Err() == nil {
			c.srv.logf("handshake: %v", err)
		}
		return
	}
	c.srv.afterHandshake(c)
	for {
		frame, err := c.readFrame()
		if err != nil {
			return
		}
		plaintext, err := c.readKey.Open(nil, nonce(c.readCtr), frame, nil)
		c.readCtr++
		if err != nil {
			c.srv.fail(fmt.Errorf("decrypt frame: %w", err))
			return
		}
		data, err := waBinary.Unpack(plaintext)
		if err != nil {
			c.srv.fail(fmt.Errorf("unpack frame: %w", err))
			continue
		}
		node, err := waBinary.Unmarshal(data)
		if err != nil {
			c.srv.fail(fmt.Errorf("decode node: %w", err))
			continue
		}
		c.srv.handleNode(c, node)
	}
}

// kill closes the socket at once, as a dropped TCP connection would.
func (c *conn) kill() {
	c.cancel()
	_ = c.ws.CloseNow()
}

// endStream closes the connection after streamEndGrace. The read loop keeps
// running meanwhile, so a client that closes first ends it sooner.
func (c *conn) endStream() {
	time.AfterFunc(streamEndGrace, c.kill)
}

func (c *conn) handshake() error {
	ctx, cancel := context.WithTimeout(c.ctx, handshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.kill()
		}
	})
	defer stop()

	first, err := c.readFrame()
	if err != nil {
		return fmt.Errorf("read client hello: %w", err)
	}
	var hello waWa6.HandshakeMessage
	if err := proto.Unmarshal(first, &hello); err != nil {
		return fmt.Errorf("unmarshal client hello: %w", err)
	}
	clientEph := hello.GetClientHello().GetEphemeral()
	if len(clientEph) != 32 {
		return fmt.Errorf("client ephemeral key is %d bytes", len(clientEph))
	}
	ns, err := newNoiseState(socket.WAConnHeader)
	if err != nil {
		return err
	}
	ns.authenticate(clientEph)

	eph := keys.NewKeyPair()
	ns.authenticate(eph.Pub[:])
	if err := ns.mixDH(*eph.Priv, [32]byte(clientEph)); err != nil {
		return err
	}
	staticCT := ns.encrypt(c.srv.static.Pub[:])
	if err := ns.mixDH(*c.srv.static.Priv, [32]byte(clientEph)); err != nil {
		return err
	}
	certCT := ns.encrypt(c.srv.certChain)
	serverHello, err := proto.Marshal(&waWa6.HandshakeMessage{
		ServerHello: &waWa6.HandshakeMessage_ServerHello{
			Ephemeral: eph.Pub[:],
			Static:    staticCT,
			Payload:   certCT,
		},
	})
	if err != nil {
		return fmt.Errorf("marshal server hello: %w", err)
	}
	if err := c.writeFrame(serverHello); err != nil {
		return fmt.Errorf("send server hello: %w", err)
	}

	second, err := c.readFrame()
	if err != nil {
		return fmt.Errorf("read client finish: %w", err)
	}
	var finish waWa6.HandshakeMessage
	if err := proto.Unmarshal(second, &finish); err != nil {
		return fmt.Errorf("unmarshal client finish: %w", err)
	}
	clientStatic, err := ns.decrypt(finish.GetClientFinish().GetStatic())
	if err != nil {
		return fmt.Errorf("decrypt client static: %w", err)
	} else if len(clientStatic) != 32 {
		return fmt.Errorf("client static key is %d bytes", len(clientStatic))
	}
	if err := ns.mixDH(*eph.Priv, [32]byte(clientStatic)); err != nil {
		return err
	}
	payloadBytes, err := ns.decrypt(finish.GetClientFinish().GetPayload())
	if err != nil {
		return fmt.Errorf("decrypt client payload: %w", err)
	}
	var payload waWa6.ClientPayload
	if err := proto.Unmarshal(payloadBytes, &payload); err != nil {
		return fmt.Errorf("unmarshal client payload: %w", err)
	}
	if c.readKey, c.writeKey, err = ns.split(); err != nil {
		return err
	}
	c.noisePub = [32]byte(clientStatic)
	c.payload = &payload
	return nil
}

// readFrame returns the next length-prefixed frame. The first websocket
// message starts with the WA connection header, which is checked and
// dropped.
func (c *conn) readFrame() ([]byte, error) {
	for {
		if len(c.inbuf) >= socket.FrameLengthSize {
			n := int(c.inbuf[0])<<16 | int(c.inbuf[1])<<8 | int(c.inbuf[2])
			if len(c.inbuf) >= socket.FrameLengthSize+n {
				frame := bytes.Clone(c.inbuf[socket.FrameLengthSize : socket.FrameLengthSize+n])
				c.inbuf = c.inbuf[socket.FrameLengthSize+n:]
				return frame, nil
			}
		}
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return nil, err
		}
		if typ != websocket.MessageBinary {
			continue
		}
		if !c.gotHeader {
			header := socket.WAConnHeader
			if !bytes.HasPrefix(data, header) {
				return nil, fmt.Errorf("bad connection header %x", data[:min(len(data), len(header))])
			}
			data = data[len(header):]
			c.gotHeader = true
		}
		c.inbuf = append(c.inbuf, data...)
	}
}

func (c *conn) writeFrame(data []byte) error {
	if len(data) >= socket.FrameMaxSize {
		return fmt.Errorf("frame of %d bytes is too large", len(data))
	}
	frame := make([]byte, socket.FrameLengthSize+len(data))
	frame[0], frame[1], frame[2] = byte(len(data)>>16), byte(len(data)>>8), byte(len(data))
	copy(frame[socket.FrameLengthSize:], data)
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageBinary, frame)
}

// send encodes and encrypts node for the client.
func (c *conn) send(node waBinary.Node) error {
	payload, err := waBinary.Marshal(node)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", node.Tag, err)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	ciphertext := c.writeKey.Seal(nil, nonce(c.writeCtr), payload, nil)
	c.writeCtr++
	return c.writeFrame(ciphertext)
}

// sendOrLog sends node and logs a failure; for replies where the client
// will notice a missing answer anyway.
func (c *conn) sendOrLog(node waBinary.Node) {
	if err := c.send(node); err != nil && c.ctx.Err() == nil {
		c.srv.logf("send %s: %v", node.Tag, err)
	}
}
