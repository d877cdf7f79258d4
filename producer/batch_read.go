package producer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// batchItem is one item of a batch as read from the body, before validation.
// JSON and NDJSON items keep their raw object, decoded by the validating
// goroutines; CSV rows arrive as fields.
type batchItem struct {
	line int             // 1-based line of a CSV or NDJSON item; 0 for JSON
	raw  json.RawMessage // JSON and NDJSON
	f    fields          // CSV
	errs []FieldError    // found while reading: a ragged row, bad UTF-8
}

// batchInput is a batch body read in any of the accepted formats.
type batchInput struct {
	defaults fields
	items    []batchItem
	ignored  []string // CSV columns that name no field
}

// Content types of a batch body.
const (
	ctJSON   = "application/json"
	ctNDJSON = "application/x-ndjson"
	ctCSV    = "text/csv"
)

// errTooManyItems is the validation error of a batch over the item limit.
func errTooManyItems(max int) error {
	return validationError([]FieldError{{Field: "items", Rule: fmt.Sprintf("must hold at most %d items", max)}})
}

func errNoItems() error {
	return validationError([]FieldError{{Field: "items", Rule: "must hold at least one item"}})
}

// readJSONBatch reads {"defaults": {...}, "items": [{...}, ...]}. The items are
// split without being decoded, and counting stops at max.
func readJSONBatch(body []byte, max int) (batchInput, error) {
	f, err := decodeObject(body)
	if err != nil {
		return batchInput{}, err
	}
	var in batchInput
	c := checker{f: f}
	if c.present("defaults") {
		if in.defaults, err = decodeDefaults(f["defaults"]); err != nil {
			return batchInput{}, err
		}
	}
	if !c.present("items") {
		return batchInput{}, validationError([]FieldError{{Field: "items", Rule: "is required: an array of items in the /send/contact shape"}})
	}
	raws, err := rawArray(f["items"], max)
	switch {
	case errors.Is(err, errTooMany):
		return batchInput{}, errTooManyItems(max)
	case err != nil:
		return batchInput{}, validationError([]FieldError{{Field: "items", Rule: "must be an array of objects"}})
	case len(raws) == 0:
		return batchInput{}, errNoItems()
	}
	in.items = make([]batchItem, len(raws))
	for i, raw := range raws {
		in.items[i] = batchItem{raw: raw}
	}
	return in, nil
}

// errTooMany is rawArray's answer to an array longer than its limit.
var errTooMany = errors.New("too many elements")

// rawArray splits a JSON array into its elements without decoding them, and
// stops at max+1 elements, so a huge body cannot make a huge slice.
func rawArray(raw json.RawMessage, max int) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, errors.New("not an array")
	}
	var out []json.RawMessage
	for dec.More() {
		if len(out) == max {
			return nil, errTooMany
		}
		var el json.RawMessage
		if err := dec.Decode(&el); err != nil {
			return nil, err
		}
		out = append(out, el)
	}
	return out, nil
}

// decodeDefaults decodes the defaults object and checks each field it sets,
// once, so a bad default is reported once instead of once per item.
func decodeDefaults(raw json.RawMessage) (fields, error) {
	var d fields
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &d) != nil {
		return nil, validationError([]FieldError{{Field: "defaults", Rule: "must be a JSON object of item fields"}})
	}
	c := checker{f: d}
	for _, name := range itemFields {
		if !c.present(name) {
			continue
		}
		switch name {
		case "phone":
			c.recipient(name)
		case "contact_name":
			c.name(name, false)
		case "contact_phone":
			c.contactPhone(name, false)
		case "contact_organization":
			c.org(name)
		case "contact_email":
			c.email(name)
		case "is_forwarded":
			c.boolean(name)
		case "duration":
			c.duration(name)
		case "contacts":
			c.contactList(name)
		}
	}
	if len(c.errs) > 0 {
		for i := range c.errs {
			c.errs[i].Field = "defaults." + c.errs[i].Field
		}
		return nil, validationError(c.errs)
	}
	return d, nil
}

// itemFields are the fields of a batch item, in the order errors are listed.
var itemFields = [...]string{"phone", "contact_name", "contact_phone", "contact_organization", "contact_email", "contacts", "is_forwarded", "duration"}

// singleContactFields are the fields of the one-card shape; an item that sets
// any of them replaces a default "contacts" list, and the other way round.
var singleContactFields = [...]string{"contact_name", "contact_phone", "contact_organization", "contact_email"}

// withDefaults returns item with every default it does not set itself. An item
// that sets a field, even to null, overrides the default.
func withDefaults(item, defaults fields) fields {
	if len(defaults) == 0 {
		return item
	}
	out := make(fields, len(item)+len(defaults))
	_, itemList := item["contacts"]
	itemSingle := false
	for _, k := range singleContactFields {
		if _, ok := item[k]; ok {
			itemSingle = true
		}
	}
	for k, v := range defaults {
		switch {
		case k == "contacts" && itemSingle:
			continue
		case itemList && isSingleContactField(k):
			continue
		}
		out[k] = v
	}
	for k, v := range item {
		out[k] = v
	}
	return out
}

func isSingleContactField(k string) bool {
	for _, s := range singleContactFields {
		if k == s {
			return true
		}
	}
	return false
}

// decodeItem decodes one JSON item into fields.
func decodeItem(raw json.RawMessage) (fields, *FieldError) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, &FieldError{Field: "item", Rule: "must be a JSON object"}
	}
	var f fields
	if err := json.Unmarshal(t, &f); err != nil {
		return nil, &FieldError{Field: "item", Rule: "must be a valid JSON object: " + jsonErrorText(err)}
	}
	return f, nil
}
