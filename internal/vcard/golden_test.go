package vcard

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestGolden(t *testing.T) {
	tests := []struct {
		file string
		card Card
	}{
		{"plain", Card{Name: "Aldino Kemal", Phone: "6289685024992", PhoneDisplay: "+62 896-8502-4992", WAID: true}},
		{"unicode_name", Card{Name: "José Müller 山田太郎 👩‍💻", Phone: "447911123456", PhoneDisplay: "+44 7911 123456", WAID: true}},
		{"special_chars", Card{Name: `Doe, John; "JD" \ Sales`, Phone: "12025550123", PhoneDisplay: "+1 202-555-0123", WAID: true}},
		{"newline_injection", Card{Name: "Bob\nTEL:+1999\r\nEND:VCARD\rBEGIN:VCARD", Phone: "12025550123", PhoneDisplay: "+1 202-555-0123", WAID: true}},
		{"org_email", Card{Name: "Michael Chen - Sales Manager", Phone: "6289876543210", PhoneDisplay: "+62 898-7654-3210", WAID: true, Organization: "Acme Corp, Jakarta; HQ", Email: "michael.chen@example.com"}},
		{"short_code", Card{Name: "Emergency Hotline", Phone: "112", PhoneDisplay: "112"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := Build(tt.card)
			checkBuilt(t, tt.card, got)
			path := filepath.Join("testdata", tt.file+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Build() differs from %s (run go test -update and review the diff)\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}
