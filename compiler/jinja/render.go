package jinja

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"

	"github.com/kilnhq/kiln/compiler/diag"
)

// Context is what one render sees besides the macros: the compiler fills
// Globals with ref, source, config, this, var, env_var, target, model and so
// on (plain values, or Go functions taking *exec.VarArgs).
type Context struct {
	Ctx     context.Context
	Globals map[string]any
	// Dialect is the adapter type used by adapter.dispatch ("postgres", "duckdb").
	Dialect string
	// Adapter answers introspection at execute time; nil while parsing.
	Adapter Adapter
	// Execute is dbt's `execute` flag.
	Execute bool
	// Log receives log()/print() output; nil discards it.
	Log func(msg string)
}

// Result is what a render reports besides its text.
type Result struct {
	Output string
	// UsedExecute is true when the render touched something whose value
	// differs at execute time (the execute flag, introspection, attributes of
	// deferred relations), so a parse-time render cannot stand in for the
	// compiled SQL.
	UsedExecute bool
}

// state is one render's private data, reachable from macros through the
// render context.
type state struct {
	env     *Env
	c       *Context
	root    *exec.Context
	used    bool
	results map[string]any // statement results by name
}

const (
	stateKey  = "__kiln__"
	frameKey  = "__kiln_frame__"
	callerKey = "__gonja_caller__"
)

type frame struct {
	returned bool
	ret      *exec.Value
}

var errReturn = errors.New("return() called")

// Render renders t with c.
func (e *Env) Render(t *Template, c *Context) (Result, error) {
	st := &state{env: e, c: c, used: t.Execute}
	root := e.base.Inherit()
	for k, v := range c.Globals {
		root.Set(k, v)
	}
	root.Set("execute", c.Execute)
	root.Set(stateKey, st)
	root.Set("adapter", &adapterObject{st: st})
	st.root = root
	var out strings.Builder
	r := exec.NewRenderer(e.environmentWith(root), &out, e.cfg, t.loader, t.t)
	if err := r.Execute(); err != nil {
		return Result{}, renderError(t.Path, err)
	}
	return Result{Output: out.String(), UsedExecute: st.used}, nil
}

func (e *Env) environmentWith(ctx *exec.Context) *exec.Environment {
	return &exec.Environment{
		Context:           ctx,
		Filters:           e.environment.Filters,
		Tests:             e.environment.Tests,
		ControlStructures: e.environment.ControlStructures,
		Methods:           e.environment.Methods,
	}
}

func stateOf(ctx *exec.Context) *state {
	v, _ := ctx.Get(stateKey)
	st, _ := v.(*state)
	return st
}

// macroFunc makes the callable placed in the context for m.
func (e *Env) macroFunc(m *Macro) func(*exec.Evaluator, *exec.VarArgs) *exec.Value {
	return func(ev *exec.Evaluator, va *exec.VarArgs) *exec.Value {
		return e.call(m, ev.Environment.Context, va)
	}
}

// call runs macro m with arguments va; ctx is the caller's context.
func (e *Env) call(m *Macro, caller *exec.Context, va *exec.VarArgs) *exec.Value {
	st := stateOf(caller)
	if st == nil {
		return exec.AsValue(fmt.Errorf("macro %s called outside a render", m.Name))
	}
	if m.Execute {
		st.used = true
	}
	ctx := st.root.Inherit()
	fr := &frame{}
	ctx.Set(frameKey, fr)
	if c, ok := caller.Get(callerKey); ok && c != nil {
		ctx.Set("caller", c)
		caller.Set(callerKey, nil)
	}
	var out strings.Builder
	r := exec.NewRenderer(e.environmentWith(ctx), &out, e.cfg, m.ld, m.exe)
	if err := bindArgs(r, m, ctx, va); err != nil {
		return exec.AsValue(err)
	}
	err := r.ExecuteWrapper(m.node.Wrapper)
	if fr.returned {
		return fr.ret
	}
	if err != nil {
		return exec.AsValue(&MacroError{Macro: m.Name, Pos: m.Pos, Err: err})
	}
	return exec.AsSafeValue(out.String())
}

func bindArgs(r *exec.Renderer, m *Macro, ctx *exec.Context, va *exec.VarArgs) error {
	params := m.node.Kwargs
	bound := make([]bool, len(params))
	var extra []any
	for i, a := range va.Args {
		if i < len(params) {
			ctx.Set(params[i].Key.(*nodes.String).Val, a)
			bound[i] = true
		} else {
			extra = append(extra, a.Interface())
		}
	}
	if len(extra) > 0 && m.node.VarArgsName == "" {
		return fmt.Errorf("macro %s takes %d arguments but %d were given", m.Name, len(params), len(va.Args))
	}
	kwextra := map[string]any{}
	for k, v := range va.KwArgs {
		found := false
		for i, p := range params {
			if p.Key.(*nodes.String).Val == k {
				if bound[i] {
					return fmt.Errorf("macro %s got argument %q twice", m.Name, k)
				}
				ctx.Set(k, v)
				bound[i] = true
				found = true
				break
			}
		}
		if !found {
			if m.node.KwArgsName == "" {
				return fmt.Errorf("macro %s has no argument %q (arguments: %s)", m.Name, k, paramNames(m))
			}
			kwextra[k] = v.Interface()
		}
	}
	for i, p := range params {
		if bound[i] {
			continue
		}
		if _, isNone := p.Value.(*nodes.None); isNone || p.Value == nil {
			ctx.Set(p.Key.(*nodes.String).Val, nil)
			continue
		}
		v := r.Eval(p.Value)
		if v.IsError() {
			return fmt.Errorf("macro %s: default of %s: %w", m.Name, p.Key.(*nodes.String).Val, v)
		}
		ctx.Set(p.Key.(*nodes.String).Val, v)
	}
	if m.node.VarArgsName != "" {
		if extra == nil {
			extra = []any{}
		}
		ctx.Set(m.node.VarArgsName, extra)
	}
	if m.node.KwArgsName != "" {
		ctx.Set(m.node.KwArgsName, kwextra)
	}
	// dbt macros can read varargs/kwargs even when not declared.
	if m.node.VarArgsName == "" {
		ctx.Set("varargs", []any{})
	}
	if m.node.KwArgsName == "" {
		ctx.Set("kwargs", map[string]any{})
	}
	return nil
}

