package phone

import "testing"

func BenchmarkParseRecipient(b *testing.B) {
	for _, in := range []string{"6289685024992@s.whatsapp.net", "120363025246125888@g.us", "89685024992"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = ParseRecipient(in)
			}
		})
	}
}

func BenchmarkParseContactPhone(b *testing.B) {
	for _, in := range []string{"6289685024992", "112"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = ParseContactPhone(in)
			}
		})
	}
}

func BenchmarkMask(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Mask("6289685024992@s.whatsapp.net")
	}
}
