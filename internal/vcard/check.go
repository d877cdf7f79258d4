package vcard

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Check reports whether v has the shape Build produces: BEGIN:VCARD and
// VERSION:3.0 first, END:VCARD last and nowhere else, "\n" between lines and
// no CR, and in between only N and FN (once each, naming the same person),
// and at most one each of ORG, TEL and EMAIL. Text values must be correctly
// escaped and free of control characters. It does not parse vCards in
// general; it guards what wacard sends, in tests and before sending.
func Check(v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: invalid UTF-8", ErrMalformed)
	}
	if strings.ContainsRune(v, '\r') {
		return fmt.Errorf("%w: contains a carriage return", ErrMalformed)
	}
	lines := strings.Split(v, "\n")
	if len(lines) < 5 || lines[0] != "BEGIN:VCARD" || lines[1] != "VERSION:3.0" || lines[len(lines)-1] != "END:VCARD" {
		return fmt.Errorf("%w: must start with BEGIN:VCARD and VERSION:3.0 and end with END:VCARD", ErrMalformed)
	}

	seen := make(map[string]bool, 5)
	var nName, fnName string
	for i, line := range lines[2 : len(lines)-1] {
		prop, value, err := checkLine(line)
		if err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrMalformed, i+3, err)
		}
		if seen[prop] {
			return fmt.Errorf("%w: line %d: second %s", ErrMalformed, i+3, prop)
		}
		seen[prop] = true
		switch prop {
		case "N":
			nName = value
		case "FN":
			fnName = value
		}
	}
	switch {
	case !seen["N"] || !seen["FN"]:
		return fmt.Errorf("%w: N and FN are required", ErrMalformed)
	case nName != fnName:
		return fmt.Errorf("%w: N and FN name different people", ErrMalformed)
	}
	return nil
}

// checkLine checks one property line and returns the property's name and,
// for N and FN, the escaped name it holds.
func checkLine(line string) (prop, name string, err error) {
	switch {
	case strings.HasPrefix(line, "N:"):
		// N:;<given>;;; — the name sits in the second of five components.
		parts := splitUnescaped(line[len("N:"):], ';')
		if len(parts) != 5 || parts[0] != "" || parts[2] != "" || parts[3] != "" || parts[4] != "" {
			return "N", "", fmt.Errorf("N must be ;<name>;;;")
		}
		return "N", parts[1], checkText(parts[1])
	case strings.HasPrefix(line, "FN:"):
		v := line[len("FN:"):]
		return "FN", v, checkText(v)
	case strings.HasPrefix(line, "ORG:"):
		return "ORG", "", checkText(line[len("ORG:"):])
	case strings.HasPrefix(line, "EMAIL;type=INTERNET:"):
		return "EMAIL", "", checkText(line[len("EMAIL;type=INTERNET:"):])
	case strings.HasPrefix(line, "TEL;type=CELL;waid="):
		rest := line[len("TEL;type=CELL;waid="):]
		waid, display, ok := strings.Cut(rest, ":")
		if !ok || waid == "" || strings.Trim(waid, "0123456789") != "" {
			return "TEL", "", fmt.Errorf("waid must be digits")
		}
		return "TEL", "", checkText(display)
	case strings.HasPrefix(line, "TEL;type=CELL:"):
		return "TEL", "", checkText(line[len("TEL;type=CELL:"):])
	}
	return "", "", fmt.Errorf("unknown property")
}

// checkText checks an escaped text value: not empty, no control characters,
// no unescaped ";" or ",", and only the escapes \\ \, \; and \n.
func checkText(v string) error {
	if v == "" {
		return fmt.Errorf("empty value")
	}
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
			if i == len(v) || !strings.ContainsRune(`\,;n`, rune(v[i])) {
				return fmt.Errorf("bad escape")
			}
		case ';', ',':
			return fmt.Errorf("unescaped %q", v[i])
		}
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}

// splitUnescaped splits s at each sep that no backslash escapes.
func splitUnescaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}