func paramNames(m *Macro) string {
	var names []string
	for _, p := range m.node.Kwargs {
		names = append(names, p.Key.(*nodes.String).Val)
	}
	return strings.Join(names, ", ")
}

// MacroError is a failure inside a macro; it keeps the macro's position.
type MacroError struct {
	Macro string
	Pos   diag.Pos
	Err   error
}

func (e *MacroError) Error() string {
	return fmt.Sprintf("in macro %s (%s): %s", e.Macro, e.Pos, cleanMessage(e.Err.Error()))
}

func (e *MacroError) Unwrap() error { return e.Err }

// CompilerError is raised by exceptions.raise_compiler_error and by kiln's
// own context functions (ref, source, var, env_var, ...).
type CompilerError struct {
	Msg  string
	Hint string
}

func (e *CompilerError) Error() string {
	if e.Hint != "" {
		return e.Msg + " (" + e.Hint + ")"
	}
	return e.Msg
}

var lineRe = regexp.MustCompile(`(?i)\bline[: ]+(\d+)`)

// renderError maps a gonja error to a diagnostic at the template's path and
// the outermost line the error names.
func renderError(path string, err error) error {
	d := &diag.Diagnostic{Pos: diag.Pos{File: path}}
	var ce *CompilerError
	var me *MacroError
	if errors.As(err, &ce) {
		d.Msg, d.Hint = ce.Msg, ce.Hint
	} else if errors.As(err, &me) {
		if errors.As(me.Err, &ce) {
			d.Msg, d.Hint = ce.Msg, ce.Hint
			d.Msg += fmt.Sprintf(" (in macro %s at %s)", me.Macro, me.Pos)
		} else {
			d.Msg = me.Error()
		}
	} else {
		d.Msg = cleanMessage(err.Error())
	}
	if m := lineRe.FindStringSubmatch(err.Error()); m != nil {
		d.Pos.Line, _ = strconv.Atoi(m[1])
	}
	return d
}

var undefinedCallRe = regexp.MustCompile(`^(\w+) is not callable`)

// cleanMessage turns gonja's nested wrapping into the innermost message.
func cleanMessage(msg string) string {
	// gonja flattens an error returned by a function (var, env_var, ...)
	// into "invalid call to function 'f': <message>"; the message itself
	// may hold ": ", so keep all of it.
	const call = "invalid call to function '"
	if i := strings.LastIndex(msg, call); i >= 0 {
		if j := strings.Index(msg[i+len(call):], "': "); j >= 0 {
			return strings.TrimSpace(msg[i+len(call)+j+3:])
		}
	}
	parts := strings.Split(msg, ": ")
	inner := parts[len(parts)-1]
	for i := len(parts) - 1; i >= 0; i-- {
		if m := undefinedCallRe.FindStringSubmatch(parts[i]); m != nil {
			return fmt.Sprintf("'%s' is undefined: no macro or function of that name", m[1])
		}
	}
	if inner == "" && len(parts) > 1 {
		inner = parts[len(parts)-2]
	}
	return strings.TrimSpace(inner)
}

func syntaxError(path string, err error) error {
	msg := err.Error()
	d := &diag.Diagnostic{Pos: diag.Pos{File: path}}
	re := regexp.MustCompile(`^(?s)(.*)\(Line: (\d+) Col: (\d+), near "(.*)"\)`)
	inner := msg
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg[i:], "Line:") {
		inner = msg[i+2:]
	}
	if i := strings.Index(msg, "failed to parse template"); i >= 0 {
		// gonja prints the whole source; keep only the error after it.
		if j := strings.LastIndex(msg, "': "); j >= 0 {
			inner = msg[j+3:]
		}
	}
	if m := re.FindStringSubmatch(inner); m != nil {
		d.Msg = "Jinja syntax error: " + strings.TrimSpace(m[1])
		d.Pos.Line, _ = strconv.Atoi(m[2])
		d.Pos.Col, _ = strconv.Atoi(m[3])
		if m[4] != "" {
			d.Msg += fmt.Sprintf(" near %q", m[4])
		}
		return d
	}
	d.Msg = "Jinja syntax error: " + strings.TrimSpace(inner)
	return d
}
