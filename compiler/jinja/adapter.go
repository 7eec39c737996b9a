package jinja

import (
	"context"
	"fmt"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// Adapter is the narrow warehouse access templates get at execute time.
// Implement it over a warehouse connection; the compiler passes it in.
type Adapter interface {
	// Query runs sql and returns its rows.
	Query(ctx context.Context, sql string) (*Table, error)
	// Relation returns the relation if it exists, else nil.
	Relation(ctx context.Context, database, schema, identifier string) (*Relation, error)
	// Columns lists a relation's columns in order.
	Columns(ctx context.Context, r *Relation) ([]Column, error)
}

// Column is a warehouse column as templates see it (dbt's Column).
type Column struct {
	Name     string
	DataType string
}

// GetAttribute implements attribute access for templates.
func (c Column) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "name", "column":
		return exec.AsValue(c.Name), true
	case "data_type", "dtype":
		return exec.AsValue(c.DataType), true
	case "quoted":
		return exec.AsValue(`"` + c.Name + `"`), true
	}
	return exec.AsValue(nil), false
}

func (c Column) String() string { return c.Name }

// Table is a query result shaped like dbt's agate table.
type Table struct {
	names []string
	rows  [][]any
}

// NewTable builds a Table.
func NewTable(names []string, rows [][]any) *Table { return &Table{names: names, rows: rows} }

// GetAttribute implements attribute access for templates.
func (t *Table) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "rows":
		return exec.AsValue(t.dataTuples()), true
	case "column_names":
		out := make([]any, len(t.names))
		for i, n := range t.names {
			out[i] = n
		}
		return exec.AsValue(out), true
	case "columns":
		cols := make([]any, len(t.names))
		for i := range t.names {
			vals := make([]any, len(t.rows))
			for j, r := range t.rows {
				vals[j] = r[i]
			}
			cols[i] = &tableColumn{name: t.names[i], values: vals}
		}
		return exec.AsValue(cols), true
	case "print_table":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value { return exec.AsValue("") }), true
	}
	return exec.AsValue(nil), false
}

func (t *Table) dataTuples() []any {
	out := make([]any, len(t.rows))
	for i, r := range t.rows {
		row := make([]any, len(r))
		copy(row, r)
		out[i] = row
	}
	return out
}

func (t *Table) String() string { return fmt.Sprintf("<table %d rows>", len(t.rows)) }

type tableColumn struct {
	name   string
	values []any
}

func (c *tableColumn) GetAttribute(name string) (*exec.Value, bool) {
	switch name {
	case "name":
		return exec.AsValue(c.name), true
	case "values":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value { return exec.AsValue(c.values) }), true
	}
	return exec.AsValue(nil), false
}

// adapterObject is the `adapter` global of one render.
type adapterObject struct{ st *state }

func (a *adapterObject) String() string { return "<adapter " + a.st.c.Dialect + ">" }

func (a *adapterObject) GetAttribute(name string) (*exec.Value, bool) {
	st := a.st
	switch name {
	case "type":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value { return exec.AsValue(st.c.Dialect) }), true
	case "dispatch":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value {
			name := va.First().String()
			ns := ""
			if len(va.Args) > 1 {
				ns = va.Args[1].String()
			}
			if v, ok := va.KwArgs["macro_namespace"]; ok {
				ns = v.String()
			}
			m, err := st.env.dispatch(st.c.Dialect, name, ns)
			if err != nil {
				return exec.AsValue(err)
			}
			return exec.AsValue(st.env.macroFunc(m))
		}), true
	case "quote":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value {
			return exec.AsValue(`"` + va.First().String() + `"`)
		}), true
	case "get_relation", "load_relation":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value {
			st.used = true
			if !st.c.Execute || st.c.Adapter == nil {
				return exec.AsValue(nil)
			}
			var db, schema, ident string
			if name == "load_relation" {
				r, ok := va.First().Interface().(*Relation)
				if !ok {
					return exec.AsValue(&CompilerError{Msg: "load_relation expects a relation"})
				}
				db, schema, ident = r.Database, r.Schema, r.Identifier
			} else {
				args := va.Expect(0, []*exec.KwArg{{Name: "database"}, {Name: "schema"}, {Name: "identifier"}})
				if args.IsError() {
					return exec.AsValue(&CompilerError{Msg: "get_relation: " + args.Error()})
				}
				db, schema, ident = args.KwArgs["database"].String(), args.KwArgs["schema"].String(), args.KwArgs["identifier"].String()
			}
			r, err := st.c.Adapter.Relation(st.c.Ctx, db, schema, ident)
			if err != nil {
				return exec.AsValue(&CompilerError{Msg: "get_relation: " + err.Error()})
			}
			if r == nil {
				return exec.AsValue(nil)
			}
			return exec.AsValue(r)
		}), true
	case "get_columns_in_relation":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value {
			st.used = true
			if !st.c.Execute || st.c.Adapter == nil {
				return exec.AsValue([]any{})
			}
			r, ok := va.First().Interface().(*Relation)
			if !ok {
				return exec.AsValue(&CompilerError{Msg: "get_columns_in_relation expects a relation"})
			}
			cols, err := st.c.Adapter.Columns(st.c.Ctx, r)
			if err != nil {
				return exec.AsValue(&CompilerError{Msg: "get_columns_in_relation: " + err.Error()})
			}
			out := make([]any, len(cols))
			for i, c := range cols {
				out[i] = c
			}
			return exec.AsValue(out)
		}), true
	}
	return exec.AsValue(&CompilerError{Msg: fmt.Sprintf("adapter has no method %q", name)}), false
}

// dispatch finds `<dialect>__name`, then `default__name`: the project's
// macros first, then kiln's built-ins.
func (e *Env) dispatch(dialect, name, ns string) (*Macro, error) {
	candidates := []string{dialect + "__" + name, "default__" + name}
	if dialect == "redshift" {
		candidates = []string{"redshift__" + name, "postgres__" + name, "default__" + name}
	}
	for _, set := range []map[string]*Macro{e.macros, e.builtins} {
		for _, c := range candidates {
			if m, ok := set[c]; ok {
				return m, nil
			}
		}
	}
	return nil, &CompilerError{Msg: fmt.Sprintf("adapter.dispatch: no macro %s or default__%s (namespace %q)", candidates[0], name, ns)}
}
