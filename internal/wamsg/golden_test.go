package wamsg

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/wacard/wacard/internal/job"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestGolden records the whole message, as JSON, for the payloads the API
// documents, so any change to what goes on the wire shows up as a diff.
func TestGolden(t *testing.T) {
	tests := []struct {
		file string
		in   job.Payload
	}{
		{"contact", contactPayload(job.Contact{Name: "John Doe", Phone: "6281234567890"})},
		{"contact_forwarded_disappearing", with(contactPayload(job.Contact{Name: "Customer Support - 24/7", Phone: "6281234567890"}), true, 86400)},
		{"contact_short_code", contactPayload(job.Contact{Name: "Emergency Hotline", Phone: "112"})},
		{"contacts_array", contactPayload(
			job.Contact{Name: "Michael Chen - Sales Manager", Phone: "6289876543210", Organization: "Acme Corp", Email: "michael@example.com"},
			job.Contact{Name: "Dr. Emily Roberts; Dentist", Phone: "6285551234567"},
			job.Contact{Name: "Bob\nTEL:+1999", Phone: "999"},
		)},
		{"text", textPayload("Welcome! Here's our support contact:")},
		{"text_forwarded", with(textPayload("Feel free to reach out anytime!"), true, 604800)},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := Build(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := protojson.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			// protojson varies its whitespace on purpose; re-indent for a
			// stable file.
			var got bytes.Buffer
			if err := json.Indent(&got, raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('\n')

			path := filepath.Join("testdata", tt.file+".golden")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("message differs from %s (run go test -update and review the diff)\ngot:\n%s\nwant:\n%s", path, got.Bytes(), want)
			}
		})
	}
}
