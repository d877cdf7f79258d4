package fakewa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"go.mau.fi/whatsmeow/socket"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
)

// noiseState is the responder side of Noise_XX_25519_AESGCM_SHA256 as
// WhatsApp uses it: the running hash is the AES-GCM associated data, the
// chaining key is the HKDF salt, and the nonce counter resets on every mix.
type noiseState struct {
	hash    []byte
	salt    []byte
	key     cipher.AEAD
	counter uint32
}

func newNoiseState(header []byte) (*noiseState, error) {
	// The protocol name is exactly 32 bytes, so it is used as the initial
	// hash directly instead of being hashed.
	name := []byte(socket.NoiseStartPattern)
	if len(name) != sha256.Size {
		return nil, fmt.Errorf("unexpected noise pattern length %d", len(name))
	}
	ns := &noiseState{hash: name, salt: name}
	var err error
	if ns.key, err = newGCM(name); err != nil {
		return nil, err
	}
	ns.authenticate(header)
	return ns, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	return cipher.NewGCM(block)
}

// nonce is the 12-byte AES-GCM IV: four zero words and a big-endian counter.
func nonce(counter uint32) []byte {
	iv := make([]byte, 12)
	binary.BigEndian.PutUint32(iv[8:], counter)
	return iv
}

func (ns *noiseState) authenticate(data []byte) {
	h := sha256.New()
	h.Write(ns.hash)
	h.Write(data)
	ns.hash = h.Sum(nil)
}

func (ns *noiseState) encrypt(plaintext []byte) []byte {
	ct := ns.key.Seal(nil, nonce(ns.counter), plaintext, ns.hash)
	ns.counter++
	ns.authenticate(ct)
	return ct
}

func (ns *noiseState) decrypt(ciphertext []byte) ([]byte, error) {
	pt, err := ns.key.Open(nil, nonce(ns.counter), ciphertext, ns.hash)
	ns.counter++
	if err != nil {
		return nil, err
	}
	ns.authenticate(ciphertext)
	return pt, nil
}

func (ns *noiseState) mixDH(priv, pub [32]byte) error {
	secret, err := curve25519.X25519(priv[:], pub[:])
	if err != nil {
		return fmt.Errorf("x25519: %w", err)
	}
	salt, key, err := expand(ns.salt, secret)
	if err != nil {
		return err
	}
	ns.salt = salt
	ns.counter = 0
	ns.key, err = newGCM(key)
	return err
}

// split derives the transport keys. The first key is the one the client
// (initiator) writes with, so it is the one the server reads with.
func (ns *noiseState) split() (read, write cipher.AEAD, err error) {
	first, second, err := expand(ns.salt, nil)
	if err != nil {
		return nil, nil, err
	}
	if read, err = newGCM(first); err != nil {
		return nil, nil, err
	}
	if write, err = newGCM(second); err != nil {
		return nil, nil, err
	}
	return read, write, nil
}

func expand(salt, secret []byte) (first, second []byte, err error) {
	r := hkdf.New(sha256.New, secret, salt, nil)
	out := make([]byte, 64)
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, nil, fmt.Errorf("hkdf: %w", err)
	}
	return out[:32], out[32:], nil
}
