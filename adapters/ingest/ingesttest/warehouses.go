package ingesttest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/duckdb"
	"github.com/kilnhq/kiln/adapters/postgres"
)

// EachWarehouse runs f as the subtests "duckdb" and "postgres", each on a
// fresh warehouse. The Postgres subtest skips without
// KILN_TEST_POSTGRES_URL (and fails under CI), as adaptertest.Postgres does.
func EachWarehouse(t *testing.T, f func(t *testing.T, wh adapters.Warehouse)) {
	t.Helper()
	t.Run("duckdb", func(t *testing.T) {
		wh, err := duckdb.Open(context.Background(), adaptertest.DuckDB(t))
		if err != nil {
			t.Fatalf("opening duckdb: %v", err)
		}
		t.Cleanup(func() { _ = wh.Close() })
		f(t, wh)
	})
	t.Run("postgres", func(t *testing.T) {
		wh, err := postgres.Open(context.Background(), adaptertest.Postgres(t))
		if err != nil {
			t.Fatalf("opening postgres: %v", err)
		}
		t.Cleanup(func() { _ = wh.Close() })
		f(t, wh)
	})
}

// Rel names identifier in schema in wh's default database.
func Rel(wh adapters.Warehouse, schema, identifier string) adapters.Relation {
	return adapters.Relation{Database: wh.Dialect().DefaultDatabase(), Schema: schema, Identifier: identifier}
}

// Query returns every row of sql, each value spelled as text by Text.
func Query(t testing.TB, ex adapters.Execer, sql string) [][]string {
	t.Helper()
	rows, err := ex.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatalf("values of %q: %v", sql, err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = Text(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return out
}

// Text spells a value read back from a warehouse the same on both: NULL
// as "NULL", times as "2006-01-02 15:04:05.999999", numbers in their
// shortest form.
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.999999")
	case []byte:
		return string(x)
	case float32:
		return fmt.Sprint(float64(x))
	}
	return fmt.Sprint(v)
}

// Count returns the number of rows of r.
func Count(t testing.TB, wh adapters.Warehouse, r adapters.Relation) int {
	t.Helper()
	rows := Query(t, wh, "select count(*) from "+wh.Dialect().Render(r))
	var n int
	_, _ = fmt.Sscan(rows[0][0], &n)
	return n
}

// ColumnTypes returns r's columns and their warehouse types, lowercased.
func ColumnTypes(t testing.TB, wh adapters.Warehouse, r adapters.Relation) map[string]string {
	t.Helper()
	info, err := wh.Relation(context.Background(), r)
	if err != nil || info == nil {
		t.Fatalf("describing %s: %v (exists: %v)", wh.Dialect().Render(r), err, info != nil)
	}
	out := map[string]string{}
	for _, c := range info.Columns {
		out[c.Name] = strings.ToLower(c.Type)
	}
	return out
}
