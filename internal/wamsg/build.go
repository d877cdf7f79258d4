// Package wamsg turns a job payload into the WhatsApp protobuf message the
// worker sends. It is pure: the same payload always gives an equal message.
package wamsg

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"

	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/internal/phone"
	"github.com/wacard/wacard/internal/vcard"
)

// Build returns the message for p, with exactly one of these set:
//
//   - ContactMessage, for a contact payload with one contact;
//   - ContactsArrayMessage, for several ("<n> contacts");
//   - Conversation, for text without context info;
//   - ExtendedTextMessage, for text with context info (forwarded or
//     disappearing), since Conversation cannot carry it.
//
// Each contact's phone is checked again with phone.ParseContactPhone; its
// card gets a waid unless it is a short code. Errors wrap ErrInvalidPayload.
// Build does not look at p.To, p.MessageID or p.DeviceID.
func Build(p job.Payload) (*waE2E.Message, error) {
	ctx := contextInfo(p)
	switch p.Kind {
	case job.KindContact:
		return buildContacts(p.Contacts, ctx)
	case job.KindText:
		return buildText(p.Text, ctx)
	default:
		return nil, fmt.Errorf("%w %q", ErrUnknownKind, p.Kind)
	}
}

func buildContacts(contacts []job.Contact, ctx *waE2E.ContextInfo) (*waE2E.Message, error) {
	if len(contacts) == 0 {
		return nil, ErrNoContacts
	}
	msgs := make([]*waE2E.ContactMessage, len(contacts))
	for i, c := range contacts {
		m, err := contactMessage(c)
		if err != nil {
			if len(contacts) > 1 {
				return nil, fmt.Errorf("%w (contact %d of %d)", err, i+1, len(contacts))
			}
			return nil, err
		}
		msgs[i] = m
	}
	if len(msgs) == 1 {
		msgs[0].ContextInfo = ctx
		return &waE2E.Message{ContactMessage: msgs[0]}, nil
	}
	return &waE2E.Message{ContactsArrayMessage: &waE2E.ContactsArrayMessage{
		DisplayName: proto.String(fmt.Sprintf("%d contacts", len(msgs))),
		Contacts:    msgs,
		ContextInfo: ctx,
	}}, nil
}

func contactMessage(c job.Contact) (*waE2E.ContactMessage, error) {
	name := vcard.Sanitize(c.Name)
	if name == "" {
		return nil, ErrNoName
	}
	num, err := phone.ParseContactPhone(c.Phone)
	if err != nil {
		return nil, fmt.Errorf("%w: phone %w", ErrInvalidPayload, err)
	}
	card := vcard.Build(vcard.Card{
		Name:         name,
		Phone:        num.Digits,
		PhoneDisplay: num.International,
		WAID:         !num.ShortCode,
		Organization: c.Organization,
		Email:        c.Email,
	})
	return &waE2E.ContactMessage{
		DisplayName: proto.String(name),
		Vcard:       proto.String(card),
	}, nil
}

func buildText(text string, ctx *waE2E.ContextInfo) (*waE2E.Message, error) {
	switch {
	case strings.TrimSpace(text) == "":
		return nil, ErrNoText
	case !utf8.ValidString(text):
		return nil, ErrTextUTF8
	case ctx == nil:
		return &waE2E.Message{Conversation: proto.String(text)}, nil
	}
	return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
		Text:        proto.String(text),
		ContextInfo: ctx,
	}}, nil
}

// contextInfo returns the message's context info, or nil when it needs none.
func contextInfo(p job.Payload) *waE2E.ContextInfo {
	if !p.IsForwarded && p.Duration == 0 {
		return nil
	}
	ctx := &waE2E.ContextInfo{}
	if p.IsForwarded {
		// Score 1 shows the plain "Forwarded" label. WhatsApp shows
		// "Forwarded many times" for a chain of five or more forwards, which
		// is what the reference implementation's score of 100 claims; one
		// hop is the truth for a card sent by API.
		ctx.IsForwarded = proto.Bool(true)
		ctx.ForwardingScore = proto.Uint32(1)
	}
	if p.Duration > 0 {
		// The chat's disappearing timer, in seconds; the receiving clients
		// delete the message when it runs out.
		ctx.Expiration = proto.Uint32(p.Duration)
	}
	return ctx
}
