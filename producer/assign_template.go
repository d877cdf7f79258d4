package producer

import (
	"fmt"
	"strings"
)

// Placeholders of assignment templates.
const (
	phRepName  = "rep_name"
	phRepPhone = "rep_phone"
	phLeadName = "lead_name"
)

// template is a parsed assignment template: literal text and placeholders,
// alternating. Placeholders are {{rep_name}}, {{rep_phone}} and {{lead_name}},
// with optional spaces inside the braces.
type template struct {
	parts []templatePart
}

type templatePart struct {
	lit string // literal text, or
	ph  string // a placeholder name
}

// parseTemplate parses s; an unknown or unclosed placeholder is an error.
func parseTemplate(s string) (template, error) {
	var t template
	for {
		open := strings.Index(s, "{{")
		if open < 0 {
			break
		}
		end := strings.Index(s[open+2:], "}}")
		if end < 0 {
			return template{}, fmt.Errorf(`has "{{" without a closing "}}"`)
		}
		name := strings.TrimSpace(s[open+2 : open+2+end])
		switch name {
		case phRepName, phRepPhone, phLeadName:
		default:
			return template{}, fmt.Errorf("has an unknown placeholder {{%s}}; use {{rep_name}}, {{rep_phone}} or {{lead_name}}", name)
		}
		if open > 0 {
			t.parts = append(t.parts, templatePart{lit: s[:open]})
		}
		t.parts = append(t.parts, templatePart{ph: name})
		s = s[open+2+end+2:]
	}
	if s != "" {
		t.parts = append(t.parts, templatePart{lit: s})
	}
	return t, nil
}

// uses reports whether t has the placeholder ph.
func (t template) uses(ph string) bool {
	for _, p := range t.parts {
		if p.ph == ph {
			return true
		}
	}
	return false
}

// templateVals are the values of the placeholders for one lead.
type templateVals struct {
	repName, repPhone, leadName string
}

// render fills t in with v.
func (t template) render(v templateVals) string {
	var b strings.Builder
	for _, p := range t.parts {
		switch p.ph {
		case "":
			b.WriteString(p.lit)
		case phRepName:
			b.WriteString(v.repName)
		case phRepPhone:
			b.WriteString(v.repPhone)
		case phLeadName:
			b.WriteString(v.leadName)
		}
	}
	return b.String()
}
