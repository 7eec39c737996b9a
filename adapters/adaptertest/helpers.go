package adaptertest

import (
	"context"
	"testing"

	"github.com/kilnhq/kiln/adapters"
)

// queryAll runs sql on ex and returns every row.
func queryAll(t *testing.T, ex adapters.Execer, sql string) [][]any {
	t.Helper()
	rows, err := ex.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatalf("values of %q: %v", sql, err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return out
}

// exec runs sql on ex and fails the test on error.
func exec(t *testing.T, ex adapters.Execer, sql string) adapters.Result {
	t.Helper()
	res, err := ex.Exec(context.Background(), sql)
	if err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
	return res
}

// scalar returns the single value of a one-row, one-column query.
func scalar(t *testing.T, ex adapters.Execer, sql string) any {
	t.Helper()
	rows := queryAll(t, ex, sql)
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("query %q: want one value, got %v", sql, rows)
	}
	return rows[0][0]
}

// env is one subtest's warehouse and a schema of its own.
type env struct {
	wh     adapters.Warehouse
	d      adapters.Dialect
	schema string
}

func (e env) rel(name string) adapters.Relation {
	return adapters.Relation{Database: e.d.DefaultDatabase(), Schema: e.schema, Identifier: name}
}

func (e env) render(name string) string { return e.d.Render(e.rel(name)) }

// names lists the identifiers of one schema's relations.
func (e env) names(t *testing.T) map[string]adapters.RelationKind {
	t.Helper()
	infos, err := e.wh.Relations(context.Background(), e.d.DefaultDatabase(), e.schema)
	if err != nil {
		t.Fatalf("Relations: %v", err)
	}
	out := map[string]adapters.RelationKind{}
	for _, info := range infos {
		out[info.Relation.Identifier] = info.Kind
	}
	return out
}
