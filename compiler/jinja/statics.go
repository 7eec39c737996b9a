package jinja

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nikolalohinski/gonja/v2/exec"
)

type evalFunc = func(*exec.Evaluator, *exec.VarArgs) *exec.Value

// addStatics fills the base context shared by every render: macros, dbt's
// helper functions and namespaces.
func (e *Env) addStatics(ctx *exec.Context) {
	for _, set := range []map[string]*Macro{e.builtins, e.macros} {
		for name, m := range set {
			ctx.Set(name, e.macroFunc(m))
		}
	}
	ctx.Set("return", evalFunc(func(ev *exec.Evaluator, va *exec.VarArgs) *exec.Value {
		v, _ := ev.Environment.Context.Get(frameKey)
		fr, ok := v.(*frame)
		if !ok {
			return exec.AsValue(&CompilerError{Msg: "return() used outside a macro"})
		}
		fr.returned = true
		fr.ret = va.First()
		return exec.AsValue(errReturn)
	}))
	logFn := evalFunc(func(ev *exec.Evaluator, va *exec.VarArgs) *exec.Value {
		if st := stateOf(ev.Environment.Context); st != nil && st.c.Log != nil {
			st.c.Log(va.First().String())
		}
		return exec.AsValue("")
	})
	ctx.Set("log", logFn)
	ctx.Set("print", logFn)
	ctx.Set("exceptions", &namespace{name: "exceptions", attrs: map[string]any{
		"raise_compiler_error": func(va *exec.VarArgs) *exec.Value {
			return exec.AsValue(&CompilerError{Msg: va.First().String()})
		},
		"raise_not_implemented": func(va *exec.VarArgs) *exec.Value {
			return exec.AsValue(&CompilerError{Msg: "not implemented: " + va.First().String()})
		},
		"warn": logFn,
	}})
	ctx.Set("modules", &namespace{name: "modules", attrs: map[string]any{
		"datetime": datetimeModule(),
		"re":       reModule(),
	}})
	ctx.Set("zip", func(va *exec.VarArgs) *exec.Value {
		var lists [][]any
		n := -1
		for _, a := range va.Args {
			l := toList(a)
			lists = append(lists, l)
			if n < 0 || len(l) < n {
				n = len(l)
			}
		}
		out := make([]any, 0, max(n, 0))
		for i := 0; i < n; i++ {
			tuple := make([]any, len(lists))
			for j := range lists {
				tuple[j] = lists[j][i]
			}
			out = append(out, tuple)
		}
		return exec.AsValue(out)
	})
	ctx.Set("tojson", func(va *exec.VarArgs) *exec.Value {
		b, err := json.Marshal(plain(va.First()))
		if err != nil {
			return exec.AsValue(err)
		}
		return exec.AsValue(string(b))
	})
	ctx.Set("fromjson", func(va *exec.VarArgs) *exec.Value {
		var v any
		if err := json.Unmarshal([]byte(va.First().String()), &v); err != nil {
			return exec.AsValue(&CompilerError{Msg: "fromjson: " + err.Error()})
		}
		return exec.AsValue(v)
	})
	ctx.Set("set", func(va *exec.VarArgs) *exec.Value {
		seen := map[string]bool{}
		var out []any
		for _, v := range toList(va.First()) {
			k := fmt.Sprint(v)
			if !seen[k] {
				seen[k] = true
				out = append(out, v)
			}
		}
		return exec.AsValue(out)
	})
	ctx.Set("local_md5", func(va *exec.VarArgs) *exec.Value {
		sum := md5.Sum([]byte(va.First().String()))
		return exec.AsValue(hex.EncodeToString(sum[:]))
	})
	ctx.Set("statement", evalFunc(statementFunc))
	ctx.Set("load_result", evalFunc(func(ev *exec.Evaluator, va *exec.VarArgs) *exec.Value {
		st := stateOf(ev.Environment.Context)
		st.used = true
		if r, ok := st.results[va.First().String()]; ok {
			return exec.AsValue(r)
		}
		if !st.c.Execute {
			return exec.AsValue(newLenient())
		}
		return exec.AsValue(nil)
	}))
	ctx.Set("run_query", evalFunc(func(ev *exec.Evaluator, va *exec.VarArgs) *exec.Value {
		st := stateOf(ev.Environment.Context)
		st.used = true
		if !st.c.Execute {
			return exec.AsValue(newLenient())
		}
		if st.c.Adapter == nil {
			return exec.AsValue(&CompilerError{Msg: "run_query needs a warehouse connection"})
		}
		t, err := st.c.Adapter.Query(st.c.Ctx, va.First().String())
		if err != nil {
			return exec.AsValue(&CompilerError{Msg: "run_query failed: " + err.Error()})
		}
		return exec.AsValue(t)
	}))
	ctx.Set("dbt", &namespace{name: "dbt", lookup: func(name string) (any, bool) {
		m, ok := e.builtins[name]
		if !ok {
			return nil, false
		}
		return e.macroFunc(m), true
	}})
}

