package producer

import "testing"

// FuzzReadNDJSON feeds arbitrary bodies to the NDJSON reader: never a panic,
// and every accepted line is a complete item.
func FuzzReadNDJSON(f *testing.F) {
	f.Add([]byte(itemsNDJSON))
	f.Add([]byte(`{"defaults":{"contact_phone":"112"}}` + "\n" + `{"phone":"6289685024992","contact_name":"A"}`))
	f.Add([]byte("\xef\xbb\xbf{\"phone\":\"1\"}\r\n\r\n[1,2]\nnull\n{\"defaults\":1}\n"))
	f.Add([]byte(`{"defaults":{"contacts":[{"contact_name":"X","contact_phone":"911"}]}}` + "\n" + `{"phone":"6289685024992","contact_name":"A"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := readNDJSON(body, 50)
		if err != nil {
			return
		}
		for _, it := range in.items {
			if it.line < 1 {
				t.Fatalf("item without its line: %+v", it)
			}
		}
		checkBatchInput(t, in, true)
	})
}
