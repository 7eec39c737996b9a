package compiler

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"

	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/jinja"
)

// callKind is what a placeholder in a parse-time render stands for.
type callKind int

const (
	callRef callKind = iota
	callSource
	callThis
)

// call is one ref()/source()/this met while parsing a template.
type call struct {
	kind callKind
	pkg  string
	name string // ref name, or source name
	tbl  string // source table
}

// parsedRender is what the parse-time render of one file recorded.
type parsedRender struct {
	output  string
	used    bool // needs an execute-time render
	calls   []call
	configs []map[string]any
}

const tokenMark = "\x00"

func token(i int) string { return tokenMark + strconv.Itoa(i) + tokenMark }

// configValue is dbt's `config`: config(...) records settings, and
// config.get / config.require read the node's configuration.
type configValue func(*exec.VarArgs) *exec.Value

type configObject struct {
	record func(map[string]any)
	read   func() map[string]any
}

// GetAttribute implements config.get and config.require for templates.
func (f configValue) GetAttribute(name string) (*exec.Value, bool) {
	obj, ok := f(nil).Interface().(*configObject)
	if !ok {
		return exec.AsValue(nil), false
	}
	switch name {
	case "get", "require":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value {
			key := va.First().String()
			if v, ok := obj.read()[key]; ok && v != nil {
				return exec.AsValue(v)
			}
			if len(va.Args) > 1 {
				return va.Args[1]
			}
			if d, ok := va.KwArgs["default"]; ok {
				return d
			}
			if name == "require" {
				return exec.AsValue(&jinja.CompilerError{Msg: fmt.Sprintf("config %q is required but not set", key)})
			}
			return exec.AsValue(nil)
		}), true
	case "set":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value {
			if obj.record != nil && len(va.Args) == 2 {
				obj.record(map[string]any{va.Args[0].String(): jinja.Plain(va.Args[1])})
			}
			return exec.AsValue("")
		}), true
	}
	return exec.AsValue(nil), false
}

func newConfigValue(obj *configObject) configValue {
	return func(va *exec.VarArgs) *exec.Value {
		if va == nil {
			return exec.AsValue(obj)
		}
		kw := map[string]any{}
		for k, v := range va.KwArgs {
			kw[k] = jinja.Plain(v)
		}
		if len(va.Args) == 1 && va.Args[0].IsDict() {
			va.Args[0].Iterate(func(_, _ int, k, v *exec.Value) bool {
				kw[k.String()] = jinja.Plain(v)
				return true
			}, func() {})
		}
		if obj.record != nil {
			obj.record(kw)
		}
		return exec.AsValue("")
	}
}

// contextBuilder makes the render context for one node.
type contextBuilder struct {
	c        *Compiler
	node     *Node
	execute  bool
	recorder *parsedRender
	ctx      context.Context
	adapter  jinja.Adapter // execute-time warehouse access, may be nil
	full     bool          // render as a full rebuild: is_incremental() is false
}

func (b *contextBuilder) globals() map[string]any {
	c, n := b.c, b.node
	g := map[string]any{
		"target":             c.targetMap,
		"project_name":       c.Project.Name,
		"flags":              map[string]any{"FULL_REFRESH": c.opts.FullRefresh, "WHICH": c.opts.Command},
		"invocation_id":      c.opts.InvocationID,
		"run_started_at":     jinja.PyTime{T: c.opts.StartedAt},
		"var":                b.varFunc(),
		"env_var":            b.envVarFunc(),
		"is_incremental":     b.isIncremental,
		"builtins":           map[string]any{},
		"graph":              map[string]any{"nodes": map[string]any{}, "sources": map[string]any{}},
		"selected_resources": []any{},
	}
	cfg := &configObject{read: func() map[string]any { return n.Config.Values }}
	if b.recorder != nil {
		rec := b.recorder
		cfg.record = func(kw map[string]any) { rec.configs = append(rec.configs, kw) }
		cfg.read = func() map[string]any {
			merged := map[string]any{}
			for k, v := range n.Config.Values {
				merged[k] = v
			}
			for _, kw := range rec.configs {
				for k, v := range kw {
					merged[k] = v
				}
			}
			return merged
		}
	}
	g["config"] = newConfigValue(cfg)
	g["ref"] = b.refFunc()
	g["source"] = b.sourceFunc()
	g["this"] = b.thisValue()
	g["model"] = b.modelMap()
	return g
}

// isIncremental is dbt's is_incremental(): true when an incremental model's
// relation already exists as a table and no full refresh was asked for.
func (b *contextBuilder) isIncremental(*exec.VarArgs) *exec.Value {
	n := b.node
	if !b.execute || b.full || b.adapter == nil || n.Materialized() != "incremental" || b.c.FullRefresh(n) {
		return exec.AsValue(false)
	}
	r, err := b.adapter.Relation(b.ctx, n.Database, n.Schema, n.Alias)
	if err != nil {
		return exec.AsValue(&jinja.CompilerError{Msg: "is_incremental(): " + err.Error()})
	}
	return exec.AsValue(r != nil && r.Type == "table")
}

