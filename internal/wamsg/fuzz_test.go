package wamsg

import (
	"errors"
	"testing"

	"github.com/wacard/wacard/internal/job"
)

func FuzzBuild(f *testing.F) {
	f.Add("contact", "John Doe", "6281234567890", "", "", "", uint8(1), false, uint32(0))
	f.Add("contact", "Emergency Hotline", "112", "Acme", "a@b.c", "", uint8(3), true, uint32(86400))
	f.Add("contact", "Bob\nTEL:+1999", "+62 898 6502 4992", ";", ",", "", uint8(2), false, uint32(0))
	f.Add("text", "", "", "", "", "hello", uint8(0), true, uint32(7776000))
	f.Add("text", "", "", "", "", "\xff", uint8(0), false, uint32(0))
	f.Add("image", "", "", "", "", "x", uint8(0), false, uint32(1))
	f.Fuzz(func(t *testing.T, kind, name, phoneNum, org, email, text string, n uint8, forwarded bool, duration uint32) {
		p := job.Payload{Kind: job.Kind(kind), Text: text, IsForwarded: forwarded, Duration: duration}
		for i := range int(n % 5) {
			c := job.Contact{Name: name, Phone: phoneNum, Organization: org, Email: email}
			if i%2 == 1 { // vary the contacts a little
				c.Name, c.Organization = org, name
			}
			p.Contacts = append(p.Contacts, c)
		}
		m, err := Build(p)
		if err != nil {
			if m != nil {
				t.Fatalf("Build returned a message with error %v", err)
			}
			if !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("Build error %v does not wrap ErrInvalidPayload", err)
			}
			return
		}
		checkMessage(t, m)
	})
}
