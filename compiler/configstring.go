package compiler

import (
	"fmt"
	"sync"

	"github.com/nikolalohinski/gonja/v2/exec"

	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/jinja"
)

// StringRenderer renders Jinja in configuration strings (profiles.yml and
// project-file values) with env_var() and var().
type StringRenderer struct {
	Env  map[string]string
	Vars map[string]any

	once sync.Once
	env  *jinja.Env
	err  error
}

// Render renders src; errors are reported at pos.
func (r *StringRenderer) Render(src string, pos diag.Pos) (string, error) {
	r.once.Do(func() { r.env, r.err = jinja.NewEnv("", nil, nil) })
	if r.err != nil {
		return "", r.err
	}
	tpl, err := r.env.Parse(pos.File, src)
	if err != nil {
		return "", diag.At(pos, "%v", err)
	}
	g := map[string]any{
		"env_var": func(va *exec.VarArgs) *exec.Value {
			name := va.First().String()
			if v, ok := r.Env[name]; ok {
				return exec.AsValue(v)
			}
			if len(va.Args) > 1 {
				return exec.AsValue(va.Args[1].String())
			}
			return exec.AsValue(&jinja.CompilerError{Msg: fmt.Sprintf("env var required but not provided: '%s' (set it, or give env_var() a default: env_var('%s', 'value'))", name, name)})
		},
		"var": func(va *exec.VarArgs) *exec.Value {
			if v, ok := r.Vars[va.First().String()]; ok {
				return exec.AsValue(v)
			}
			if len(va.Args) > 1 {
				return va.Args[1]
			}
			return exec.AsValue(&jinja.CompilerError{Msg: fmt.Sprintf("required var '%s' not found", va.First().String())})
		},
	}
	res, err := r.env.Render(tpl, &jinja.Context{Globals: g})
	if err != nil {
		var d *diag.Diagnostic
		msg := err.Error()
		if de, ok := err.(*diag.Diagnostic); ok {
			d = de
			msg = d.Msg
		}
		return "", diag.At(pos, "%s", msg)
	}
	return res.Output, nil
}
