package phone

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenInputs covers every rule once; the golden files record what a client
// sees for each, so a change in wording or in libphonenumber's metadata shows
// up as a diff to review.
var goldenInputs = []string{
	"6289685024992@s.whatsapp.net",
	"6289685024992",
	"+6289685024992",
	" 6281234567890 ",
	"89685024992",
	"+62 898 6502 4992",
	"62-898-6502-4992",
	"2025550123",
	"12025550123",
	"4407911123456",
	"5215512345678",
	"556191674812",
	"112",
	"911",
	"999",
	"110",
	"14045",
	"11",
	"1234567890123456",
	"120363025246125888@g.us",
	"6281234567890-1600000000@g.us",
	"123456789012345@lid",
	"120363144038483540@newsletter",
	"6289685024992:4@s.whatsapp.net",
	"6289685024992@c.us",
	"status@broadcast",
	"",
}

func TestGolden(t *testing.T) {
	var rec, contact, mask strings.Builder
	for _, in := range goldenInputs {
		if jid, err := ParseRecipient(in); err != nil {
			fmt.Fprintf(&rec, "%q\terror: %v\n", in, err)
		} else {
			fmt.Fprintf(&rec, "%q\t%s\n", in, jid)
		}
		if n, err := ParseContactPhone(in); err != nil {
			fmt.Fprintf(&contact, "%q\terror: %v\n", in, err)
		} else {
			fmt.Fprintf(&contact, "%q\tdigits=%s international=%q short=%t\n", in, n.Digits, n.International, n.ShortCode)
		}
		fmt.Fprintf(&mask, "%q\t%q\n", in, Mask(in))
	}
	checkGolden(t, "recipient.golden", rec.String())
	checkGolden(t, "contact_phone.golden", contact.String())
	checkGolden(t, "mask.golden", mask.String())
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
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
		t.Errorf("%s differs from the current output (run go test -update and review the diff)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
