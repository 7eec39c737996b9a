package jinja

import (
	"fmt"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
)

// inlineMacro is a `{% macro %}` met while rendering (defined in a model or
// test file rather than a macro file). It behaves like macro-file macros,
// including dbt's return().
type inlineMacro struct {
	nodes.ControlStructure
	node *nodes.Macro
}

func (m *inlineMacro) Execute(r *exec.Renderer, tag *nodes.ControlStructureBlock) error {
	st := stateOf(r.Environment.Context)
	if st == nil {
		return fmt.Errorf("macro %s defined outside a render", m.node.Name)
	}
	mac := &Macro{Name: m.node.Name, node: m.node, exe: r.Template, ld: r.Loader, Execute: true}
	mac.Pos.Line = m.node.Location.Line
	r.Environment.Context.Set(m.node.Name, st.env.macroFunc(mac))
	return nil
}

// macroParser wraps gonja's macro parser so definitions bind kiln's macro
// calling convention.
func macroParser(orig parser.ControlStructureParser) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		cs, err := orig(p, args)
		if err != nil {
			return nil, err
		}
		var node *nodes.Macro
		for _, m := range p.Template.Macros {
			if m.Location == cs.Position() {
				node = m
			}
		}
		if node == nil {
			return cs, nil
		}
		return &inlineMacro{ControlStructure: cs, node: node}, nil
	}
}
