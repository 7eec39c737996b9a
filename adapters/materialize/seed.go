package materialize

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/kilnhq/kiln/adapters"
)

// Seed loads data into the table rel with Tx.Load (COPY or the appender,
// never row-by-row INSERT). Applied.Result reports the rows loaded with code
// "INSERT".
//
// When fullRefresh is false and rel already is a table whose columns match
// the seed's by name and type, it is emptied and reloaded in one transaction
// (as dbt does), which keeps grants and dependent views untouched. Otherwise
// the table is built aside and swapped in like Table.
func Seed(ctx context.Context, wh adapters.Warehouse, rel adapters.Relation, data *SeedData, fullRefresh bool) (Applied, error) {
	d := wh.Dialect()
	cols := make([]adapters.Column, len(data.Columns))
	for i, c := range data.Columns {
		typ := c.Type
		if !c.Override {
			typ = d.TypeName(c.Type)
		}
		cols[i] = adapters.Column{Name: c.Name, Type: typ}
	}
	if !fullRefresh {
		live, err := wh.Relation(ctx, rel)
		if err != nil {
			return Applied{}, fmt.Errorf("loading seed %s: looking up %s: %w", data.Path, d.Render(rel), err)
		}
		if live != nil && live.Kind == adapters.KindTable && sameColumns(live.Columns, cols) {
			rec := &recorder{}
			if err := reload(ctx, wh, rec, rel, cols, data); err != nil {
				return rec.applied, fmt.Errorf("loading seed %s into %s: %w", data.Path, d.Render(rel), err)
			}
			return rec.applied, nil
		}
	}
	applied, err := swap(ctx, wh, rel, adapters.KindTable, func(ctx context.Context, tx adapters.Tx, rec *recorder, tmp adapters.Relation) (adapters.Result, error) {
		if _, err := rec.exec(ctx, tx, createTableSQL(d, tmp, cols)); err != nil {
			return adapters.Result{}, err
		}
		return load(ctx, tx, rec, d, tmp, cols, data)
	})
	if err != nil {
		return applied, fmt.Errorf("loading seed %s: %w", data.Path, err)
	}
	return applied, nil
}

// reload empties rel and loads data into it in one transaction.
func reload(ctx context.Context, wh adapters.Warehouse, rec *recorder, rel adapters.Relation, cols []adapters.Column, data *SeedData) error {
	d := wh.Dialect()
	tx, err := wh.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	rec.note("begin")
	if err := runHooks(ctx, tx, rec, false); err != nil {
		return err
	}
	if _, err := rec.exec(ctx, tx, "delete from "+d.Render(rel)); err != nil {
		return err
	}
	res, err := load(ctx, tx, rec, d, rel, cols, data)
	if err != nil {
		return err
	}
	if err := runHooks(ctx, tx, rec, true); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	rec.note("commit")
	rec.applied.Result = res
	return nil
}

func load(ctx context.Context, tx adapters.Tx, rec *recorder, d adapters.Dialect, rel adapters.Relation, cols []adapters.Column, data *SeedData) (adapters.Result, error) {
	rec.note(fmt.Sprintf("-- load %d rows into %s", len(data.Rows), d.Render(rel)))
	n, err := tx.Load(ctx, rel, cols, &sliceSource{rows: data.Rows})
	if err != nil {
		return adapters.Result{}, err
	}
	return adapters.Result{RowsAffected: n, Code: "INSERT"}, nil
}

func createTableSQL(d adapters.Dialect, rel adapters.Relation, cols []adapters.Column) string {
	var b strings.Builder
	b.WriteString("create table " + d.Render(rel) + " (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  " + d.QuoteIdent(c.Name) + " " + c.Type)
	}
	b.WriteString("\n)")
	return b.String()
}

// sliceSource streams rows held in memory to Tx.Load.
type sliceSource struct {
	rows [][]any
	i    int
}

func (s *sliceSource) Next() ([]any, error) {
	if s.i >= len(s.rows) {
		return nil, io.EOF
	}
	s.i++
	return s.rows[s.i-1], nil
}