func (b *contextBuilder) varFunc() func(*exec.VarArgs) *exec.Value {
	return func(va *exec.VarArgs) *exec.Value {
		name := va.First().String()
		if v, ok := b.c.Project.Vars[name]; ok {
			return exec.AsValue(v)
		}
		if len(va.Args) > 1 {
			return va.Args[1]
		}
		if d, ok := va.KwArgs["default"]; ok {
			return d
		}
		keys := make([]string, 0, len(b.c.Project.Vars))
		for k := range b.c.Project.Vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		e := &jinja.CompilerError{Msg: fmt.Sprintf("required var '%s' not found: define it under `vars:` in %s, pass --vars '{%s: ...}', or give var() a default", name, b.c.Project.File, name)}
		if s := diag.Closest(name, keys); s != "" {
			e.Hint = fmt.Sprintf("did you mean '%s'?", s)
		}
		return exec.AsValue(e)
	}
}

func (b *contextBuilder) envVarFunc() func(*exec.VarArgs) *exec.Value {
	return func(va *exec.VarArgs) *exec.Value {
		name := va.First().String()
		if v, ok := b.c.opts.Env[name]; ok {
			return exec.AsValue(v)
		}
		if len(va.Args) > 1 {
			return exec.AsValue(va.Args[1].String())
		}
		if d, ok := va.KwArgs["default"]; ok {
			return exec.AsValue(d.String())
		}
		return exec.AsValue(&jinja.CompilerError{Msg: fmt.Sprintf("env var required but not provided: '%s' (set it, or give env_var() a default: env_var('%s', 'value'))", name, name)})
	}
}

func (b *contextBuilder) refFunc() func(*exec.VarArgs) *exec.Value {
	return func(va *exec.VarArgs) *exec.Value {
		var pkg, name string
		switch len(va.Args) {
		case 1:
			name = va.Args[0].String()
		case 2:
			pkg, name = va.Args[0].String(), va.Args[1].String()
		default:
			return exec.AsValue(&jinja.CompilerError{Msg: fmt.Sprintf("ref() takes a model name, or a package and a model name; got %d arguments", len(va.Args))})
		}
		if b.recorder != nil {
			b.recorder.calls = append(b.recorder.calls, call{kind: callRef, pkg: pkg, name: name})
			r := &jinja.Relation{Token: token(len(b.recorder.calls) - 1), Identifier: name}
			r.OnRead(b.markUsed)
			return exec.AsValue(r)
		}
		target, err := b.c.resolveRef(b.node, pkg, name)
		if err != nil {
			return exec.AsValue(err)
		}
		return exec.AsValue(b.c.relationFor(target))
	}
}

func (b *contextBuilder) sourceFunc() func(*exec.VarArgs) *exec.Value {
	return func(va *exec.VarArgs) *exec.Value {
		if len(va.Args) != 2 {
			return exec.AsValue(&jinja.CompilerError{Msg: "source() takes a source name and a table name"})
		}
		src, tbl := va.Args[0].String(), va.Args[1].String()
		if b.recorder != nil {
			b.recorder.calls = append(b.recorder.calls, call{kind: callSource, name: src, tbl: tbl})
			r := &jinja.Relation{Token: token(len(b.recorder.calls) - 1), Identifier: tbl}
			r.OnRead(b.markUsed)
			return exec.AsValue(r)
		}
		target, err := b.c.resolveSource(b.node, src, tbl)
		if err != nil {
			return exec.AsValue(err)
		}
		return exec.AsValue(b.c.relationFor(target))
	}
}

func (b *contextBuilder) thisValue() *jinja.Relation {
	if b.recorder != nil {
		b.recorder.calls = append(b.recorder.calls, call{kind: callThis})
		r := &jinja.Relation{Token: token(len(b.recorder.calls) - 1), Identifier: b.node.Name}
		r.OnRead(b.markUsed)
		return r
	}
	return b.node.Relation()
}

func (b *contextBuilder) markUsed() {
	if b.recorder != nil {
		b.recorder.used = true
	}
}

func (b *contextBuilder) modelMap() map[string]any {
	n := b.node
	return map[string]any{
		"name":               n.Name,
		"unique_id":          n.UniqueID,
		"resource_type":      string(n.Type),
		"package_name":       n.Package,
		"path":               n.Path,
		"original_file_path": n.OriginalFilePath,
		"fqn":                n.FQN,
		"alias":              n.Alias,
		"schema":             n.Schema,
		"database":           n.Database,
		"config":             n.Config.Values,
		"tags":               n.Config.Tags(),
		"raw_code":           n.Raw,
		"description":        n.Description,
	}
}

// substitute replaces parse-time placeholders with resolved names.
func substitute(out string, names []string) string {
	if !strings.Contains(out, tokenMark) {
		return out
	}
	var b strings.Builder
	b.Grow(len(out))
	for {
		i := strings.Index(out, tokenMark)
		if i < 0 {
			b.WriteString(out)
			return b.String()
		}
		j := strings.Index(out[i+1:], tokenMark)
		if j < 0 {
			b.WriteString(out)
			return b.String()
		}
		idx, err := strconv.Atoi(out[i+1 : i+1+j])
		b.WriteString(out[:i])
		if err == nil && idx < len(names) {
			b.WriteString(names[idx])
		}
		out = out[i+j+2:]
	}
}
