package jinja

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"

	"github.com/kilnhq/kiln/compiler/diag"
)

// SourceFile is one template file: a path for messages and its text.
type SourceFile struct {
	Path   string
	Source string
}

// Macro is one `{% macro %}` definition.
type Macro struct {
	Name    string
	Package string // "dbt" for kiln's built-ins, else the project name
	Pos     diag.Pos
	node    *nodes.Macro
	exe     *exec.Template
	ld      loaders.Loader
	// Execute is true when the body mentions execute-time features
	// (execute, run_query, statement, load_result, adapter introspection), so
	// a render that calls it must be redone at execute time.
	Execute bool
}

// Env is a parsed set of macros plus gonja configuration, shared by all
// renders. It is safe for concurrent use once built.
type Env struct {
	cfg         *config.Config
	environment *exec.Environment
	// macros by name: the project's own win over built-ins.
	macros   map[string]*Macro
	builtins map[string]*Macro // the "dbt" package
	// tests by name, from {% test %} blocks (generic tests).
	base *exec.Context
}

// NewEnv parses the built-in macro library and the project's macro files.
// Problems in any file are collected and returned together.
func NewEnv(project string, builtinFiles, files []SourceFile) (*Env, error) {
	cfg := config.New()
	cfg.KeepTrailingNewline = true
	controls := exec.NewControlStructureSet(map[string]parser.ControlStructureParser{})
	controls.Update(builtins.ControlStructures)
	e := &Env{
		cfg:      cfg,
		macros:   map[string]*Macro{},
		builtins: map[string]*Macro{},
	}
	origMacro, _ := controls.Get("macro")
	_ = controls.Replace("macro", macroParser(origMacro))
	e.environment = &exec.Environment{
		Filters:           exec.NewFilterSet(map[string]exec.FilterFunction{}).Update(builtins.Filters),
		Tests:             exec.NewTestSet(map[string]exec.TestFunction{}).Update(builtins.Tests),
		ControlStructures: controls,
		Methods:           builtins.Methods,
	}
	registerFilters(e.environment.Filters)
	var errs diag.List
	load := func(files []SourceFile, pkg string, into map[string]*Macro) {
		for _, f := range files {
			f.Source = RewriteTestBlocks(f.Source)
			t, err := e.Parse(f.Path, f.Source)
			if err != nil {
				errs.Add(err)
				continue
			}
			names := make([]string, 0, len(t.root.Macros))
			for n := range t.root.Macros {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				node := t.root.Macros[n]
				m := &Macro{
					Name:    n,
					Package: pkg,
					Pos:     diag.Pos{File: f.Path, Line: node.Location.Line, Col: node.Location.Col},
					node:    node,
					exe:     t.t,
					ld:      t.loader,
					Execute: mentionsExecute(macroSource(f.Source, node)),
				}
				if prev, dup := into[n]; dup {
					errs.Addf(m.Pos, "macro %q is defined twice (also at %s)", n, prev.Pos)
					continue
				}
				into[n] = m
			}
		}
	}
	load(builtinFiles, "dbt", e.builtins)
	load(files, project, e.macros)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	e.base = exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables)
	e.addStatics(e.base)
	return e, nil
}

// Parse parses one template. Syntax errors carry path:line:col.
func (e *Env) Parse(path, src string) (*Template, error) {
	loader, err := loaders.NewMemoryLoader(map[string]string{"/" + path: src})
	if err != nil {
		return nil, fmt.Errorf("preparing template %s: %w", path, err)
	}
	t, err := exec.NewTemplate("/"+path, e.cfg, loader, e.environment)
	if err != nil {
		return nil, syntaxError(path, err)
	}
	return &Template{Path: path, Source: src, t: t, loader: loader, root: t.Root(), Execute: mentionsExecute(src)}, nil
}

// Template is a parsed template.
type Template struct {
	Path    string
	Source  string
	t       *exec.Template
	loader  loaders.Loader
	root    *nodes.Template
	Execute bool // mentions execute-time features itself
}

// Macro returns the macro called name: the project's, else the built-in one.
func (e *Env) Macro(name string) (*Macro, bool) {
	if m, ok := e.macros[name]; ok {
		return m, true
	}
	m, ok := e.builtins[name]
	return m, ok
}

// MacroNames lists every callable macro name (for suggestions).
func (e *Env) MacroNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, set := range []map[string]*Macro{e.macros, e.builtins} {
		for n := range set {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// ProjectMacros returns the project's own macros by name.
func (e *Env) ProjectMacros() map[string]*Macro { return e.macros }

// macroSource returns the text of one macro definition, for scanning.
func macroSource(src string, node *nodes.Macro) string {
	lines := strings.Split(src, "\n")
	start := node.Location.Line - 1
	if start < 0 || start >= len(lines) {
		return src
	}
	rest := strings.Join(lines[start:], "\n")
	if i := strings.Index(rest, "endmacro"); i >= 0 {
		return rest[:i]
	}
	return rest
}

var executeWords = []string{"execute", "is_incremental", "run_query", "statement", "load_result", "get_columns_in_relation", "get_relation", "load_relation", "graph"}

func mentionsExecute(src string) bool {
	for _, w := range executeWords {
		if strings.Contains(src, w) {
			return true
		}
	}
	return false
}

var (
	testOpenRe  = regexp.MustCompile(`(\{%[-+]?\s*)test(\s+)([A-Za-z_][A-Za-z0-9_]*)\s*\(`)
	testCloseRe = regexp.MustCompile(`(\{%[-+]?\s*)endtest(\s*[-+]?%\})`)
)

// RewriteTestBlocks turns dbt's generic test blocks,
// `{% test name(model, column_name) %}...{% endtest %}`, into the macros
// they define: `test_name`. Lines are kept, so positions stay right.
func RewriteTestBlocks(src string) string {
	if !strings.Contains(src, "test") {
		return src
	}
	src = testOpenRe.ReplaceAllString(src, "${1}macro${2}test_${3}(")
	return testCloseRe.ReplaceAllString(src, "${1}endmacro${2}")
}

// Params returns the macro's parameter names and, of those, the ones with
// no default value.
func (m *Macro) Params() (names, required []string) {
	for _, p := range m.node.Kwargs {
		key, ok := p.Key.(*nodes.String)
		if !ok {
			continue
		}
		names = append(names, key.Val)
		if none, ok := p.Value.(*nodes.None); ok && none.Location == key.Location {
			required = append(required, key.Val)
		}
	}
	return names, required
}

// AcceptsKwargs reports whether the macro takes **kwargs.
func (m *Macro) AcceptsKwargs() bool { return m.node.KwArgsName != "" }
