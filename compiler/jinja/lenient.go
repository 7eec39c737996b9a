package jinja

import "github.com/nikolalohinski/gonja/v2/exec"

// lenient stands in, while parsing (execute is false), for results that only
// exist at execute time: load_result(), run_query(). Like dbt's parse-time
// undefined, any attribute, item or call on it gives itself, it renders as
// "" and it is falsy, so `load_result('x')['data'][0][0]` parses.
type lenient func(*exec.VarArgs) *exec.Value

func newLenient() lenient {
	var l lenient
	l = func(*exec.VarArgs) *exec.Value { return exec.AsValue(l) }
	return l
}

// GetAttribute implements attribute access for templates.
func (l lenient) GetAttribute(string) (*exec.Value, bool) { return exec.AsValue(l), true }

// GetItem implements item access for templates.
func (l lenient) GetItem(any) (*exec.Value, bool) { return exec.AsValue(l), true }

func (l lenient) String() string { return "" }
