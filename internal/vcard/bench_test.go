package vcard

import "testing"

func BenchmarkBuild(b *testing.B) {
	cards := map[string]Card{
		"plain":   {Name: "Aldino Kemal", Phone: "6289685024992", PhoneDisplay: "+62 896-8502-4992", WAID: true},
		"escaped": {Name: "Doe, John; Bob\nTEL:+1999\x00", Phone: "6289685024992", PhoneDisplay: "+62 896-8502-4992", WAID: true, Organization: "Acme, Inc.", Email: "a@b.c"},
	}
	for name, c := range cards {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Build(c)
			}
		})
	}
}

func BenchmarkCheck(b *testing.B) {
	v := Build(Card{Name: "Doe, John", Phone: "6289685024992", PhoneDisplay: "+62 896-8502-4992", WAID: true, Organization: "Acme", Email: "a@b.c"})
	b.ReportAllocs()
	for b.Loop() {
		_ = Check(v)
	}
}
