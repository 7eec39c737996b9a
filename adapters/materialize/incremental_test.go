package materialize_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/duckdb"
	"github.com/kilnhq/kiln/adapters/materialize"
	"github.com/kilnhq/kiln/adapters/postgres"
)

// eachWarehouse runs fn against a fresh DuckDB file and a fresh Postgres
// database (skipped without KILN_TEST_POSTGRES_URL, failing under CI).
func eachWarehouse(t *testing.T, fn func(t *testing.T, wh adapters.Warehouse)) {
	t.Run("duckdb", func(t *testing.T) {
		wh, err := duckdb.Open(t.Context(), adaptertest.DuckDB(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = wh.Close() })
		fn(t, wh)
	})
	t.Run("postgres", func(t *testing.T) {
		wh, err := postgres.Open(t.Context(), adaptertest.Postgres(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = wh.Close() })
		fn(t, wh)
	})
}

// tenv is one subtest's warehouse and a schema of its own.
type tenv struct {
	t      *testing.T
	ctx    context.Context
	wh     adapters.Warehouse
	d      adapters.Dialect
	schema string
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

func newEnv(t *testing.T, wh adapters.Warehouse) *tenv {
	t.Helper()
	name := t.Name()
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	e := &tenv{t: t, ctx: t.Context(), wh: wh, d: wh.Dialect(), schema: "s_" + nonWord.ReplaceAllString(strings.ToLower(name), "_")}
	if err := materialize.CreateSchema(e.ctx, wh, e.d.DefaultDatabase(), e.schema); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *tenv) rel(name string) adapters.Relation {
	return adapters.Relation{Database: e.d.DefaultDatabase(), Schema: e.schema, Identifier: name}
}

func (e *tenv) r(name string) string { return e.d.Render(e.rel(name)) }

func (e *tenv) exec(sql string) {
	e.t.Helper()
	if _, err := e.wh.Exec(e.ctx, sql); err != nil {
		e.t.Fatalf("exec %q: %v", sql, err)
	}
}

// rows returns each row of sql formatted as "v1|v2|...".
func (e *tenv) rows(sql string) []string {
	e.t.Helper()
	rows, err := e.wh.Query(e.ctx, sql)
	if err != nil {
		e.t.Fatalf("query %q: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			e.t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		e.t.Fatalf("query %q: %v", sql, err)
	}
	return out
}

func (e *tenv) info(name string) *adapters.RelationInfo {
	e.t.Helper()
	info, err := e.wh.Relation(e.ctx, e.rel(name))
	if err != nil {
		e.t.Fatal(err)
	}
	return info
}

// columns lists a table's columns as "name type", types lowered.
func (e *tenv) columns(name string) []string {
	e.t.Helper()
	info := e.info(name)
	if info == nil {
		e.t.Fatalf("%s does not exist", name)
	}
	var out []string
	for _, c := range info.Columns {
		out = append(out, strings.ToLower(c.Name+" "+c.Type))
	}
	return out
}

func (e *tenv) assertNoStaging(name string) {
	e.t.Helper()
	if info := e.info(name + materialize.TmpSuffix); info != nil {
		e.t.Errorf("staging relation %s survived", info.Relation.Identifier)
	}
}

func (e *tenv) isIncremental(name string, fullRefresh bool) bool {
	e.t.Helper()
	ok, err := materialize.IsIncrementalRun(e.ctx, e.wh, e.rel(name), fullRefresh)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

func ts(day, hour int) string {
	return fmt.Sprintf("timestamp '2024-01-%02d %02d:00:00'", day, hour)
}

// TestIncrementalStrategies loads a source three times (new rows; updates of
// existing keys; late rows with timestamps older than the target's newest)
// and after each load checks the incremental table against a full rebuild.
// The model, as a template would render it:
//
//	select ... from src as s
//	{% if is_incremental() %}
//	where s.updated_at >= (select max(updated_at) from {{ this }}) - interval '1 day'
//	{% endif %}
//
// The one-day lookback picks up the late rows; append models also skip
// events already loaded, since append cannot replace them.
func TestIncrementalStrategies(t *testing.T) {
	cases := []struct {
		name string
		opts materialize.IncrementalOptions
		// events: the source is an append-only event log (sk is the event
		// id) and updates arrive as new events.
		events bool
	}{
		{"append", materialize.IncrementalOptions{Strategy: "append"}, true},
		{"default_without_key", materialize.IncrementalOptions{}, true},
		{"delete_insert_single_key", materialize.IncrementalOptions{Strategy: "delete+insert", UniqueKey: []string{"sk"}}, false},
		{"delete_insert_composite_key", materialize.IncrementalOptions{Strategy: "delete+insert", UniqueKey: []string{"id", "REGION"}}, false},
		{"default_with_key", materialize.IncrementalOptions{UniqueKey: []string{"sk"}}, false},
		{"merge_single_key", materialize.IncrementalOptions{Strategy: "merge", UniqueKey: []string{"sk"}}, false},
		{"merge_composite_key", materialize.IncrementalOptions{Strategy: "merge", UniqueKey: []string{"id", "region"}}, false},
		{"merge_update_columns", materialize.IncrementalOptions{Strategy: "merge", UniqueKey: []string{"sk"}, MergeUpdateColumns: []string{"val", "updated_at"}}, false},
		{"merge_exclude_columns", materialize.IncrementalOptions{Strategy: "merge", UniqueKey: []string{"sk"}, MergeExcludeColumns: []string{"created_at"}}, false},
	}
	eachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e := newEnv(t, wh)
				src := e.r("src")
				e.exec("create table " + src + " (sk integer, id integer, region varchar(10), val varchar(20), updated_at timestamp, created_at timestamp)")
				row := func(sk, id int, region, val string, updated, created string) string {
					return fmt.Sprintf("(%d, %d, '%s', '%s', %s, %s)", sk, id, region, val, updated, created)
				}
				insert := func(rows ...string) { e.exec("insert into " + src + " values " + strings.Join(rows, ", ")) }
				loads := []func(){
					func() {
						insert(row(1, 1, "eu", "a", ts(1, 10), ts(1, 10)), row(2, 1, "us", "b", ts(1, 10), ts(1, 10)),
							row(3, 2, "eu", "c", ts(2, 10), ts(2, 10)), row(4, 3, "us", "d", ts(2, 10), ts(2, 10)))
					},
					func() {
						if c.events {
							insert(row(6, 1, "eu", "a2", ts(3, 10), ts(3, 10)), row(7, 2, "eu", "c2", ts(3, 10), ts(3, 10)))
						} else {
							e.exec("update " + src + " set val = val || '2', updated_at = " + ts(3, 10) + " where sk in (1, 3)")
						}
						insert(row(5, 4, "eu", "e", ts(3, 9), ts(3, 9)))
					},
					func() {
						if c.events {
							insert(row(9, 1, "us", "b3", ts(2, 23), ts(2, 23)))
						} else {
							e.exec("update " + src + " set val = 'b3', updated_at = " + ts(2, 23) + " where sk = 2")
						}
						insert(row(8, 5, "us", "f", ts(2, 20), ts(2, 20)))
					},
				}
				model, full := e.rel("m"), e.rel("m_full")
				const cols = "sk, id, region, val, updated_at, created_at"
				fullSQL := "select " + cols + " from " + src + " as s"
				for i, load := range loads {
					load()
					sql := fullSQL
					incremental := e.isIncremental("m", false)
					if incremental != (i > 0) {
						t.Fatalf("load %d: is_incremental() = %v", i+1, incremental)
					}
					if incremental {
						sql += "\nwhere s.updated_at >= (select max(updated_at) from " + e.r("m") + ") - interval '1 day'"
						if c.events {
							sql += "\nand not exists (select 1 from " + e.r("m") + " as t where t.sk = s.sk)"
						}
					}
					var staged []string
					if incremental {
						staged = e.rows("select count(*) from (" + sql + ") q")
					}
					applied, err := materialize.Incremental(e.ctx, wh, model, sql, c.opts)
					if err != nil {
						t.Fatalf("load %d: %v\nSQL:\n%s", i+1, err, strings.Join(applied.SQL, ";\n"))
					}
					if _, err := materialize.Table(e.ctx, wh, full, fullSQL); err != nil {
						t.Fatal(err)
					}
					got := e.rows("select " + cols + " from " + e.r("m") + " order by " + cols)
					want := e.rows("select " + cols + " from " + e.r("m_full") + " order by " + cols)
					if !reflect.DeepEqual(got, want) {
						t.Errorf("load %d: incremental table differs from a full rebuild\n got %q\nwant %q\nSQL:\n%s",
							i+1, got, want, strings.Join(applied.SQL, ";\n"))
					}
					if incremental && fmt.Sprint(applied.Result.RowsAffected) != staged[0] {
						t.Errorf("load %d: rows affected = %d, want the %s staged rows", i+1, applied.Result.RowsAffected, staged[0])
					}
					e.assertNoStaging("m")
				}
			})
		}
	})
}

