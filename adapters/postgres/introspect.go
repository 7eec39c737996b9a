package postgres

import (
	"context"
	"fmt"

	"github.com/kilnhq/kiln/adapters"
)

// relationsQuery reads one schema's tables, partitioned tables, views and
// materialized views (the relations of pg_tables ∪ pg_views ∪ pg_matviews)
// with their columns in ordinal order and types as format_type spells them.
// Unlike information_schema.columns it also sees materialized views.
const relationsQuery = `
select c.relname, c.relkind::text, a.attname, format_type(a.atttypid, a.atttypmod)
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
left join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where n.nspname = $1 and ($2 = '' or c.relname = $2) and c.relkind in ('r', 'p', 'v', 'm')
order by c.relname, a.attnum`

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

// Relations lists the relations of one schema with their columns.
func (w *Warehouse) Relations(ctx context.Context, database, schema string) ([]adapters.RelationInfo, error) {
	return w.relations(ctx, database, schema, "")
}

func (w *Warehouse) relations(ctx context.Context, database, schema, name string) ([]adapters.RelationInfo, error) {
	if database == "" {
		database = w.dialect.database
	}
	rows, err := w.pool.Query(ctx, relationsQuery, schema, name)
	if err != nil {
		return nil, fmt.Errorf("listing relations of %s.%s: %w", database, schema, wrapErr(ctx, err, relationsQuery))
	}
	defer rows.Close()
	var out []adapters.RelationInfo
	for rows.Next() {
		var table, kind string
		var col, typ *string
		if err := rows.Scan(&table, &kind, &col, &typ); err != nil {
			return nil, fmt.Errorf("listing relations of %s.%s: %w", database, schema, wrapErr(ctx, err, relationsQuery))
		}
		if len(out) == 0 || out[len(out)-1].Relation.Identifier != table {
			out = append(out, adapters.RelationInfo{
				Relation: adapters.Relation{Database: database, Schema: schema, Identifier: table},
				Kind:     relKind(kind),
			})
		}
		if col != nil && typ != nil {
			info := &out[len(out)-1]
			info.Columns = append(info.Columns, adapters.Column{Name: *col, Type: *typ})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing relations of %s.%s: %w", database, schema, wrapErr(ctx, err, relationsQuery))
	}
	return out, nil
}

func relKind(relkind string) adapters.RelationKind {
	switch relkind {
	case "v":
		return adapters.KindView
	case "m":
		return adapters.KindMaterializedView
	}
	return adapters.KindTable
}
