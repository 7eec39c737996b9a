package run

import (
	"context"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/compiler/jinja"
)

// Introspector gives templates execute-time access to a warehouse
// (run_query, statement, adapter.get_relation, get_columns_in_relation).
type Introspector struct{ W adapters.Warehouse }

// Query implements jinja.Adapter.
func (i Introspector) Query(ctx context.Context, sql string) (*jinja.Table, error) {
	rows, err := i.W.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for _, c := range rows.Columns() {
		names = append(names, c.Name)
	}
	var data [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			return nil, err
		}
		data = append(data, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return jinja.NewTable(names, data), nil
}

// Relation implements jinja.Adapter.
func (i Introspector) Relation(ctx context.Context, database, schema, identifier string) (*jinja.Relation, error) {
	info, err := i.W.Relation(ctx, adapters.Relation{Database: database, Schema: schema, Identifier: identifier})
	if err != nil || info == nil {
		return nil, err
	}
	return &jinja.Relation{Database: info.Relation.Database, Schema: info.Relation.Schema, Identifier: info.Relation.Identifier, Type: string(info.Kind)}, nil
}

// Columns implements jinja.Adapter.
func (i Introspector) Columns(ctx context.Context, r *jinja.Relation) ([]jinja.Column, error) {
	info, err := i.W.Relation(ctx, adapters.Relation{Database: r.Database, Schema: r.Schema, Identifier: r.Identifier})
	if err != nil || info == nil {
		return nil, err
	}
	out := make([]jinja.Column, len(info.Columns))
	for i, c := range info.Columns {
		out[i] = jinja.Column{Name: c.Name, DataType: c.Type}
	}
	return out, nil
}