// TestIncrementalStatements checks the statements each strategy runs.
func TestIncrementalStatements(t *testing.T) {
	eachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		e := newEnv(t, wh)
		e.exec("create table " + e.r("m") + " as select 1 as id, 'a' as v, 'b' as w")
		sql := "select 2 as id, 'c' as v, 'd' as w"
		cases := []struct {
			opts       materialize.IncrementalOptions
			code       string
			want, skip []string
		}{
			{materialize.IncrementalOptions{}, "INSERT", []string{"insert into"}, []string{"delete", "merge"}},
			{materialize.IncrementalOptions{UniqueKey: []string{"id"}}, "INSERT", []string{"delete from", "where exists", "insert into"}, []string{"merge"}},
			{materialize.IncrementalOptions{Strategy: "merge", UniqueKey: []string{"id"}, MergeUpdateColumns: []string{"v"}}, "MERGE",
				[]string{`update set
  "v" = DBT_INTERNAL_SOURCE."v"
when not matched`}, []string{`"w" = `}},
			{materialize.IncrementalOptions{Strategy: "merge", UniqueKey: []string{"id"}, MergeExcludeColumns: []string{"V", "w"}}, "MERGE",
				[]string{`update set
  "id" = DBT_INTERNAL_SOURCE."id"
when not matched`}, []string{`"v" = `}},
		}
		for _, c := range cases {
			applied, err := materialize.Incremental(e.ctx, wh, e.rel("m"), sql, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(applied.SQL, ";\n")
			if applied.Result.Code != c.code || applied.Result.RowsAffected != 1 {
				t.Errorf("%+v: result = %+v", c.opts, applied.Result)
			}
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("%+v: SQL lacks %q:\n%s", c.opts, w, all)
				}
			}
			for _, s := range c.skip {
				if strings.Contains(all, s) {
					t.Errorf("%+v: SQL has %q:\n%s", c.opts, s, all)
				}
			}
			if i, j := indexOf(applied.SQL, "begin"), indexOf(applied.SQL, "commit"); i < 0 || j < i {
				t.Errorf("%+v: no transaction:\n%s", c.opts, all)
			}
		}
	})
}

func indexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return -1
}

// TestIncrementalMergeColumns checks that merge_update_columns and
// merge_exclude_columns leave the other columns of matched rows alone.
func TestIncrementalMergeColumns(t *testing.T) {
	eachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		for _, opts := range []materialize.IncrementalOptions{
			{Strategy: "merge", UniqueKey: []string{"id"}, MergeUpdateColumns: []string{"v1"}},
			{Strategy: "merge", UniqueKey: []string{"id"}, MergeExcludeColumns: []string{"v2"}},
		} {
			e := newEnv(t, wh)
			e.exec("create table " + e.r("m") + " (id integer, v1 varchar(10), v2 varchar(10))")
			e.exec("insert into " + e.r("m") + " values (1, 'a', 'x'), (2, 'b', 'y')")
			sql := "select 1 as id, 'a2' as v1, 'x2' as v2 union all select 3, 'c', 'z'"
			applied, err := materialize.Incremental(e.ctx, wh, e.rel("m"), sql, opts)
			if err != nil {
				t.Fatal(err)
			}
			if applied.Result.RowsAffected != 2 {
				t.Errorf("rows affected = %d, want 2", applied.Result.RowsAffected)
			}
			got := e.rows("select id, v1, v2 from " + e.r("m") + " order by id")
			if want := []string{"1|a2|x", "2|b|y", "3|c|z"}; !reflect.DeepEqual(got, want) {
				t.Errorf("%+v: rows %q, want %q", opts, got, want)
			}
			e.exec("drop schema " + e.d.QuoteIdent(e.schema) + " cascade")
		}
	})
}

