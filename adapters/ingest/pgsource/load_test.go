package pgsource

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/duckdb"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/postgres"
)

// TestLoad loads a source table into DuckDB and Postgres with replace,
// append and merge (cursor, lookback), changes the source and loads again.
func TestLoad(t *testing.T) {
	warehouses := []struct {
		name string
		open func(t *testing.T) adapters.Warehouse
	}{
		{"duckdb", func(t *testing.T) adapters.Warehouse {
			wh, err := duckdb.Open(context.Background(), adaptertest.DuckDB(t))
			if err != nil {
				t.Fatal(err)
			}
			return wh
		}},
		{"postgres", func(t *testing.T) adapters.Warehouse {
			wh, err := postgres.Open(context.Background(), adaptertest.Postgres(t))
			if err != nil {
				t.Fatal(err)
			}
			return wh
		}},
	}
	for _, w := range warehouses {
		t.Run(w.name, func(t *testing.T) {
			url := sourceDB(t, eventsSetup...)
			src := open(t, url)
			wh := w.open(t)
			t.Cleanup(func() { wh.Close() })
			ctx := context.Background()
			load := func(name string, opts ingest.LoadOptions) ingest.Result {
				t.Helper()
				tbl := table(t, src, "table", "public.events")
				dest := adapters.Relation{Schema: "raw_shop", Identifier: name}
				res, err := ingest.Load(ctx, wh, dest, tbl, opts)
				if err != nil {
					t.Fatalf("Load %s: %v", name, err)
				}
				return res
			}
			modes := []struct {
				dest string
				opts ingest.LoadOptions
				// rows after the first and the second load
				first, second int64
			}{
				{"events_replace", ingest.LoadOptions{Mode: ingest.ModeReplace}, 5, 6},
				{"events_append", ingest.LoadOptions{Mode: ingest.ModeAppend, Cursor: "updated_at"}, 5, 7},
				{"events_merge", ingest.LoadOptions{Mode: ingest.ModeMerge, PrimaryKey: []string{"id"}, Cursor: "updated_at", Lookback: time.Hour}, 5, 6},
			}
			for _, m := range modes {
				load(m.dest, m.opts)
				if n := count(t, wh, "raw_shop."+m.dest); n != m.first {
					t.Errorf("%s after the first load: %d rows, want %d", m.dest, n, m.first)
				}
			}

			// Row 3 changes one microsecond past the stored cursor; row 6 is new.
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			for _, sql := range []string{
				`update public.events set note = 'changed', updated_at = '2024-01-01 11:00:00.000001' where id = 3`,
				`insert into public.events values (6, '2024-01-01 11:00:00.000002', now(), current_date, 'f')`,
			} {
				if _, err := conn.Exec(ctx, sql); err != nil {
					t.Fatal(err)
				}
			}
			conn.Close(ctx)

			for _, m := range modes {
				load(m.dest, m.opts)
				if n := count(t, wh, "raw_shop."+m.dest); n != m.second {
					t.Errorf("%s after the second load: %d rows, want %d", m.dest, n, m.second)
				}
			}
			for _, dest := range []string{"events_replace", "events_merge"} {
				rows := query(t, wh, "select note, updated_at from raw_shop."+dest+" where id = 3")
				if len(rows) != 1 || rows[0][0] != "changed" {
					t.Errorf("%s row 3: %v", dest, rows)
				}
			}
			rows := query(t, wh, "select updated_at from raw_shop.events_merge where id = 6")
			if len(rows) != 1 || !sameTime(rows[0][0], utc(2024, 1, 1, 11, 0, 0, 2)) {
				t.Errorf("merge row 6 updated_at: %v", rows)
			}
			rows = query(t, wh, "select count(*) from raw_shop.events_merge where updated_at is null")
			if len(rows) != 1 || fmt.Sprint(rows[0][0]) != "1" {
				t.Errorf("merge kept %v rows with a NULL cursor, want 1", rows)
			}
			// A third load with nothing new changes nothing.
			for _, m := range modes[1:] {
				load(m.dest, m.opts)
				if n := count(t, wh, "raw_shop."+m.dest); n != m.second {
					t.Errorf("%s after an idle load: %d rows, want %d", m.dest, n, m.second)
				}
			}
		})
	}
}

func sameTime(v any, want time.Time) bool {
	got, ok := v.(time.Time)
	return ok && got.Equal(want) || ok && got.Format("2006-01-02 15:04:05.000000") == want.Format("2006-01-02 15:04:05.000000")
}

