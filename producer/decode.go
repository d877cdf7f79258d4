package producer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/internal/vcard"
)

// Limits of the request fields; docs/api.md lists them.
const (
	maxNameLen     = 256
	maxOrgLen      = 128
	maxEmailLen    = 254
	maxTextLen     = 65536
	maxContacts    = 50
	maxDuration    = 7776000 // 90 days, WhatsApp's longest disappearing timer
	maxIdemKeyLen  = 128
	maxDeviceIDLen = 128
)

// fields is a decoded JSON object whose values are still raw, so each field
// can be checked on its own and every error can name its field.
type fields map[string]json.RawMessage

// readJSONObject checks the Content-Type, reads at most limit bytes and
// decodes one JSON object.
func readJSONObject(w http.ResponseWriter, r *http.Request, limit int64) (fields, error) {
	if err := requireContentType(r, "application/json"); err != nil {
		return nil, err
	}
	body, err := readBody(w, r, limit)
	if err != nil {
		return nil, err
	}
	return decodeObject(body)
}

func requireContentType(r *http.Request, want ...string) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, w := range want {
			if mt == w {
				return nil
			}
		}
	}
	if ct == "" {
		ct = "missing"
	}
	return &apiError{Status: http.StatusUnsupportedMediaType, Code: "UNSUPPORTED_MEDIA_TYPE",
		Message: fmt.Sprintf("Content-Type: must be %s (got %s)", strings.Join(want, " or "), ct)}
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "PAYLOAD_TOO_LARGE",
			Message: fmt.Sprintf("body: must be at most %d bytes", limit)}
	}
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Code: "VALIDATION_ERROR", Message: "body: could not be read: " + err.Error()}
	}
	return body, nil
}

// decodeObject parses body as exactly one JSON object.
func decodeObject(body []byte) (fields, error) {
	bad := func(rule string) error {
		return validationError([]FieldError{{Field: "body", Rule: rule}})
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, bad("must be a JSON object; the body is empty")
	}
	if trimmed[0] != '{' {
		return nil, bad("must be a JSON object")
	}
	var f fields
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&f); err != nil {
		return nil, bad("must be valid JSON: " + jsonErrorText(err))
	}
	if dec.More() {
		return nil, bad("must hold exactly one JSON object")
	}
	return f, nil
}

func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}

// checker collects field errors while reading fields.
type checker struct {
	f    fields
	errs []FieldError
	memo phoneParser // a cache of phone parses (a batch's, or the server's); nil parses every time
}

func (c *checker) parser() phoneParser {
	if c.memo == nil {
		return (*phoneMemo)(nil) // parses every time
	}
	return c.memo
}

func (c *checker) fail(field, rule string) {
	c.errs = append(c.errs, FieldError{Field: field, Rule: rule})
}

func (c *checker) present(name string) bool {
	v, ok := c.f[name]
	return ok && !bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}

// str reads a string field; required fields must be present and non-blank.
func (c *checker) str(name string, required bool) (string, bool) {
	if !c.present(name) {
		if required {
			c.fail(name, "is required")
		}
		return "", false
	}
	var s string
	if err := json.Unmarshal(c.f[name], &s); err != nil {
		c.fail(name, "must be a string")
		return "", false
	}
	if !utf8.ValidString(s) {
		c.fail(name, "must be valid UTF-8")
		return "", false
	}
	return s, true
}

func (c *checker) boolean(name string) bool {
	if !c.present(name) {
		return false
	}
	var b bool
	if err := json.Unmarshal(c.f[name], &b); err != nil {
		c.fail(name, "must be a boolean (true or false)")
	}
	return b
}

// duration reads a disappearing-message timer: whole seconds from 0 to 90 days.
func (c *checker) duration(name string) uint32 {
	if !c.present(name) {
		return 0
	}
	raw := string(bytes.TrimSpace(c.f[name]))
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		if _, ferr := strconv.ParseFloat(raw, 64); ferr == nil {
			c.fail(name, "must be a whole number of seconds (e.g. 86400, 604800 or 7776000)")
		} else {
			c.fail(name, "must be an integer number of seconds")
		}
		return 0
	}
	if n < 0 || n > maxDuration {
		c.fail(name, fmt.Sprintf("must be between 0 and %d seconds (0 = not disappearing)", maxDuration))
		return 0
	}
	return uint32(n)
}