// TestIncrementalPredicates checks that incremental_predicates limit the
// rows delete+insert deletes and merge matches.
func TestIncrementalPredicates(t *testing.T) {
	eachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		for _, strategy := range []string{"delete+insert", "merge"} {
			e := newEnv(t, wh)
			e.exec("create table " + e.r("m") + " (id integer, v varchar(10), updated_at timestamp)")
			e.exec("insert into " + e.r("m") + " values (1, 'old', " + ts(1, 0) + "), (2, 'old', " + ts(2, 10) + ")")
			sql := "select 1 as id, 'new' as v, " + ts(3, 0) + " as updated_at union all select 2, 'new', " + ts(3, 0)
			_, err := materialize.Incremental(e.ctx, wh, e.rel("m"), sql, materialize.IncrementalOptions{
				Strategy:              strategy,
				UniqueKey:             []string{"id"},
				IncrementalPredicates: []string{"DBT_INTERNAL_DEST.updated_at >= " + ts(2, 0)},
			})
			if err != nil {
				t.Fatal(err)
			}
			got := e.rows("select id, v from " + e.r("m") + " order by id, v")
			if want := []string{"1|new", "1|old", "2|new"}; !reflect.DeepEqual(got, want) {
				t.Errorf("%s: rows %q, want %q", strategy, got, want)
			}
			e.exec("drop schema " + e.d.QuoteIdent(e.schema) + " cascade")
		}
	})
}

