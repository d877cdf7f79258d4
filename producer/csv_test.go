package producer

import (
	"strings"
	"testing"
)

// checkBatchInput validates what a reader made of an arbitrary body: every
// item without errors must become a complete payload, and every error must
// say where and what.
func checkBatchInput(t *testing.T, in batchInput, lines bool) {
	t.Helper()
	if len(in.items) == 0 {
		t.Fatal("a body without items was accepted")
	}
	for i, res := range validateItems(in) {
		if len(res.errs) > 0 {
			for _, e := range res.errs {
				if e.Field == "" || e.Rule == "" || e.Index == nil || *e.Index != i || lines && e.Line < 1 {
					t.Fatalf("item %d: error without its place or rule: %+v", i, e)
				}
			}
			continue
		}
		p := res.p
		if p.To == "" || len(p.Contacts) == 0 {
			t.Fatalf("item %d accepted incomplete: %+v", i, p)
		}
		for _, c := range p.Contacts {
			if strings.TrimSpace(c.Name) == "" || c.Phone == "" {
				t.Fatalf("item %d accepted an incomplete contact: %+v", i, c)
			}
		}
	}
}

// FuzzReadCSV feeds arbitrary bodies to the CSV reader: never a panic, and
// every accepted row is a complete item.
func FuzzReadCSV(f *testing.F) {
	f.Add([]byte(itemsCSV))
	f.Add([]byte("\xef\xbb\xbfphone,contact_name,contact_phone\n6289685024992,\"Doe, John\",112\n"))
	f.Add([]byte("phone,contact_name,contact_phone,duration,is_forwarded\n1,a,2,1.5,yes\n3,\"b\nc\",4\n"))
	f.Add([]byte("phone,contact_name\n\"unterminated\n"))
	f.Add([]byte("Phone,CONTACT_NAME,contact_phone,phone\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := readCSV(body, 50)
		if err != nil {
			return
		}
		for _, it := range in.items {
			if it.line < 2 {
				t.Fatalf("row at line %d: the header is line 1", it.line)
			}
		}
		checkBatchInput(t, in, true)
	})
}
