// Package msgid generates WhatsApp message IDs up front, in the format WhatsApp
// Web uses: "3EB0" followed by 18 upper-case hex digits (22 characters).
package msgid

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"
)

// Prefix is the prefix WhatsApp Web gives its message IDs.
const Prefix = "3EB0"

// Len is the length of a generated ID.
const Len = 22

// New returns a fresh message ID: a hash of the current time and 16 random
// bytes, so IDs are unique across processes without coordination.
func New() string {
	var data [8 + 16]byte
	binary.BigEndian.PutUint64(data[:8], uint64(time.Now().UnixNano()))
	_, _ = rand.Read(data[8:]) // crypto/rand.Read never fails on supported platforms
	sum := sha256.Sum256(data[:])
	return Prefix + strings.ToUpper(hex.EncodeToString(sum[:9]))
}

// Valid reports whether s looks like an ID this package (or WhatsApp) makes:
// upper-case hex of a plausible length. It is used to reject garbage in URLs.
func Valid(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