// TestIncrementalOnSchemaChange runs each on_schema_change mode on a model
// that gains a column, loses one and widens two (varchar(5) → varchar(50),
// integer → bigint).
func TestIncrementalOnSchemaChange(t *testing.T) {
	const first = "select cast(1 as integer) as id, cast('abcde' as varchar(5)) as name, cast(10 as integer) as qty, cast('x' as varchar(10)) as old_col"
	const second = "select cast(2 as integer) as id, cast('abcdefghij' as varchar(50)) as name, cast(3000000000 as bigint) as qty, cast('n' as varchar(10)) as new_col"
	const widenOnly = "select cast(2 as integer) as id, cast('abcdefghij' as varchar(50)) as name, cast(3000000000 as bigint) as qty, cast('y' as varchar(10)) as old_col"
	const full = "select cast(1 as integer) as id, cast('abcde' as varchar(50)) as name, cast(10 as bigint) as qty, cast('r' as varchar(10)) as new_col union all " + second
	eachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		pg := wh.Dialect().Name() == "postgres"
		varchar := func(n int) string {
			if pg {
				return fmt.Sprintf("character varying(%d)", n)
			}
			return "varchar"
		}
		cases := []struct {
			mode, sql string
			cols      []string // "name type", types lowered
			rows      []string
			failed    bool
		}{
			{"ignore", second, []string{"id integer", "name " + varchar(50), "qty bigint", "old_col " + varchar(10)},
				[]string{"1|abcde|10|x", "2|abcdefghij|3000000000|<nil>"}, false},
			{"fail", second, []string{"id integer", "name " + varchar(5), "qty integer", "old_col " + varchar(10)},
				[]string{"1|abcde|10|x"}, true},
			{"fail", widenOnly, []string{"id integer", "name " + varchar(50), "qty bigint", "old_col " + varchar(10)},
				[]string{"1|abcde|10|x", "2|abcdefghij|3000000000|y"}, false},
			{"append_new_columns", second, []string{"id integer", "name " + varchar(50), "qty bigint", "old_col " + varchar(10), "new_col " + varchar(10)},
				[]string{"1|abcde|10|x|<nil>", "2|abcdefghij|3000000000|<nil>|n"}, false},
			{"sync_all_columns", second, []string{"id integer", "name " + varchar(50), "qty bigint", "new_col " + varchar(10)},
				[]string{"1|abcde|10|<nil>", "2|abcdefghij|3000000000|n"}, false},
			{"full_refresh", second, []string{"id integer", "name " + varchar(50), "qty bigint", "new_col " + varchar(10)},
				[]string{"1|abcde|10|r", "2|abcdefghij|3000000000|n"}, false},
			{"full_refresh", widenOnly, []string{"id integer", "name " + varchar(50), "qty bigint", "old_col " + varchar(10)},
				[]string{"1|abcde|10|x", "2|abcdefghij|3000000000|y"}, false},
		}
		for _, strategy := range []string{"append", "merge"} {
			for _, c := range cases {
				e := newEnv(t, wh)
				opts := materialize.IncrementalOptions{Strategy: strategy, OnSchemaChange: c.mode}
				if strategy == "merge" {
					opts.UniqueKey = []string{"id"}
				}
				opts.FullSQL = func(context.Context) (string, error) { return full, nil }
				if _, err := materialize.Incremental(e.ctx, wh, e.rel("m"), first, opts); err != nil {
					t.Fatal(err)
				}
				applied, err := materialize.Incremental(e.ctx, wh, e.rel("m"), c.sql, opts)
				var sce *materialize.SchemaChangeError
				switch {
				case c.failed && !errors.As(err, &sce):
					t.Errorf("%s %s: error = %v, want a SchemaChangeError", strategy, c.mode, err)
				case c.failed:
					if !reflect.DeepEqual(sce.Added, []string{"new_col"}) || !reflect.DeepEqual(sce.Removed, []string{"old_col"}) || len(sce.Changed) != 0 {
						t.Errorf("%s %s: %+v", strategy, c.mode, sce)
					}
					if msg := err.Error(); !strings.Contains(msg, "new_col") || !strings.Contains(msg, "old_col") {
						t.Errorf("%s %s: message does not name the columns: %s", strategy, c.mode, msg)
					}
				case err != nil:
					t.Errorf("%s %s: %v\nSQL:\n%s", strategy, c.mode, err, strings.Join(applied.SQL, ";\n"))
				}
				if got := e.columns("m"); !reflect.DeepEqual(got, c.cols) {
					t.Errorf("%s %s: columns %q, want %q", strategy, c.mode, got, c.cols)
				}
				if got := e.rows("select * from " + e.r("m") + " order by id"); !reflect.DeepEqual(got, c.rows) {
					t.Errorf("%s %s: rows %q, want %q", strategy, c.mode, got, c.rows)
				}
				e.assertNoStaging("m")
				e.exec("drop schema " + e.d.QuoteIdent(e.schema) + " cascade")
			}
		}
	})
}

// TestIncrementalFullRefreshWithoutSQL: on_schema_change full_refresh needs
// the full SQL; without it the run fails and leaves the table alone.
func TestIncrementalFullRefreshWithoutSQL(t *testing.T) {
	eachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		e := newEnv(t, wh)
		e.exec("create table " + e.r("m") + " as select 1 as id")
		_, err := materialize.Incremental(e.ctx, wh, e.rel("m"), "select 2 as id, 3 as extra", materialize.IncrementalOptions{OnSchemaChange: "full_refresh"})
		if err == nil || !strings.Contains(err.Error(), "full SQL") {
			t.Errorf("error = %v", err)
		}
		if got := e.rows("select * from " + e.r("m")); !reflect.DeepEqual(got, []string{"1"}) {
			t.Errorf("rows %q", got)
		}
		e.assertNoStaging("m")
	})
}

