package producer

import (
	"bytes"
	"encoding/json"
)

// utf8BOM is the byte order mark some tools (Excel among them) write at the
// start of a UTF-8 file; it is not part of the first line's content.
var utf8BOM = []byte("\xef\xbb\xbf")

// readNDJSON reads one item object per line. Blank lines are skipped; the
// first non-blank line may instead be {"defaults": {...}}. Lines are not
// decoded here: a line that is not an object is reported by validation, with
// its line number, like any other broken item.
func readNDJSON(body []byte, max int) (batchInput, error) {
	var in batchInput
	body = bytes.TrimPrefix(body, utf8BOM)
	first := true
	for n := 1; len(body) > 0; n++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if first {
			first = false
			if d, ok, err := defaultsLine(line); ok {
				if err != nil {
					return batchInput{}, err
				}
				in.defaults = d
				continue
			}
		}
		if len(in.items) == max {
			return batchInput{}, errTooManyItems(max)
		}
		in.items = append(in.items, batchItem{line: n, raw: line})
	}
	if len(in.items) == 0 {
		return batchInput{}, errNoItems()
	}
	return in, nil
}

// defaultsLine reports whether line is {"defaults": {...}} and decodes it.
func defaultsLine(line []byte) (fields, bool, error) {
	if !bytes.Contains(line, []byte(`"defaults"`)) {
		return nil, false, nil
	}
	var f fields
	if json.Unmarshal(line, &f) != nil || len(f) != 1 || f["defaults"] == nil {
		return nil, false, nil
	}
	d, err := decodeDefaults(f["defaults"])
	return d, true, err
}
