package producer

import (
	"bytes"
	"encoding/json"
	"fmt"
	html "html/template"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// The API describes itself: openapi.json (embedded, written by hand next to
// routes.go; a test keeps the two in step) is served as is at /openapi.json
// and rendered on the server as a page at /docs, which needs no script and
// nothing from the network.

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	b, _ := web.ReadFile("openapi.json")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(b)
}

func (s *Server) handleDocs(w http.ResponseWriter, r *http.Request) {
	v, err := apiDocs()
	if err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	nonce := newNonce()
	var buf bytes.Buffer
	if err := docsPage.Execute(&buf, struct {
		*docView
		Nonce string
	}{v, nonce}); err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	pageHeaders(w, nonce)
	_, _ = w.Write(buf.Bytes())
}

var docsFuncs = html.FuncMap{"lower": strings.ToLower, "md": inlineCode}

var backticked = regexp.MustCompile("`([^`]+)`")

// inlineCode escapes s and shows its `backticked` spans as code, the only
// markup the descriptions use.
func inlineCode(s string) html.HTML {
	return html.HTML(backticked.ReplaceAllString(html.HTMLEscapeString(s), "<code>$1</code>"))
}

// apiDocs is the page's view of openapi.json, built once.
var apiDocs = sync.OnceValues(func() (*docView, error) {
	b, err := web.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	spec, err := parseNode(b)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	return buildDocs(spec), nil
})

// docView is what the docs page shows.
type docView struct {
	Title, Version, Description string
	Tags                        []*tagView
}

type tagView struct {
	Name, Description string
	Ops               []opView
}

type opView struct {
	Method, Path, Anchor, Summary, Description string
	Open                                       bool // needs no API key
	Params                                     []paramView
	Bodies                                     []mediaView
	BodyRequired                               bool
	Responses                                  []respView
}

type paramView struct {
	Name, In, Type, Description string
	Required                    bool
}

type mediaView struct {
	Type    string
	Fields  []fieldView
	Example string
}

type respView struct {
	Status, Description string
	Media               []mediaView
}

type fieldView struct {
	Name, Type, Description string
	Depth                   int
	Required                bool
}

func buildDocs(spec *node) *docView {
	info := spec.get("info")
	v := &docView{Title: info.str("title"), Version: info.str("version"), Description: info.str("description")}
	byTag := map[string]*tagView{}
	for _, t := range spec.get("tags").list() {
		tv := &tagView{Name: t.str("name"), Description: t.str("description")}
		byTag[tv.Name] = tv
		v.Tags = append(v.Tags, tv)
	}
	globalOpen := len(spec.get("security").list()) == 0
	paths := spec.get("paths")
	for _, path := range paths.keys {
		item := paths.get(path)
		for _, method := range item.keys {
			o := item.get(method)
			ov := opView{Method: strings.ToUpper(method), Path: path, Summary: o.str("summary"), Description: o.str("description"),
				Anchor: method + "-" + strings.NewReplacer("/", "-", "{", "", "}", "", ".", "-").Replace(strings.Trim(path, "/"))}
			ov.Open = globalOpen
			if sec := o.get("security"); sec != nil {
				ov.Open = len(sec.list()) == 0
			}
			for _, p := range o.get("parameters").list() {
				p = spec.resolve(p)
				ov.Params = append(ov.Params, paramView{Name: p.str("name"), In: p.str("in"), Required: p.bool("required"),
					Type: docType(spec, p.get("schema")), Description: p.str("description")})
			}
			if rb := spec.resolve(o.get("requestBody")); rb != nil {
				ov.BodyRequired = rb.bool("required")
				ov.Bodies = docMedia(spec, rb.get("content"))
			}
			resps := o.get("responses")
			codes := append([]string(nil), resps.keys...)
			sort.Strings(codes)
			for _, code := range codes {
				rv := spec.resolve(resps.get(code))
				ov.Responses = append(ov.Responses, respView{Status: code, Description: rv.str("description"), Media: docMedia(spec, rv.get("content"))})
			}
			tag := "Other"
			if tags := o.get("tags"); tags != nil && len(tags.list()) > 0 {
				tag = tags.list()[0].str("")
			}
			tv := byTag[tag]
			if tv == nil {
				tv = &tagView{Name: tag}
				byTag[tag] = tv
				v.Tags = append(v.Tags, tv)
			}
			tv.Ops = append(tv.Ops, ov)
		}
	}
	return v
}