// TestIsIncrementalRun covers a missing relation, a view, a table and a
// full refresh.
func TestIsIncrementalRun(t *testing.T) {
	eachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		e := newEnv(t, wh)
		if e.isIncremental("m", false) {
			t.Error("missing relation: is_incremental() = true")
		}
		e.exec("create view " + e.r("m") + " as select 1 as id")
		if e.isIncremental("m", false) {
			t.Error("view: is_incremental() = true")
		}
		// A view is replaced by a table built in full.
		applied, err := materialize.Incremental(e.ctx, wh, e.rel("m"), "select 1 as id union all select 2", materialize.IncrementalOptions{UniqueKey: []string{"id"}})
		if err != nil {
			t.Fatal(err)
		}
		if applied.Result.Code != "SELECT" || applied.Result.RowsAffected != 2 {
			t.Errorf("full build result = %+v", applied.Result)
		}
		if info := e.info("m"); info == nil || info.Kind != adapters.KindTable {
			t.Fatalf("after build: %+v", info)
		}
		if !e.isIncremental("m", false) {
			t.Error("table: is_incremental() = false")
		}
		if e.isIncremental("m", true) {
			t.Error("full refresh: is_incremental() = true")
		}
		// A full refresh rebuilds the table from the SQL given.
		if _, err := materialize.Incremental(e.ctx, wh, e.rel("m"), "select 7 as id", materialize.IncrementalOptions{UniqueKey: []string{"id"}, FullRefresh: true}); err != nil {
			t.Fatal(err)
		}
		if got := e.rows("select id from " + e.r("m")); !reflect.DeepEqual(got, []string{"7"}) {
			t.Errorf("after full refresh: %q", got)
		}
	})
}

// TestIncrementalFailure checks that a failing apply leaves the target
// unchanged (columns included) and no staging table, and that a staging
// table left by a killed run does not get in the way.
func TestIncrementalFailure(t *testing.T) {
	eachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		e := newEnv(t, wh)
		e.exec("create table " + e.r("m") + " (id integer, v varchar(5))")
		e.exec("insert into " + e.r("m") + " values (1, 'a'), (2, 'b')")
		before := e.columns("m")
		sql := "select 1 as id, cast('abcdefgh' as varchar(20)) as v, 'x' as added"

		_, err := materialize.Incremental(e.ctx, wh, e.rel("m"), sql, materialize.IncrementalOptions{
			UniqueKey:             []string{"id"},
			OnSchemaChange:        "append_new_columns",
			IncrementalPredicates: []string{"DBT_INTERNAL_DEST.no_such_column = 1"},
		})
		var we *adapters.Error
		if !errors.As(err, &we) {
			t.Fatalf("error = %v (%T), want an *adapters.Error inside", err, err)
		}
		if !strings.Contains(err.Error(), "deleting") {
			t.Errorf("error does not say what was being done: %v", err)
		}
		if got := e.columns("m"); !reflect.DeepEqual(got, before) {
			t.Errorf("columns changed: %q, were %q", got, before)
		}
		if got := e.rows("select id, v from " + e.r("m") + " order by id"); !reflect.DeepEqual(got, []string{"1|a", "2|b"}) {
			t.Errorf("rows changed: %q", got)
		}
		e.assertNoStaging("m")

		// A model that does not compile in the warehouse.
		_, err = materialize.Incremental(e.ctx, wh, e.rel("m"), "select no_such_column from "+e.r("m"), materialize.IncrementalOptions{})
		if !errors.As(err, &we) {
			t.Errorf("error = %v, want an *adapters.Error inside", err)
		}
		e.assertNoStaging("m")

		// An unknown unique key.
		_, err = materialize.Incremental(e.ctx, wh, e.rel("m"), "select 3 as id, 'c' as v", materialize.IncrementalOptions{UniqueKey: []string{"nope"}})
		if err == nil || !strings.Contains(err.Error(), "nope") {
			t.Errorf("error = %v, want one naming the key", err)
		}
		e.assertNoStaging("m")

		// A leftover staging table from a killed run.
		e.exec("create table " + e.r("m"+materialize.TmpSuffix) + " as select 'junk' as junk")
		if _, err := materialize.Incremental(e.ctx, wh, e.rel("m"), "select 3 as id, 'c' as v", materialize.IncrementalOptions{UniqueKey: []string{"id"}}); err != nil {
			t.Fatal(err)
		}
		if got := e.rows("select id, v from " + e.r("m") + " order by id"); !reflect.DeepEqual(got, []string{"1|a", "2|b", "3|c"}) {
			t.Errorf("rows: %q", got)
		}
		e.assertNoStaging("m")
	})
}

