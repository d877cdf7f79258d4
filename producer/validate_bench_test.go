package producer

import "testing"

// BenchmarkParseContact is the validation of one POST /send/contact body:
// decode, every field rule and the numbering-plan checks (without the
// phone cache the server puts in front of it).
func BenchmarkParseContact(b *testing.B) {
	body := []byte(`{"phone":"6289685024992@s.whatsapp.net","contact_name":"  John Doe ","contact_phone":"6289685024992","is_forwarded":true,"duration":86400}`)
	b.ReportAllocs()
	for b.Loop() {
		fs, err := decodeObject(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, errs := parseContact(fs); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}

// BenchmarkParseContactRejected is the same for a body with three errors:
// bad requests must not cost more than good ones.
func BenchmarkParseContactRejected(b *testing.B) {
	body := []byte(`{"phone":"089685024992","contact_name":" ","contact_phone":"+62 898 6502 4992"}`)
	b.ReportAllocs()
	for b.Loop() {
		fs, err := decodeObject(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, errs := parseContact(fs); len(errs) == 0 {
			b.Fatal("accepted a bad body")
		}
	}
}