func statementFunc(ev *exec.Evaluator, va *exec.VarArgs) *exec.Value {
	st := stateOf(ev.Environment.Context)
	st.used = true
	name := va.First().String()
	if name == "" {
		name = va.GetKeywordArgument("name", "").String()
	}
	fetch := va.GetKeywordArgument("fetch_result", false).Bool()
	c, _ := ev.Environment.Context.Get(callerKey)
	ev.Environment.Context.Set(callerKey, nil)
	caller, ok := c.(func(*exec.VarArgs) *exec.Value)
	if !ok {
		return exec.AsValue(&CompilerError{Msg: "statement() must be used as {% call statement(...) %}"})
	}
	sqlv := caller(exec.NewVarArgs())
	if sqlv.IsError() {
		return sqlv
	}
	if !st.c.Execute || st.c.Adapter == nil {
		return exec.AsValue("")
	}
	t, err := st.c.Adapter.Query(st.c.Ctx, sqlv.String())
	if err != nil {
		return exec.AsValue(&CompilerError{Msg: fmt.Sprintf("statement %q failed: %v", name, err)})
	}
	if st.results == nil {
		st.results = map[string]any{}
	}
	res := map[string]any{"response": map[string]any{"code": "SELECT", "rows_affected": len(t.rows)}}
	if fetch {
		res["table"] = t
		res["data"] = t.dataTuples()
	} else {
		res["table"] = nil
		res["data"] = []any{}
	}
	st.results[name] = res
	return exec.AsValue("")
}

// namespace is an object whose attributes are looked up by name.
type namespace struct {
	name   string
	attrs  map[string]any
	lookup func(string) (any, bool)
}

func (n *namespace) GetAttribute(name string) (*exec.Value, bool) {
	if v, ok := n.attrs[name]; ok {
		return exec.AsValue(v), true
	}
	if n.lookup != nil {
		if v, ok := n.lookup(name); ok {
			return exec.AsValue(v), true
		}
	}
	return exec.AsValue(&CompilerError{Msg: fmt.Sprintf("'%s' has no attribute '%s'", n.name, name)}), false
}

func (n *namespace) String() string { return "<module " + n.name + ">" }

func toList(v *exec.Value) []any {
	if v == nil || v.IsNil() {
		return nil
	}
	var out []any
	v.Iterate(func(idx, count int, key, value *exec.Value) bool {
		if value != nil {
			out = append(out, value.Interface())
		} else {
			out = append(out, key.Interface())
		}
		return true
	}, func() {})
	return out
}

// Plain converts a template value to plain Go values: []any,
// map[string]any, strings, numbers, booleans and nil.
func Plain(v *exec.Value) any { return plain(v) }

// plain converts a gonja value to JSON-friendly Go values.
func plain(v *exec.Value) any {
	if v == nil || v.IsNil() {
		return nil
	}
	switch {
	case v.IsList():
		l := toList(v)
		for i, x := range l {
			l[i] = plain(exec.AsValue(x))
		}
		return l
	case v.IsDict():
		out := map[string]any{}
		v.Iterate(func(idx, count int, key, value *exec.Value) bool {
			out[key.String()] = plain(value)
			return true
		}, func() {})
		return out
	case v.IsString():
		return v.String()
	}
	return v.Interface()
}

// datetimeModule is a small subset of Python's datetime module.
func datetimeModule() *namespace {
	dt := &namespace{name: "datetime.datetime", attrs: map[string]any{
		"now":    func(va *exec.VarArgs) *exec.Value { return exec.AsValue(PyTime{time.Now()}) },
		"utcnow": func(va *exec.VarArgs) *exec.Value { return exec.AsValue(PyTime{time.Now().UTC()}) },
		"strptime": func(va *exec.VarArgs) *exec.Value {
			if len(va.Args) < 2 {
				return exec.AsValue(&CompilerError{Msg: "strptime(string, format) needs two arguments"})
			}
			t, err := time.Parse(strftimeToGo(va.Args[1].String()), va.Args[0].String())
			if err != nil {
				return exec.AsValue(&CompilerError{Msg: "strptime: " + err.Error()})
			}
			return exec.AsValue(PyTime{t})
		},
	}}
	return &namespace{name: "datetime", attrs: map[string]any{
		"datetime": dt,
		"date": &namespace{name: "datetime.date", attrs: map[string]any{
			"today": func(va *exec.VarArgs) *exec.Value {
				return exec.AsValue(PyTime{time.Now().Truncate(24 * time.Hour)})
			},
		}},
	}}
}

func reModule() *namespace {
	return &namespace{name: "re", attrs: map[string]any{}}
}

// PyTime is a datetime value with Python-like methods.
type PyTime struct{ T time.Time }

func (p PyTime) String() string { return p.T.Format("2006-01-02 15:04:05.000000") }

// GetAttribute implements attribute access for templates.
func (p PyTime) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "year":
		return exec.AsValue(p.T.Year()), true
	case "month":
		return exec.AsValue(int(p.T.Month())), true
	case "day":
		return exec.AsValue(p.T.Day()), true
	case "hour":
		return exec.AsValue(p.T.Hour()), true
	case "minute":
		return exec.AsValue(p.T.Minute()), true
	case "second":
		return exec.AsValue(p.T.Second()), true
	case "isoformat":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value {
			return exec.AsValue(p.T.Format("2006-01-02T15:04:05.000000"))
		}), true
	case "strftime":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value {
			return exec.AsValue(p.T.Format(strftimeToGo(va.First().String())))
		}), true
	case "date":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value {
			return exec.AsValue(p.T.Format("2006-01-02"))
		}), true
	case "timestamp":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value {
			return exec.AsValue(float64(p.T.UnixNano()) / 1e9)
		}), true
	}
	return exec.AsValue(nil), false
}

func strftimeToGo(f string) string {
	r := strings.NewReplacer("%Y", "2006", "%m", "01", "%d", "02", "%H", "15", "%M", "04", "%S", "05",
		"%f", "000000", "%y", "06", "%b", "Jan", "%B", "January", "%a", "Mon", "%A", "Monday", "%j", "002",
		"%z", "-0700", "%Z", "MST", "%%", "%")
	return r.Replace(f)
}
