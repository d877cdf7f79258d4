package fakewa

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCert"
	"go.mau.fi/whatsmeow/util/keys"
	"google.golang.org/protobuf/proto"
)

// The root key is generated once per process so that every Server signs its
// certificate chain with the same key and concurrent tests agree on the value
// of whatsmeow.WACertPubKey.
var (
	rootOnce sync.Once
	rootKey  *keys.KeyPair

	rootMu       sync.Mutex
	rootUsers    int
	rootOriginal [32]byte
)

func processRootKey() *keys.KeyPair {
	rootOnce.Do(func() { rootKey = keys.NewKeyPair() })
	return rootKey
}

// UseRootKey makes whatsmeow trust certificate chains signed by the fake root
// key until tb finishes. It is reference counted: the original
// whatsmeow.WACertPubKey comes back when the last test using it cleans up.
// New calls it; call it directly only for a handshake without a Server.
func UseRootKey(tb testing.TB) {
	tb.Helper()
	key := processRootKey()
	rootMu.Lock()
	if rootUsers == 0 {
		rootOriginal = whatsmeow.WACertPubKey
		whatsmeow.WACertPubKey = *key.Pub
	}
	rootUsers++
	rootMu.Unlock()
	tb.Cleanup(func() {
		rootMu.Lock()
		rootUsers--
		if rootUsers == 0 {
			whatsmeow.WACertPubKey = rootOriginal
		}
		rootMu.Unlock()
	})
}

// Serials of the fake chain. The intermediate must name issuer serial
// whatsmeow.WACertIssuerSerial; the leaf names the intermediate's serial.
const (
	intermediateSerial = 7
	leafSerial         = 8
)

// newCertChain returns a marshalled waCert.CertChain whose intermediate is
// signed by root and whose leaf, carrying the server's static Noise key, is
// signed by a fresh intermediate key.
func newCertChain(root *keys.KeyPair, static [32]byte, now time.Time) ([]byte, error) {
	intermediate := keys.NewKeyPair()
	notBefore := uint64(now.Add(-time.Hour).Unix())
	notAfter := uint64(now.Add(24 * time.Hour).Unix())

	interDetails, err := proto.Marshal(&waCert.CertChain_NoiseCertificate_Details{
		Serial:       proto.Uint32(intermediateSerial),
		IssuerSerial: proto.Uint32(whatsmeow.WACertIssuerSerial),
		Key:          intermediate.Pub[:],
		NotBefore:    proto.Uint64(notBefore),
		NotAfter:     proto.Uint64(notAfter),
	})
	if err != nil {
		return nil, fmt.Errorf("marshal intermediate details: %w", err)
	}
	leafDetails, err := proto.Marshal(&waCert.CertChain_NoiseCertificate_Details{
		Serial:       proto.Uint32(leafSerial),
		IssuerSerial: proto.Uint32(intermediateSerial),
		Key:          static[:],
		NotBefore:    proto.Uint64(notBefore),
		NotAfter:     proto.Uint64(notAfter),
	})
	if err != nil {
		return nil, fmt.Errorf("marshal leaf details: %w", err)
	}
	interSig := sign(root, interDetails)
	leafSig := sign(intermediate, leafDetails)
	return proto.Marshal(&waCert.CertChain{
		Intermediate: &waCert.CertChain_NoiseCertificate{Details: interDetails, Signature: interSig[:]},
		Leaf:         &waCert.CertChain_NoiseCertificate{Details: leafDetails, Signature: leafSig[:]},
	})
}

// sign makes an XEdDSA signature with a Curve25519 key, the scheme
// whatsmeow verifies with ecc.VerifySignature.
func sign(kp *keys.KeyPair, msg []byte) [64]byte {
	return ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*kp.Priv), msg)
}