func docMedia(spec, content *node) []mediaView {
	if content == nil {
		return nil
	}
	var out []mediaView
	for _, mt := range content.keys {
		m := content.get(mt)
		mv := mediaView{Type: mt}
		if sc := m.get("schema"); sc != nil {
			mv.Fields = docFields(spec, sc, "", 0, nil)
		}
		if ex := m.get("example"); ex != nil {
			if s, ok := ex.val.(string); ok && ex.kind == scalarNode {
				mv.Example = s
			} else {
				b, _ := json.MarshalIndent(ex, "", "  ")
				mv.Example = string(b)
			}
		}
		out = append(out, mv)
	}
	return out
}

// maxFieldDepth bounds how deep nested objects are listed.
const maxFieldDepth = 4

// docFields flattens an object schema into rows: results.items[].message_id.
func docFields(spec, sc *node, prefix string, depth int, seen []string) []fieldView {
	sc, seen = spec.deref(sc, seen)
	if sc == nil || depth > maxFieldDepth {
		return nil
	}
	if items := sc.get("items"); sc.str("type") == "array" && items != nil {
		return docFields(spec, items, prefix+"[]", depth, seen)
	}
	props, required := docProperties(spec, sc, seen)
	var out []fieldView
	for _, name := range props.keys {
		p := props.vals[name]
		full := name
		if prefix != "" {
			full = prefix + "." + name
		}
		out = append(out, fieldView{Name: full, Type: docType(spec, p), Description: docDescribe(spec, p), Depth: depth, Required: required[name]})
		out = append(out, docFields(spec, p, full, depth+1, seen)...)
	}
	return out
}

// docProperties merges a schema's own properties with those of its allOf parts.
func docProperties(spec, sc *node, seen []string) (*node, map[string]bool) {
	props := &node{kind: objectNode, vals: map[string]*node{}}
	required := map[string]bool{}
	var add func(sc *node, seen []string)
	add = func(sc *node, seen []string) {
		sc, seen = spec.deref(sc, seen)
		if sc == nil {
			return
		}
		for _, part := range sc.get("allOf").list() {
			add(part, seen)
		}
		if ps := sc.get("properties"); ps != nil {
			for _, k := range ps.keys {
				if _, dup := props.vals[k]; !dup {
					props.keys = append(props.keys, k)
				}
				props.vals[k] = ps.vals[k]
			}
		}
		for _, r := range sc.get("required").list() {
			required[r.str("")] = true
		}
	}
	add(sc, seen)
	return props, required
}

// docType names a schema's type: "string (date-time)", "array of Contact".
func docType(spec, sc *node) string {
	if sc == nil {
		return ""
	}
	if ref := sc.str("$ref"); ref != "" {
		name := ref[strings.LastIndex(ref, "/")+1:]
		if t := spec.resolve(sc); t != nil && t.str("type") != "" && t.str("type") != "object" && t.get("enum") == nil {
			return docType(spec, t)
		}
		if t := spec.resolve(sc); t != nil && t.get("enum") != nil {
			return "string (" + name + ")"
		}
		return name
	}
	t := sc.str("type")
	switch {
	case t == "array":
		return "array of " + docType(spec, sc.get("items"))
	case t == "" && sc.get("allOf") != nil:
		return "object"
	case t == "":
		return "any"
	case sc.str("format") != "":
		return t + " (" + sc.str("format") + ")"
	}
	return t
}

// docDescribe is a schema's description with its enum, limits and default.
func docDescribe(spec, sc *node) string {
	d, _ := spec.deref(sc, nil)
	if d == nil {
		return ""
	}
	parts := []string{}
	if s := sc.str("description"); s != "" {
		parts = append(parts, s)
	} else if s := d.str("description"); s != "" && sc.str("$ref") == "" {
		parts = append(parts, s)
	}
	if e := d.get("enum"); e != nil {
		vals := make([]string, len(e.list()))
		for i, v := range e.list() {
			vals[i] = v.str("")
		}
		parts = append(parts, "One of: "+strings.Join(vals, ", ")+".")
	}
	for _, c := range []struct{ key, text string }{
		{"minimum", "Minimum %s."}, {"maximum", "Maximum %s."}, {"minLength", "At least %s characters."},
		{"maxLength", "At most %s characters."}, {"minItems", "At least %s items."}, {"maxItems", "At most %s items."},
		{"pattern", "Pattern %s."}, {"default", "Default %s."},
	} {
		if v := d.get(c.key); v != nil {
			b, _ := json.Marshal(v)
			parts = append(parts, fmt.Sprintf(c.text, b))
		}
	}
	return strings.Join(parts, " ")
}
