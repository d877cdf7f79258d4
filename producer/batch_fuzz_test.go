package producer

import "testing"

// FuzzReadJSONBatch: a JSON batch body either fails as a whole with a reason,
// or yields items that each validate to a complete message or to errors
// naming their item, field and rule.
func FuzzReadJSONBatch(f *testing.F) {
	f.Add([]byte(`{"items":[{"phone":"6289685024992","contact_name":"A","contact_phone":"6281234567890"}]}`))
	f.Add([]byte(`{"defaults":{"contact_name":"Rep","contact_phone":"112"},"items":[{"phone":"6289685024992"},{"phone":"x@g.us","is_forwarded":true}]}`))
	f.Add([]byte(`[{"phone":"1"},null,[],{"phone":"6289685024992","contact_name":" ","duration":-5}]`))
	f.Add([]byte(`{"defaults":{"contacts":[{"contact_name":"X","contact_phone":"911"}]},"items":[{"phone":"6289685024992"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := readJSONBatch(body, 50)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		checkBatchInput(t, in, false)
	})
}
