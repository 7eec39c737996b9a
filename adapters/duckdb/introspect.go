package duckdb

import (
	"context"
	"fmt"

	"github.com/kilnhq/kiln/adapters"
)

// relationsQuery lists relations with their columns in one schema; DuckDB
// names are case-insensitive so they compare lowered.
const relationsQuery = `
select t.table_name, t.table_type, c.column_name, c.data_type
from information_schema.tables t
left join information_schema.columns c
  on c.table_catalog = t.table_catalog and c.table_schema = t.table_schema and c.table_name = t.table_name
where lower(t.table_catalog) = lower($1) and lower(t.table_schema) = lower($2)
  and ($3 = '' or lower(t.table_name) = lower($3))
order by t.table_name, c.ordinal_position`

// Relation describes r, or returns nil, nil when it does not exist.
func (w *Warehouse) Relation(ctx context.Context, r adapters.Relation) (*adapters.RelationInfo, error) {
	if r.Identifier == "" {
		return nil, fmt.Errorf("describing %s: empty identifier", w.dialect.Render(r))
	}
	infos, err := w.relations(ctx, r.Database, r.Schema, r.Identifier)
	if err != nil {
		return nil, err
	}
	if len(infos) == 0 {
		return nil, nil
	}
	return &infos[0], nil
}

// Relations lists the tables and views of one schema with their columns.
func (w *Warehouse) Relations(ctx context.Context, database, schema string) ([]adapters.RelationInfo, error) {
	return w.relations(ctx, database, schema, "")
}

func (w *Warehouse) relations(ctx context.Context, database, schema, name string) ([]adapters.RelationInfo, error) {
	if database == "" {
		database = w.dialect.database
	}
	rows, err := w.db.QueryContext(ctx, relationsQuery, database, schema, name)
	if err != nil {
		return nil, fmt.Errorf("listing relations of %s.%s: %w", database, schema, wrapErr(ctx, err, relationsQuery))
	}
	defer rows.Close()
	var out []adapters.RelationInfo
	for rows.Next() {
		var table, kind string
		var col, typ *string
		if err := rows.Scan(&table, &kind, &col, &typ); err != nil {
			return nil, fmt.Errorf("listing relations of %s.%s: %w", database, schema, err)
		}
		if len(out) == 0 || out[len(out)-1].Relation.Identifier != table {
			k := adapters.KindTable
			if kind == "VIEW" {
				k = adapters.KindView
			}
			out = append(out, adapters.RelationInfo{
				Relation: adapters.Relation{Database: database, Schema: schema, Identifier: table},
				Kind:     k,
			})
		}
		if col != nil {
			info := &out[len(out)-1]
			info.Columns = append(info.Columns, adapters.Column{Name: *col, Type: deref(typ)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing relations of %s.%s: %w", database, schema, wrapErr(ctx, err, relationsQuery))
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
