package project

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

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
	Scalar any // string, int64, uint64, float64, bool or nil
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
// gives an empty map. Syntax errors carry file:line:col.
func ParseYAML(file string, src []byte) (*Node, error) {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil, yamlError(file, err)
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return &Node{Kind: MapNode, Map: map[string]*Node{}, Pos: diag.Pos{File: file, Line: 1}}, nil
	}
	return convert(file, f.Docs[0].Body)
}

func yamlError(file string, err error) error {
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

func posOf(file string, n ast.Node) diag.Pos {
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return diag.Pos{File: file}
	}
	return diag.Pos{File: file, Line: tk.Position.Line, Col: tk.Position.Column}
}

func convert(file string, n ast.Node) (*Node, error) {
	switch v := n.(type) {
	case *ast.DocumentNode:
		return convert(file, v.Body)
	case *ast.TagNode:
		return convert(file, v.Value)
	case *ast.AnchorNode:
		return convert(file, v.Value)
	case *ast.MappingValueNode:
		m := &Node{Kind: MapNode, Map: map[string]*Node{}, KeyPos: map[string]diag.Pos{}, Pos: posOf(file, v.Key)}
		if err := addPair(file, m, v); err != nil {
			return nil, err
		}
		return m, nil
	case *ast.MappingNode:
		m := &Node{Kind: MapNode, Map: map[string]*Node{}, KeyPos: map[string]diag.Pos{}, Pos: posOf(file, v)}
		for _, mv := range v.Values {
			if err := addPair(file, m, mv); err != nil {
				return nil, err
			}
		}
		if len(v.Values) > 0 {
			m.Pos = posOf(file, v.Values[0].Key)
		}
		return m, nil
	case *ast.SequenceNode:
		l := &Node{Kind: ListNode, Pos: posOf(file, v)}
		for _, item := range v.Values {
			c, err := convert(file, item)
			if err != nil {
				return nil, err
			}
			l.List = append(l.List, c)
		}
		return l, nil
	case *ast.AliasNode:
		return nil, diag.At(posOf(file, v), "YAML aliases are not supported here")
	case *ast.NullNode:
		return &Node{Kind: ScalarNode, Pos: posOf(file, v)}, nil
	case *ast.LiteralNode:
		return &Node{Kind: ScalarNode, Scalar: v.Value.GetValue(), Pos: posOf(file, v)}, nil
	case ast.ScalarNode:
		return &Node{Kind: ScalarNode, Scalar: v.GetValue(), Pos: posOf(file, n)}, nil
	case nil:
		return &Node{Kind: ScalarNode}, nil
	}
	return nil, diag.At(posOf(file, n), "unsupported YAML construct %s", n.Type())
}

func addPair(file string, m *Node, mv *ast.MappingValueNode) error {
	if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
		return diag.At(posOf(file, mv.Key), "YAML merge keys are not supported here")
	}
	sk, ok := mv.Key.(ast.ScalarNode)
	if !ok {
		return diag.At(posOf(file, mv.Key), "map keys must be plain strings")
	}
	key := fmt.Sprint(sk.GetValue())
	val, err := convert(file, mv.Value)
	if err != nil {
		return err
	}
	if val.Pos.Line == 0 {
		val.Pos = posOf(file, mv.Key)
	}
	if _, dup := m.Map[key]; dup {
		return diag.At(posOf(file, mv.Key), "duplicate key %q", key)
	}
	m.Keys = append(m.Keys, key)
	m.Map[key] = val
	m.KeyPos[key] = posOf(file, mv.Key)
	return nil
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
	if u, ok := n.Scalar.(uint64); ok {
		return int64(u)
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
