package producer

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// node is a JSON value that keeps the order of object keys, so the docs page
// lists paths, fields and examples in the order openapi.json gives them.
type node struct {
	kind nodeKind
	keys []string         // object keys in order
	vals map[string]*node // object values
	arr  []*node          // array elements
	val  any              // scalar: string, json.Number, bool or nil
}

type nodeKind int

const (
	scalarNode nodeKind = iota
	objectNode
	arrayNode
)

func parseNode(b []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n, err := readNode(dec)
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return n, nil
}

func readNode(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		n := &node{kind: objectNode, vals: map[string]*node{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			v, err := readNode(dec)
			if err != nil {
				return nil, err
			}
			if _, dup := n.vals[k]; !dup {
				n.keys = append(n.keys, k)
			}
			n.vals[k] = v
		}
		_, err = dec.Token() // '}'
		return n, err
	case json.Delim('['):
		n := &node{kind: arrayNode}
		for dec.More() {
			v, err := readNode(dec)
			if err != nil {
				return nil, err
			}
			n.arr = append(n.arr, v)
		}
		_, err = dec.Token() // ']'
		return n, err
	}
	return &node{kind: scalarNode, val: tok}, nil
}

// get is an object's member; nil when n is nil, not an object or lacks it.
func (n *node) get(key string) *node {
	if n == nil || n.kind != objectNode {
		return nil
	}
	return n.vals[key]
}

// str is the string member key, or n itself when key is "".
func (n *node) str(key string) string {
	if key != "" {
		n = n.get(key)
	}
	if n == nil {
		return ""
	}
	s, _ := n.val.(string)
	return s
}

// list is an array's elements; nil when n is nil or not an array.
func (n *node) list() []*node {
	if n == nil {
		return nil
	}
	return n.arr
}

func (n *node) bool(key string) bool {
	b, _ := n.get(key).valOrNil().(bool)
	return b
}

func (n *node) valOrNil() any {
	if n == nil {
		return nil
	}
	return n.val
}

// MarshalJSON writes n back in its order.
func (n *node) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	switch n.kind {
	case objectNode:
		buf.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			buf.Write(kb)
			buf.WriteByte(':')
			vb, err := n.vals[k].MarshalJSON()
			if err != nil {
				return nil, err
			}
			buf.Write(vb)
		}
		buf.WriteByte('}')
	case arrayNode:
		buf.WriteByte('[')
		for i, v := range n.arr {
			if i > 0 {
				buf.WriteByte(',')
			}
			vb, err := v.MarshalJSON()
			if err != nil {
				return nil, err
			}
			buf.Write(vb)
		}
		buf.WriteByte(']')
	default:
		return json.Marshal(n.val)
	}
	return buf.Bytes(), nil
}

// lookup finds a local reference like #/components/schemas/Message.
func (n *node) lookup(ref string) *node {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	cur := n
	for _, part := range strings.Split(rest, "/") {
		cur = cur.get(strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~"))
	}
	return cur
}

// resolve follows x's $ref, if any, within the document n.
func (n *node) resolve(x *node) *node {
	x, _ = n.deref(x, nil)
	return x
}

// deref follows $refs, remembering those followed so a schema that contains
// itself ends instead of recursing for ever (nil when one repeats).
func (n *node) deref(x *node, seen []string) (*node, []string) {
	for x != nil {
		ref := x.str("$ref")
		if ref == "" {
			return x, seen
		}
		for _, s := range seen {
			if s == ref {
				return nil, seen
			}
		}
		seen = append(seen[:len(seen):len(seen)], ref)
		x = n.lookup(ref)
	}
	return nil, seen
}
