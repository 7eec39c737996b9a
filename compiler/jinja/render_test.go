package jinja

import (
	"strings"
	"testing"

	"github.com/nikolalohinski/gonja/v2/exec"
)

func newEnv(t *testing.T, macros ...SourceFile) *Env {
	t.Helper()
	builtin := []SourceFile{{Path: "builtin.sql", Source: `
{% macro date_trunc(datepart, date) %}{{ return(adapter.dispatch('date_trunc', 'dbt')(datepart, date)) }}{% endmacro %}
{% macro default__date_trunc(datepart, date) %}date_trunc('{{ datepart }}', {{ date }}){% endmacro %}
{% macro duckdb__date_trunc(datepart, date) %}duck_trunc('{{ datepart }}', {{ date }}){% endmacro %}
`}}
	e, err := NewEnv("proj", builtin, macros)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func render(t *testing.T, e *Env, src string, globals map[string]any) string {
	t.Helper()
	tpl, err := e.Parse("models/m.sql", src)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Render(tpl, &Context{Globals: globals, Dialect: "postgres"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Output
}

func TestMacroReturnAndDispatch(t *testing.T) {
	e := newEnv(t, SourceFile{Path: "macros/m.sql", Source: `
{% macro cents_to_dollars(col, scale=2) %}({{ col }} / 100)::numeric(16, {{ scale }}){% endmacro %}
{% macro payment_methods() %}{{ return(['credit_card', 'coupon']) }}{% endmacro %}
{% macro with_kw(a, b='x') %}{% if a %}{{ return(a ~ b) }}{% endif %}none{% endmacro %}
`})
	got := render(t, e, `{%- set methods = payment_methods() -%}
select {% for m in methods %}sum(case when method = '{{ m }}' then {{ cents_to_dollars('amount', scale=4) }} end) as {{ m }}_amount{% if not loop.last %}, {% endif %}{% endfor %}
, {{ with_kw('p', b='q') }}, {{ dbt.date_trunc('day', 'ts') }}, {{ date_trunc('month', 'ts') }}`, nil)
	want := `select sum(case when method = 'credit_card' then (amount / 100)::numeric(16, 4) end) as credit_card_amount, sum(case when method = 'coupon' then (amount / 100)::numeric(16, 4) end) as coupon_amount
, pq, date_trunc('day', ts), date_trunc('month', ts)`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestGoFunctionsWithKwargs(t *testing.T) {
	e := newEnv(t)
	var seen map[string]any
	cfg := func(va *exec.VarArgs) *exec.Value {
		seen = map[string]any{}
		for k, v := range va.KwArgs {
			seen[k] = v.Interface()
		}
		return exec.AsValue("")
	}
	got := render(t, e, `{{ config(materialized='table', tags=['a','b']) }}select {{ 'x' | upper }} {{ 1 ~ 2 }} {{ none | default('d') }}`, map[string]any{"config": cfg})
	if got != "select X 12 d" {
		t.Fatalf("got %q", got)
	}
	if seen["materialized"] != "table" {
		t.Fatalf("config kwargs = %v", seen)
	}
}

func TestInlineMacroAndCall(t *testing.T) {
	e := newEnv(t)
	got := render(t, e, `{% macro twice(x) %}{{ return(x * 2) }}{% endmacro %}{{ twice(21) }}`, nil)
	if strings.TrimSpace(got) != "42" {
		t.Fatalf("got %q", got)
	}
}

func TestErrorsHavePositions(t *testing.T) {
	e := newEnv(t)
	_, err := e.Parse("models/bad.sql", "select 1\n{% if x %}\nselect\n")
	if err == nil || !strings.HasPrefix(err.Error(), "models/bad.sql:") {
		t.Fatalf("syntax error = %v", err)
	}
	tpl, err := e.Parse("models/u.sql", "select 1\n\nfrom {{ no_such_macro('x') }}\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Render(tpl, &Context{})
	if err == nil || !strings.Contains(err.Error(), "models/u.sql:3") || !strings.Contains(err.Error(), "no_such_macro") {
		t.Fatalf("render error = %v", err)
	}
	tpl, _ = e.Parse("models/r.sql", "a\n{{ exceptions.raise_compiler_error('boom here') }}")
	_, err = e.Render(tpl, &Context{})
	if err == nil || err.Error() != "models/r.sql:2: boom here" {
		t.Fatalf("raise error = %v", err)
	}
}
