package wamsg

import (
	"errors"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"

	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/internal/phone"
	"github.com/wacard/wacard/internal/vcard"
)

const (
	johnCard = "BEGIN:VCARD\nVERSION:3.0\nN:;John Doe;;;\nFN:John Doe\nTEL;type=CELL;waid=6281234567890:+62 812-3456-7890\nEND:VCARD"
	sosCard  = "BEGIN:VCARD\nVERSION:3.0\nN:;Emergency Hotline;;;\nFN:Emergency Hotline\nTEL;type=CELL:112\nEND:VCARD"
)

var (
	john = job.Contact{Name: "John Doe", Phone: "6281234567890"}
	sos  = job.Contact{Name: "Emergency Hotline", Phone: "112"}
)

func contactPayload(cs ...job.Contact) job.Payload {
	return job.Payload{
		MessageID: "3EB0B430B6F8F1D0E053AC", DeviceID: "dev", To: "6289685024992@s.whatsapp.net",
		Kind: job.KindContact, Contacts: cs,
	}
}

func textPayload(text string) job.Payload {
	return job.Payload{
		MessageID: "3EB0B430B6F8F1D0E053AC", DeviceID: "dev", To: "6289685024992@s.whatsapp.net",
		Kind: job.KindText, Text: text,
	}
}

func with(p job.Payload, forwarded bool, duration uint32) job.Payload {
	p.IsForwarded, p.Duration = forwarded, duration
	return p
}

func TestBuild(t *testing.T) {
	forwarded := &waE2E.ContextInfo{IsForwarded: proto.Bool(true), ForwardingScore: proto.Uint32(1)}
	tests := []struct {
		name string
		in   job.Payload
		want *waE2E.Message
	}{
		{
			name: "one contact",
			in:   contactPayload(john),
			want: &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
				DisplayName: proto.String("John Doe"),
				Vcard:       proto.String(johnCard),
			}},
		},
		{
			name: "short code has no waid",
			in:   contactPayload(sos),
			want: &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
				DisplayName: proto.String("Emergency Hotline"),
				Vcard:       proto.String(sosCard),
			}},
		},
		{
			name: "name is trimmed and sanitized everywhere",
			in:   contactPayload(job.Contact{Name: "  John\x00 Doe\t", Phone: " 6281234567890 "}),
			want: &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
				DisplayName: proto.String("John Doe"),
				Vcard:       proto.String(johnCard),
			}},
		},
		{
			name: "organization and email",
			in:   contactPayload(job.Contact{Name: "John Doe", Phone: "6281234567890", Organization: "Acme, Inc.", Email: "john@example.com"}),
			want: &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
				DisplayName: proto.String("John Doe"),
				Vcard:       proto.String("BEGIN:VCARD\nVERSION:3.0\nN:;John Doe;;;\nFN:John Doe\nORG:Acme\\, Inc.\nTEL;type=CELL;waid=6281234567890:+62 812-3456-7890\nEMAIL;type=INTERNET:john@example.com\nEND:VCARD"),
			}},
		},
		{
			name: "one contact, forwarded and disappearing",
			in:   with(contactPayload(john), true, 86400),
			want: &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
				DisplayName: proto.String("John Doe"),
				Vcard:       proto.String(johnCard),
				ContextInfo: &waE2E.ContextInfo{IsForwarded: proto.Bool(true), ForwardingScore: proto.Uint32(1), Expiration: proto.Uint32(86400)},
			}},
		},
		{
			name: "two contacts",
			in:   with(contactPayload(john, sos), false, 604800),
			want: &waE2E.Message{ContactsArrayMessage: &waE2E.ContactsArrayMessage{
				DisplayName: proto.String("2 contacts"),
				Contacts: []*waE2E.ContactMessage{
					{DisplayName: proto.String("John Doe"), Vcard: proto.String(johnCard)},
					{DisplayName: proto.String("Emergency Hotline"), Vcard: proto.String(sosCard)},
				},
				ContextInfo: &waE2E.ContextInfo{Expiration: proto.Uint32(604800)},
			}},
		},
		{
			name: "text",
			in:   textPayload("Welcome! Here's our support contact:"),
			want: &waE2E.Message{Conversation: proto.String("Welcome! Here's our support contact:")},
		},
		{
			name: "forwarded text",
			in:   with(textPayload("hi"), true, 0),
			want: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
				Text:        proto.String("hi"),
				ContextInfo: forwarded,
			}},
		},
		{
			name: "disappearing text",
			in:   with(textPayload(" hi\n"), false, 7776000),
			want: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
				Text:        proto.String(" hi\n"),
				ContextInfo: &waE2E.ContextInfo{Expiration: proto.Uint32(7776000)},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Build(tt.in)
			if err != nil {
				t.Fatalf("Build() error = %v", err)
			}
			if !proto.Equal(got, tt.want) {
				t.Errorf("Build() =\n%v\nwant\n%v", got, tt.want)
			}
			checkMessage(t, got)
		})
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      job.Payload
		want    []error
		wantMsg string
	}{
		{name: "no kind", in: job.Payload{}, want: []error{ErrUnknownKind}, wantMsg: `wamsg: invalid payload: unknown kind ""`},
		{name: "unknown kind", in: job.Payload{Kind: "image", Text: "x"}, want: []error{ErrUnknownKind}},
		{name: "no contacts", in: contactPayload(), want: []error{ErrNoContacts}},
		{name: "blank name", in: contactPayload(job.Contact{Name: " \n\x00", Phone: "112"}), want: []error{ErrNoName}},
		{
			name: "missing country code", in: contactPayload(job.Contact{Name: "A", Phone: "89685024992"}),
			want:    []error{phone.ErrCountryCode},
			wantMsg: "wamsg: invalid payload: phone must start with a valid country code",
		},
		{name: "formatted phone", in: contactPayload(job.Contact{Name: "A", Phone: "+62 898 6502 4992"}), want: []error{phone.ErrDigitsOnly}},
		{name: "empty phone", in: contactPayload(job.Contact{Name: "A"}), want: []error{phone.ErrEmpty}},
		{
			name: "second contact bad", in: contactPayload(john, job.Contact{Name: "B", Phone: "12"}),
			want:    []error{phone.ErrTooShort},
			wantMsg: "wamsg: invalid payload: phone must be an international number with its country code, or a 3 to 6 digit service short code (contact 2 of 2)",
		},
		{name: "empty text", in: textPayload(""), want: []error{ErrNoText}},
		{name: "blank text", in: with(textPayload(" \n\t"), true, 0), want: []error{ErrNoText}},
		{name: "text not UTF-8", in: textPayload("hi \xff"), want: []error{ErrTextUTF8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Build(tt.in)
			if err == nil {
				t.Fatalf("Build() = %v, want an error", got)
			}
			if got != nil {
				t.Errorf("Build() returned a message with error %v", err)
			}
			for _, want := range append(tt.want, ErrInvalidPayload) {
				if !errors.Is(err, want) {
					t.Errorf("Build() error = %v, want one matching %v", err, want)
				}
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("Build() error = %q, want %q", err, tt.wantMsg)
			}
		})
	}
}

