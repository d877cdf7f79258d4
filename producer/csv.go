package producer

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// csvColumns are the columns a batch CSV may name, each an item field.
var csvColumns = map[string]bool{
	"phone": true, "contact_name": true, "contact_phone": true, "is_forwarded": true,
	"duration": true, "contact_organization": true, "contact_email": true,
}

// csvRequired are the columns every batch CSV must have: without one, every
// row would fail for the same reason, so the header is rejected instead.
var csvRequired = [...]string{"phone", "contact_name", "contact_phone"}

// readCSV reads a header row naming item fields, then one item per row. An
// empty cell leaves its field unset. A UTF-8 byte order mark is skipped, and
// header names are matched without regard to case or surrounding spaces;
// columns that name no field are ignored and listed. Rows with the wrong
// number of cells are reported as broken items; malformed quoting ends the
// whole body, since the rows after it cannot be trusted.
func readCSV(body []byte, max int) (batchInput, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, utf8BOM)))
	r.FieldsPerRecord = -1 // ragged rows are reported per row, below
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return batchInput{}, errNoItems()
	}
	if err != nil {
		return batchInput{}, csvSyntaxError(err)
	}
	var in batchInput
	cols, err := csvHeader(header, &in)
	if err != nil {
		return batchInput{}, err
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return batchInput{}, csvSyntaxError(err)
		}
		line, _ := r.FieldPos(0)
		if len(in.items) == max {
			return batchInput{}, errTooManyItems(max)
		}
		in.items = append(in.items, csvItem(rec, cols, line))
	}
	if len(in.items) == 0 {
		return batchInput{}, errNoItems()
	}
	return in, nil
}

// csvHeader maps each column to its field name ("" = ignored).
func csvHeader(header []string, in *batchInput) ([]string, error) {
	cols := make([]string, len(header))
	seen := map[string]bool{}
	var errs []FieldError
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		switch {
		case name == "": // a trailing comma, say: nothing to report
		case !csvColumns[name]:
			in.ignored = append(in.ignored, h)
		case seen[name]:
			errs = append(errs, FieldError{Field: name, Rule: "appears twice in the CSV header", Line: 1})
		default:
			seen[name] = true
			cols[i] = name
		}
	}
	for _, name := range csvRequired {
		if !seen[name] {
			errs = append(errs, FieldError{Field: name, Rule: fmt.Sprintf("is required: the CSV header (line 1) has no %s column", name), Line: 1})
		}
	}
	if len(errs) > 0 {
		return nil, validationError(errs)
	}
	return cols, nil
}

// csvItem turns one row into item fields: text cells as JSON strings,
// is_forwarded and duration as the JSON values they spell when they do (so
// the usual rules judge them), else as strings that those rules reject.
func csvItem(rec, cols []string, line int) batchItem {
	it := batchItem{line: line, f: make(fields, len(cols))}
	if len(rec) != len(cols) {
		it.errs = append(it.errs, FieldError{Field: "row", Rule: fmt.Sprintf("has %d cells; the header has %d", len(rec), len(cols))})
		return it
	}
	for i, v := range rec {
		name := cols[i]
		if name == "" || v == "" {
			continue
		}
		if !utf8.ValidString(v) {
			it.errs = append(it.errs, FieldError{Field: name, Rule: "must be valid UTF-8"})
			continue
		}
		it.f[name] = csvValue(name, v)
	}
	return it
}

func csvValue(name, v string) json.RawMessage {
	t := strings.TrimSpace(v)
	switch name {
	case "is_forwarded":
		switch strings.ToLower(t) {
		case "true", "1":
			return json.RawMessage("true")
		case "false", "0":
			return json.RawMessage("false")
		}
	case "duration":
		if t != "" && (t[0] == '-' || t[0] >= '0' && t[0] <= '9') && json.Valid([]byte(t)) {
			return json.RawMessage(t)
		}
	}
	b, _ := json.Marshal(v) // a valid UTF-8 string always marshals
	return b
}

func csvSyntaxError(err error) error {
	fe := FieldError{Field: "body", Rule: "must be valid CSV: " + err.Error()}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		fe.Rule = "must be valid CSV: " + pe.Err.Error()
		fe.Line = pe.Line
	}
	return validationError([]FieldError{fe})
}