// TestIncrementalOptionErrors checks option validation.
func TestIncrementalOptionErrors(t *testing.T) {
	wh, err := duckdb.Open(t.Context(), adaptertest.DuckDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	rel := adapters.Relation{Schema: "main", Identifier: "m"}
	for _, opts := range []materialize.IncrementalOptions{
		{Strategy: "insert_overwrite"},
		{OnSchemaChange: "sometimes"},
		{Strategy: "merge", UniqueKey: []string{"id"}, MergeUpdateColumns: []string{"a"}, MergeExcludeColumns: []string{"b"}},
	} {
		if _, err := materialize.Incremental(t.Context(), wh, rel, "select 1 as id", opts); err == nil {
			t.Errorf("%+v: no error", opts)
		}
	}
}

// TestIncrementalWidenWithDependents widens and drops columns a view reads:
// on Postgres the views are dropped and created again in the transaction.
// On DuckDB an index on the column blocks widening; the error says so and
// the table is left alone.
func TestIncrementalWidenWithDependents(t *testing.T) {
	eachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		e := newEnv(t, wh)
		e.exec("create table " + e.r("m") + " (id integer, qty integer, gone integer)")
		e.exec("insert into " + e.r("m") + " values (1, 10, 0)")
		e.exec("create view " + e.r("v") + " as select id, qty from " + e.r("m"))
		e.exec("create view " + e.r("vv") + " as select qty from " + e.r("v"))
		applied, err := materialize.Incremental(e.ctx, wh, e.rel("m"), "select 2 as id, cast(3000000000 as bigint) as qty",
			materialize.IncrementalOptions{OnSchemaChange: "sync_all_columns"})
		if err != nil {
			t.Fatalf("%v\nSQL:\n%s", err, strings.Join(applied.SQL, ";\n"))
		}
		if got, want := e.columns("m"), []string{"id integer", "qty bigint"}; !reflect.DeepEqual(got, want) {
			t.Errorf("columns %q, want %q", got, want)
		}
		if got := e.rows("select qty from " + e.r("vv") + " order by qty"); !reflect.DeepEqual(got, []string{"10", "3000000000"}) {
			t.Errorf("view rows %q", got)
		}
		e.assertNoStaging("m")

		if wh.Dialect().Name() != "duckdb" {
			return
		}
		e.exec("create table " + e.r("i") + " (id integer, qty integer)")
		e.exec("insert into " + e.r("i") + " values (1, 10)")
		e.exec("create index i_qty on " + e.r("i") + " (qty)")
		_, err = materialize.Incremental(e.ctx, wh, e.rel("i"), "select 2 as id, cast(3000000000 as bigint) as qty", materialize.IncrementalOptions{})
		var we *adapters.Error
		if !errors.As(err, &we) || !strings.Contains(err.Error(), "widening column qty from INTEGER to BIGINT") {
			t.Errorf("error = %v", err)
		}
		if got := e.columns("i"); !reflect.DeepEqual(got, []string{"id integer", "qty integer"}) {
			t.Errorf("columns changed: %q", got)
		}
		e.assertNoStaging("i")
	})
}
