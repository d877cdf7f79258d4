package wamsg

import (
	"testing"

	"github.com/wacard/wacard/internal/job"
)

func BenchmarkBuild(b *testing.B) {
	payloads := map[string]job.Payload{
		"contact":   with(contactPayload(john), true, 86400),
		"contacts3": contactPayload(john, sos, john),
		"text":      textPayload("Welcome! Here's our support contact:"),
	}
	for name, p := range payloads {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
