package jinja

import (
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// registerFilters adds dbt's filters to a filter set.
func registerFilters(fs *exec.FilterSet) {
	set := func(name string, fn exec.FilterFunction) {
		if fs.Exists(name) {
			_ = fs.Replace(name, fn)
		} else {
			_ = fs.Register(name, fn)
		}
	}
	set("as_bool", func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if in.IsString() {
			switch strings.ToLower(strings.TrimSpace(in.String())) {
			case "true", "1", "yes":
				return exec.AsValue(true)
			case "false", "0", "no", "":
				return exec.AsValue(false)
			}
		}
		return exec.AsValue(in.IsTrue())
	})
	set("as_number", func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		if in.IsString() {
			s := strings.TrimSpace(in.String())
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return exec.AsValue(i)
			}
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return exec.AsValue(f)
			}
		}
		return in
	})
	set("as_text", func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		return exec.AsValue(in.String())
	})
	set("as_native", func(e *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
		return in
	})
}