// checkMessage holds every built message to Build's promises: exactly one
// content field, a well-formed vCard per contact, and context info only
// where it carries something.
func checkMessage(t *testing.T, m *waE2E.Message) {
	t.Helper()
	set := 0
	for _, ok := range []bool{m.ContactMessage != nil, m.ContactsArrayMessage != nil, m.Conversation != nil, m.ExtendedTextMessage != nil} {
		if ok {
			set++
		}
	}
	if set != 1 {
		t.Fatalf("message has %d content fields set, want 1: %v", set, m)
	}
	var cards []*waE2E.ContactMessage
	switch {
	case m.ContactMessage != nil:
		cards = []*waE2E.ContactMessage{m.ContactMessage}
		checkContext(t, m.ContactMessage.ContextInfo)
	case m.ContactsArrayMessage != nil:
		cards = m.ContactsArrayMessage.Contacts
		if len(cards) < 2 {
			t.Fatalf("ContactsArrayMessage with %d contacts", len(cards))
		}
		checkContext(t, m.ContactsArrayMessage.ContextInfo)
		for _, c := range cards {
			if c.ContextInfo != nil {
				t.Fatalf("contact inside an array carries its own context info")
			}
		}
	case m.ExtendedTextMessage != nil:
		if m.ExtendedTextMessage.ContextInfo == nil {
			t.Fatalf("ExtendedTextMessage without context info; want Conversation")
		}
		checkContext(t, m.ExtendedTextMessage.ContextInfo)
	}
	for _, c := range cards {
		if c.GetDisplayName() == "" || c.GetDisplayName() != vcard.Sanitize(c.GetDisplayName()) {
			t.Fatalf("bad display name %q", c.GetDisplayName())
		}
		if err := vcard.Check(c.GetVcard()); err != nil {
			t.Fatalf("vcard.Check() = %v\n%s", err, c.GetVcard())
		}
		if !strings.Contains(c.GetVcard(), "\nTEL;") {
			t.Fatalf("vCard has no TEL line:\n%s", c.GetVcard())
		}
	}
}

func checkContext(t *testing.T, ctx *waE2E.ContextInfo) {
	t.Helper()
	if ctx == nil {
		return
	}
	if !ctx.GetIsForwarded() && ctx.GetExpiration() == 0 {
		t.Fatalf("empty context info: %v", ctx)
	}
	if ctx.GetIsForwarded() != (ctx.GetForwardingScore() == 1) {
		t.Fatalf("IsForwarded and ForwardingScore disagree: %v", ctx)
	}
}