// name reads a display name: trimmed, non-empty, bounded.
func (c *checker) name(field string, required bool) string {
	s, ok := c.str(field, required)
	if !ok {
		return ""
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		c.fail(field, "cannot be blank")
	case vcard.Sanitize(s) == "":
		c.fail(field, "must contain visible characters, not only control characters")
	case utf8.RuneCountInString(s) > maxNameLen:
		c.fail(field, fmt.Sprintf("must be at most %d characters", maxNameLen))
	}
	return s
}

func (c *checker) recipient(field string) string {
	s, ok := c.str(field, true)
	if !ok {
		return ""
	}
	jid, err := c.parser().recipient(s)
	if err != nil {
		c.fail(field, err.Error())
		return ""
	}
	return jid.String()
}

func (c *checker) contactPhone(field string, required bool) string {
	s, ok := c.str(field, required)
	if !ok {
		return ""
	}
	n, err := c.parser().contactPhone(s)
	if err != nil {
		c.fail(field, err.Error())
		return ""
	}
	return n.Digits
}

func (c *checker) email(field string) string {
	s, ok := c.str(field, false)
	if !ok {
		return ""
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > maxEmailLen {
		c.fail(field, "must be a plain e-mail address like name@example.com")
		return ""
	}
	return s
}

func (c *checker) org(field string) string {
	s, ok := c.str(field, false)
	if !ok {
		return ""
	}
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxOrgLen {
		c.fail(field, fmt.Sprintf("must be at most %d characters", maxOrgLen))
	}
	return s
}

// parseContact validates a /send/contact body (or one batch item) into a
// payload without ids. The original single-contact shape is
// {phone, contact_name, contact_phone, is_forwarded, duration}; a "contacts"
// array sends several cards in one message.
func parseContact(f fields) (job.Payload, []FieldError) { return parseContactMemo(f, nil) }

// parseContactMemo is parseContact with a cache of phone parses, for batches.
func parseContactMemo(f fields, memo phoneParser) (job.Payload, []FieldError) {
	c := checker{f: f, memo: memo}
	p := job.Payload{Kind: job.KindContact}
	p.To = c.recipient("phone")
	if c.present("contacts") {
		p.Contacts = c.contactList("contacts")
	} else {
		ct := job.Contact{
			Name:         c.name("contact_name", true),
			Phone:        c.contactPhone("contact_phone", true),
			Organization: c.org("contact_organization"),
			Email:        c.email("contact_email"),
		}
		p.Contacts = []job.Contact{ct}
	}
	p.IsForwarded = c.boolean("is_forwarded")
	p.Duration = c.duration("duration")
	return p, c.errs
}

func (c *checker) contactList(field string) []job.Contact {
	var items []fields
	if err := json.Unmarshal(c.f[field], &items); err != nil {
		c.fail(field, "must be an array of objects with contact_name and contact_phone")
		return nil
	}
	if len(items) == 0 || len(items) > maxContacts {
		c.fail(field, fmt.Sprintf("must hold between 1 and %d contacts", maxContacts))
		return nil
	}
	out := make([]job.Contact, len(items))
	for i, it := range items {
		sub := checker{f: it, memo: c.memo}
		out[i] = job.Contact{
			Name:         sub.name("contact_name", true),
			Phone:        sub.contactPhone("contact_phone", true),
			Organization: sub.org("contact_organization"),
			Email:        sub.email("contact_email"),
		}
		for _, e := range sub.errs {
			c.fail(fmt.Sprintf("%s[%d].%s", field, i, e.Field), e.Rule)
		}
	}
	return out
}

// parseTextMemo validates a /send/message body; memo, if not nil, caches
// phone parses.
func parseTextMemo(f fields, memo phoneParser) (job.Payload, []FieldError) {
	c := checker{f: f, memo: memo}
	p := job.Payload{Kind: job.KindText}
	p.To = c.recipient("phone")
	if s, ok := c.str("message", true); ok {
		switch {
		case strings.TrimSpace(s) == "":
			c.fail("message", "cannot be blank")
		case utf8.RuneCountInString(s) > maxTextLen:
			c.fail("message", fmt.Sprintf("must be at most %d characters", maxTextLen))
		}
		p.Text = s
	}
	p.IsForwarded = c.boolean("is_forwarded")
	p.Duration = c.duration("duration")
	return p, c.errs
}
