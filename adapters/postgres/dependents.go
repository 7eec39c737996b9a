package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/kilnhq/kiln/adapters"
)

// dependentViewsQuery finds, through the rewrite rules recorded in
// pg_depend, every view and materialized view that reads the relation %s
// directly or through other views; each comes out after the views it reads
// (ordered by its longest path from the relation).
const dependentViewsQuery = `
with recursive target as (
  select c.oid from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where n.nspname = %s and c.relname = %s
), deps(oid, depth) as (
  select rw.ev_class, 1
  from target
  join pg_catalog.pg_depend d on d.refobjid = target.oid
    and d.refclassid = 'pg_catalog.pg_class'::regclass and d.classid = 'pg_catalog.pg_rewrite'::regclass
  join pg_catalog.pg_rewrite rw on rw.oid = d.objid
  where rw.ev_class <> target.oid
  union
  select rw.ev_class, deps.depth + 1
  from deps
  join pg_catalog.pg_depend d on d.refobjid = deps.oid
    and d.refclassid = 'pg_catalog.pg_class'::regclass and d.classid = 'pg_catalog.pg_rewrite'::regclass
  join pg_catalog.pg_rewrite rw on rw.oid = d.objid
  where rw.ev_class <> deps.oid and deps.depth < 100
)
select n.nspname, c.relname, c.relkind = 'm',
  coalesce(array_to_string(c.reloptions, ', '), ''),
  pg_catalog.pg_get_viewdef(c.oid)
from (select oid, max(depth) as depth from deps group by oid) d
join pg_catalog.pg_class c on c.oid = d.oid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
order by d.depth, n.nspname, c.relname`

// DependentViews lists the views reading r, in an order they can be created
// again. View texts come from pg_get_viewdef, so relation names in them are
// spelled for ex's search_path; recreate them on the same connection.
func (w *Warehouse) DependentViews(ctx context.Context, ex adapters.Execer, r adapters.Relation) ([]adapters.ViewDefinition, error) {
	q := fmt.Sprintf(dependentViewsQuery, w.dialect.QuoteString(r.Schema), w.dialect.QuoteString(r.Identifier))
	rows, err := ex.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("finding views that depend on %s: %w", w.dialect.Render(r), err)
	}
	defer rows.Close()
	var out []adapters.ViewDefinition
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("finding views that depend on %s: %w", w.dialect.Render(r), err)
		}
		schema, _ := vals[0].(string)
		name, _ := vals[1].(string)
		mat, _ := vals[2].(bool)
		opts, _ := vals[3].(string)
		def, _ := vals[4].(string)
		out = append(out, adapters.ViewDefinition{
			Relation:     adapters.Relation{Database: w.dialect.database, Schema: schema, Identifier: name},
			Materialized: mat,
			Options:      opts,
			Select:       strings.TrimRight(strings.TrimSpace(def), ";"),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("finding views that depend on %s: %w", w.dialect.Render(r), err)
	}
	return out, nil
}
