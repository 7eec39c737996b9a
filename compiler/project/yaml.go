package project

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	goccy "github.com/goccy/go-yaml/parser"
	yaml "gopkg.in/yaml.v3"

	"github.com/kilnhq/kiln/compiler/diag"
)

// Node is a YAML value with the position it came from. Exactly one of Map,
// List or Scalar is meaningful, by Kind.
type Node struct {
	Kind   NodeKind
	Keys   []string         // map keys in file order
	Map    map[string]*Node // map values
	KeyPos map[string]diag.Pos
	List   []*Node
	Scalar any // string, int64, float64, bool or nil
	Pos    diag.Pos
}

// NodeKind is the shape of a Node.
type NodeKind int

// Node kinds.
const (
	ScalarNode NodeKind = iota
	MapNode
	ListNode
)

// ParseYAML parses one YAML document into a Node tree. An empty document
// gives an empty map. Syntax errors carry file:line.
func ParseYAML(file string, src []byte) (*Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		// yaml.v3 often reports the line where the enclosing block starts;
		// goccy/go-yaml points at the offending token, so ask it for the
		// position (errors are rare, so the second parse costs nothing).
		if _, gerr := goccy.ParseBytes(src, 0); gerr != nil {
			return nil, goccyError(file, gerr)
		}
		return nil, yamlError(file, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return &Node{Kind: MapNode, Map: map[string]*Node{}, KeyPos: map[string]diag.Pos{}, Pos: diag.Pos{File: file, Line: 1}}, nil
	}
	return convert(file, doc.Content[0])
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  ")
	line := 0
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return diag.At(diag.Pos{File: file, Line: line}, "invalid YAML: %s", strings.TrimSpace(msg))
}

func goccyError(file string, err error) error {
	// goccy errors print "[line:col] message" followed by a source excerpt.
	msg := err.Error()
	line, col := 0, 0
	if _, scanErr := fmt.Sscanf(msg, "[%d:%d]", &line, &col); scanErr == nil {
		if i := strings.Index(msg, "] "); i >= 0 {
			msg = msg[i+2:]
		}
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return diag.At(diag.Pos{File: file, Line: line, Col: col}, "invalid YAML: %s", strings.TrimSpace(msg))
}

func posOf(file string, n *yaml.Node) diag.Pos {
	return diag.Pos{File: file, Line: n.Line, Col: n.Column}
}

func convert(file string, n *yaml.Node) (*Node, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &Node{Kind: ScalarNode, Pos: posOf(file, n)}, nil
		}
		return convert(file, n.Content[0])
	case yaml.AliasNode:
		return convert(file, n.Alias)
	case yaml.MappingNode:
		m := &Node{Kind: MapNode, Map: make(map[string]*Node, len(n.Content)/2), KeyPos: make(map[string]diag.Pos, len(n.Content)/2), Pos: posOf(file, n)}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				if err := mergeInto(file, m, v); err != nil {
					return nil, err
				}
				continue
			}
			if k.Kind != yaml.ScalarNode {
				return nil, diag.At(posOf(file, k), "map keys must be plain strings")
			}
			val, err := convert(file, v)
			if err != nil {
				return nil, err
			}
			if _, dup := m.Map[k.Value]; dup {
				return nil, diag.At(posOf(file, k), "duplicate key %q", k.Value)
			}
			m.Keys = append(m.Keys, k.Value)
			m.Map[k.Value] = val
			m.KeyPos[k.Value] = posOf(file, k)
		}
		return m, nil
	case yaml.SequenceNode:
		l := &Node{Kind: ListNode, Pos: posOf(file, n), List: make([]*Node, 0, len(n.Content))}
		for _, item := range n.Content {
			c, err := convert(file, item)
			if err != nil {
				return nil, err
			}
			l.List = append(l.List, c)
		}
		return l, nil
	case yaml.ScalarNode:
		v, err := scalar(n)
		if err != nil {
			return nil, diag.At(posOf(file, n), "invalid YAML value %q: %v", n.Value, err)
		}
		return &Node{Kind: ScalarNode, Scalar: v, Pos: posOf(file, n)}, nil
	}
	return nil, diag.At(posOf(file, n), "unsupported YAML construct")
}

// mergeInto applies a `<<:` merge key: keys already present win.
func mergeInto(file string, m *Node, v *yaml.Node) error {
	src, err := convert(file, v)
	if err != nil {
		return err
	}
	var maps []*Node
	switch src.Kind {
	case MapNode:
		maps = []*Node{src}
	case ListNode:
		maps = src.List
	}
	for _, s := range maps {
		if s.Kind != MapNode {
			return diag.At(s.Pos, "a YAML merge key needs a mapping")
		}
		for _, k := range s.Keys {
			if _, ok := m.Map[k]; !ok {
				m.Keys = append(m.Keys, k)
				m.Map[k] = s.Map[k]
				m.KeyPos[k] = s.KeyPos[k]
			}
		}
	}
	return nil
}

func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!str", "!!binary", "!!timestamp":
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return i, nil
		}
		var i int64
		if err := n.Decode(&i); err != nil {
			return n.Value, nil
		}
		return i, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return n.Value, nil
		}
		return f, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return n.Value, nil
}

// Get returns the child of a map node, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != MapNode {
		return nil
	}
	return n.Map[key]
}

// IsNull reports whether n is absent or a YAML null.
func (n *Node) IsNull() bool { return n == nil || (n.Kind == ScalarNode && n.Scalar == nil) }

// String returns a scalar as a string ("" for null or non-scalars).
func (n *Node) String() string {
	if n == nil || n.Kind != ScalarNode || n.Scalar == nil {
		return ""
	}
	if s, ok := n.Scalar.(string); ok {
		return s
	}
	return fmt.Sprint(n.Scalar)
}

// Value converts the node to plain Go values: map[string]any, []any and
// scalars.
func (n *Node) Value() any {
	if n == nil {
		return nil
	}
	switch n.Kind {
	case MapNode:
		m := make(map[string]any, len(n.Keys))
		for _, k := range n.Keys {
			m[k] = n.Map[k].Value()
		}
		return m
	case ListNode:
		l := make([]any, len(n.List))
		for i, c := range n.List {
			l[i] = c.Value()
		}
		return l
	}
	return n.Scalar
}

// StringList accepts a string or a list of strings.
func (n *Node) StringList() ([]string, error) {
	if n.IsNull() {
		return nil, nil
	}
	switch n.Kind {
	case ScalarNode:
		return []string{n.String()}, nil
	case ListNode:
		out := make([]string, 0, len(n.List))
		for _, c := range n.List {
			if c.Kind != ScalarNode {
				return nil, diag.At(c.Pos, "expected a string")
			}
			out = append(out, c.String())
		}
		return out, nil
	}
	return nil, diag.At(n.Pos, "expected a string or a list of strings")
}