func query(t *testing.T, wh adapters.Warehouse, sql string) [][]any {
	t.Helper()
	rows, err := wh.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func count(t *testing.T, wh adapters.Warehouse, rel string) int64 {
	t.Helper()
	rows := query(t, wh, "select count(*) from "+rel)
	var n int64
	fmt.Sscan(fmt.Sprint(rows[0][0]), &n)
	return n
}

// decodedOnly hides CopyText, so the loader decodes every value.
type decodedOnly struct{ ingest.Table }

// TestPassThroughMatchesDecoded loads every type of the types fixture into
// Postgres twice: streamed as COPY text (the fast path) and decoded value
// by value. Both tables must hold the same text, column by column, and the
// same column types.
func TestPassThroughMatchesDecoded(t *testing.T) {
	// The source session's time zone must not leak into timestamptz values;
	// row 3 holds an empty string, which must not become NULL.
	url := sourceDB(t, append(typesSetup, `insert into public.types (id, t, b) values (3, '', false)`)...)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	src := open(t, url+sep+"options=-c%20TimeZone%3DAsia/Kolkata")
	for _, w := range []struct {
		name string
		open func(context.Context, adapters.Profile) (adapters.Warehouse, error)
		prof func(testing.TB) adapters.Profile
	}{
		{"postgres", func(ctx context.Context, p adapters.Profile) (adapters.Warehouse, error) {
			return postgres.Open(ctx, p)
		}, adaptertest.Postgres},
		{"duckdb", func(ctx context.Context, p adapters.Profile) (adapters.Warehouse, error) { return duckdb.Open(ctx, p) }, adaptertest.DuckDB},
	} {
		t.Run(w.name, func(t *testing.T) {
			wh, err := w.open(context.Background(), w.prof(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { wh.Close() })
			passThroughMatchesDecoded(t, wh, src)
		})
	}
}

// passThroughMatchesDecoded loads the types table both ways into wh and
// compares the tables column by column (as text; JSON minified on DuckDB,
// which keeps JSON text as written).
func passThroughMatchesDecoded(t *testing.T, wh adapters.Warehouse, src ingest.Source) {
	ctx := context.Background()
	fast, err := ingest.Load(ctx, wh, adapters.Relation{Schema: "raw", Identifier: "types_fast"}, table(t, src, "table", "public.types"), ingest.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := ingest.Load(ctx, wh, adapters.Relation{Schema: "raw", Identifier: "types_slow"}, decodedOnly{table(t, src, "table", "public.types")}, ingest.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !fast.PassThrough || slow.PassThrough || fast.Fallback != "" {
		t.Fatalf("PassThrough: fast %v (fallback %q), slow %v; want true, false", fast.PassThrough, fast.Fallback, slow.PassThrough)
	}
	if fast.Inserted != 3 || slow.Inserted != 3 {
		t.Errorf("inserted %d and %d rows, want 3 each", fast.Inserted, slow.Inserted)
	}
	columns := func(table string) [][]any {
		return query(t, wh, `select column_name, data_type from information_schema.columns
			where table_schema = 'raw' and table_name = '`+table+`' and column_name <> '_kiln_loaded_at' order by ordinal_position`)
	}
	cols, slowCols := columns("types_fast"), columns("types_slow")
	if fmt.Sprint(cols) != fmt.Sprint(slowCols) {
		t.Errorf("column types differ:\nfast %v\nslow %v", cols, slowCols)
	}
	for _, c := range cols {
		name, typ := c[0].(string), fmt.Sprint(c[1])
		sel := fmt.Sprintf("select id, %q::text from raw.%%s order by 1", name)
		f, s := query(t, wh, fmt.Sprintf(sel, "types_fast")), query(t, wh, fmt.Sprintf(sel, "types_slow"))
		if wh.Dialect().Name() == "duckdb" && typ == "JSON" {
			// DuckDB keeps JSON text as written: compare the documents.
			for _, rows := range [][][]any{f, s} {
				for _, r := range rows {
					if txt, ok := r[1].(string); ok {
						var doc any
						dec := json.NewDecoder(strings.NewReader(txt))
						dec.UseNumber() // big integers compared exactly
						if err := dec.Decode(&doc); err != nil {
							t.Fatalf("column %s: %v", name, err)
						}
						r[1] = doc
					}
				}
			}
			if !reflect.DeepEqual(f, s) {
				t.Errorf("column %s: pass-through %v, decoded %v", name, f, s)
			}
			continue
		}
		if fmt.Sprint(f) != fmt.Sprint(s) {
			t.Errorf("column %s: pass-through %v, decoded %v", name, f, s)
		}
	}
	// The loaded-at column is set, and not left with a default.
	if got := query(t, wh, `select count(*) from raw.types_fast where _kiln_loaded_at is null`); fmt.Sprint(got[0][0]) != "0" {
		t.Errorf("rows without _kiln_loaded_at: %v", got)
	}
	if got := query(t, wh, `select count(*) from information_schema.columns where table_schema = 'raw' and table_name = 'types_fast' and column_default is not null`); fmt.Sprint(got[0][0]) != "0" {
		t.Errorf("columns with a default left: %v", got)
	}
	if got := query(t, wh, `select tstz::text from raw.types_fast where id = 1`); fmt.Sprint(got) != "[[2024-01-01 08:00:00.654321]]" {
		t.Errorf("tstz = %v, want 2024-01-01 08:00:00.654321 (UTC)", got)
	}
	if got := query(t, wh, `select t is null, length(t) from raw.types_fast where id = 3`); fmt.Sprint(got) != "[[false 0]]" {
		t.Errorf("empty string row 3: %v, want not NULL and empty", got)
	}
}
