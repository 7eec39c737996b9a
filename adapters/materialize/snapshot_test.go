package materialize_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/duckdb"
	"github.com/kilnhq/kiln/adapters/materialize"
	"github.com/kilnhq/kiln/adapters/postgres"
)

// snapHarness is one warehouse and a schema of the test's own.
type snapHarness struct {
	t      *testing.T
	wh     adapters.Warehouse
	schema string
}

// snapForEachWarehouse runs f against a fresh DuckDB file and a fresh Postgres
// database (skipped without KILN_TEST_POSTGRES_URL, failing in CI).
func snapForEachWarehouse(t *testing.T, f func(t *testing.T, h *snapHarness)) {
	opens := []struct {
		name string
		open func(t *testing.T) (adapters.Warehouse, error)
	}{
		{"duckdb", func(t *testing.T) (adapters.Warehouse, error) {
			return duckdb.Open(context.Background(), adaptertest.DuckDB(t))
		}},
		{"postgres", func(t *testing.T) (adapters.Warehouse, error) {
			return postgres.Open(context.Background(), adaptertest.Postgres(t))
		}},
	}
	for _, o := range opens {
		t.Run(o.name, func(t *testing.T) {
			wh, err := o.open(t)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = wh.Close() })
			h := &snapHarness{t: t, wh: wh, schema: "snaps"}
			if err := materialize.CreateSchema(context.Background(), wh, wh.Dialect().DefaultDatabase(), h.schema); err != nil {
				t.Fatal(err)
			}
			f(t, h)
		})
	}
}

func (h *snapHarness) rel(name string) adapters.Relation {
	return adapters.Relation{Database: h.wh.Dialect().DefaultDatabase(), Schema: h.schema, Identifier: name}
}

// sql replaces {name} with the rendered relation name in the schema.
func (h *snapHarness) sql(s string) string {
	d := h.wh.Dialect()
	for _, name := range []string{"src", "snap", "snap2"} {
		s = strings.ReplaceAll(s, "{"+name+"}", d.Render(h.rel(name)))
	}
	return s
}

func (h *snapHarness) exec(stmts ...string) {
	h.t.Helper()
	for _, s := range stmts {
		if _, err := h.wh.Exec(context.Background(), h.sql(s)); err != nil {
			h.t.Fatalf("exec %s: %v", s, err)
		}
	}
}

// rows returns the rows of a query as "|"-joined strings.
func (h *snapHarness) rows(q string) []string {
	h.t.Helper()
	rows, err := h.wh.Query(context.Background(), h.sql(q))
	if err != nil {
		h.t.Fatalf("query %s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			h.t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = snapFormat(v)
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// snapFormat spells a value compactly: 2024 midnights as MM-DD.
func snapFormat(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case time.Time:
		x = x.UTC()
		if x.Year() == 2024 && x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 {
			return x.Format("01-02")
		}
		return x.Format("2006-01-02 15:04:05")
	}
	return fmt.Sprint(v)
}

// relations lists the identifiers in the test schema.
func (h *snapHarness) relations() []string {
	h.t.Helper()
	infos, err := h.wh.Relations(context.Background(), h.wh.Dialect().DefaultDatabase(), h.schema)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, info := range infos {
		out = append(out, info.Relation.Identifier)
	}
	return out
}

func (h *snapHarness) columns(name string) []string {
	h.t.Helper()
	info, err := h.wh.Relation(context.Background(), h.rel(name))
	if err != nil || info == nil {
		h.t.Fatalf("Relation(%s) = %v, %v", name, info, err)
	}
	var out []string
	for _, c := range info.Columns {
		out = append(out, c.Name)
	}
	return out
}

func snapAt(day string) string { return "cast('" + day + "' as timestamp)" }

// snapStep changes the source, snapshots it at now and expects history.
type snapStep struct {
	name     string
	setup    []string
	now      string
	want     []string
	affected int64 // rows inserted + updated; -1 to skip the check
}

// snapScript runs steps against the snapshot table snap, each twice: the
// second run must change nothing.
type snapScript struct {
	table   string // "snap" or "snap2"
	sql     string
	opts    materialize.SnapshotOptions
	history string // select list and order for the history
}

func (h *snapHarness) run(s snapScript, steps []snapStep) {
	t := h.t
	t.Helper()
	for i, st := range steps {
		h.exec(st.setup...)
		opts := s.opts
		opts.Now = snapAt(st.now)
		applied, err := materialize.Snapshot(context.Background(), h.wh, h.rel(s.table), h.sql(s.sql), opts)
		if err != nil {
			t.Fatalf("step %d (%s): %v\nSQL:\n%s", i+1, st.name, err, strings.Join(applied.SQL, ";\n"))
		}
		got := h.rows("select " + s.history + " from {" + s.table + "} order by " + strings.Join(s.opts.UniqueKey, ", ") + ", dbt_valid_from, dbt_valid_to nulls last")
		if !reflect.DeepEqual(got, st.want) {
			t.Fatalf("step %d (%s): history\n got %q\nwant %q\nSQL:\n%s", i+1, st.name, got, st.want, strings.Join(applied.SQL, ";\n"))
		}
		if st.affected >= 0 && applied.Result.RowsAffected != st.affected {
			t.Errorf("step %d (%s): RowsAffected = %d, want %d", i+1, st.name, applied.Result.RowsAffected, st.affected)
		}
		again, err := materialize.Snapshot(context.Background(), h.wh, h.rel(s.table), h.sql(s.sql), opts)
		if err != nil {
			t.Fatalf("step %d (%s) again: %v", i+1, st.name, err)
		}
		if again.Result.RowsAffected != 0 {
			t.Errorf("step %d (%s) again: RowsAffected = %d, want 0", i+1, st.name, again.Result.RowsAffected)
		}
		if got2 := h.rows("select " + s.history + " from {" + s.table + "} order by " + strings.Join(s.opts.UniqueKey, ", ") + ", dbt_valid_from, dbt_valid_to nulls last"); !reflect.DeepEqual(got2, got) {
			t.Fatalf("step %d (%s) again changed history\n got %q\nwant %q", i+1, st.name, got2, got)
		}
		for _, r := range h.relations() {
			if strings.HasSuffix(r, materialize.TmpSuffix) || strings.HasSuffix(r, materialize.BackupSuffix) {
				t.Errorf("step %d (%s): %s survived", i+1, st.name, r)
			}
		}
	}
}

// snapWithDeleted returns rows as they are under hard_deletes new_record,
// or otherwise without deletion records ("|True") and the "|False" flag.
func snapWithDeleted(newRecord bool, rows ...string) []string {
	if !newRecord {
		var out []string
		for _, r := range rows {
			if !strings.HasSuffix(r, "|True") {
				out = append(out, strings.TrimSuffix(r, "|False"))
			}
		}
		return out
	}
	return rows
}

func TestSnapshotTimestampStrategy(t *testing.T) {
	for _, mode := range []string{materialize.HardDeletesIgnore, materialize.HardDeletesInvalidate, materialize.HardDeletesNewRecord} {
		t.Run(mode, func(t *testing.T) {
			snapForEachWarehouse(t, func(t *testing.T, h *snapHarness) {
				nr := mode == materialize.HardDeletesNewRecord
				history := "id, name, dbt_valid_from, dbt_valid_to"
				if nr {
					history += ", dbt_is_deleted"
				}
				script := snapScript{
					table: "snap",
					sql:   "select id, name, updated_at from {src}",
					opts: materialize.SnapshotOptions{
						Strategy: "timestamp", UniqueKey: []string{"id"}, UpdatedAt: "updated_at", HardDeletes: mode,
					},
					history: history,
				}
				// Rows of the history per mode: "|False"/"|True" rows are
				// trimmed/dropped when the mode is not new_record.
				pick := func(ignore, invalidate, newRecord []string) []string {
					switch mode {
					case materialize.HardDeletesIgnore:
						return ignore
					case materialize.HardDeletesInvalidate:
						return invalidate
					}
					return newRecord
				}
				affected := map[string][]int64{
					materialize.HardDeletesIgnore:     {3, 3, 0, 4, 0},
					materialize.HardDeletesInvalidate: {3, 4, 0, 3, 1},
					materialize.HardDeletesNewRecord:  {3, 5, 0, 4, 2},
				}[mode]
				h.exec("create table {src} (id integer, name text, updated_at timestamp)")
				h.run(script, []snapStep{
					{
						name:  "first run",
						setup: []string{"insert into {src} values (1, 'a', '2024-01-01'), (2, 'b', '2024-01-01'), (3, 'c', '2024-01-01')"},
						now:   "2024-01-10",
						want: snapWithDeleted(nr,
							"1|a|01-01|null|False",
							"2|b|01-01|null|False",
							"3|c|01-01|null|False"),
						affected: affected[0],
					},
					{
						name: "update, update without updated_at, insert, delete",
						setup: []string{
							"update {src} set name = 'a2', updated_at = '2024-01-05' where id = 1",
							"update {src} set name = 'b2' where id = 2",
							"insert into {src} values (4, 'd', '2024-01-06')",
							"delete from {src} where id = 3",
						},
						now: "2024-01-11",
						want: pick(
							[]string{"1|a|01-01|01-05", "1|a2|01-05|null", "2|b|01-01|null", "3|c|01-01|null", "4|d|01-06|null"},
							[]string{"1|a|01-01|01-05", "1|a2|01-05|null", "2|b|01-01|null", "3|c|01-01|01-11", "4|d|01-06|null"},
							[]string{"1|a|01-01|01-05|False", "1|a2|01-05|null|False", "2|b|01-01|null|False", "3|c|01-01|01-11|False", "3|c|01-11|null|True", "4|d|01-06|null|False"},
						),
						affected: affected[1],
					},
					{
						name: "no change, later now",
						now:  "2024-01-12",
						want: pick(
							[]string{"1|a|01-01|01-05", "1|a2|01-05|null", "2|b|01-01|null", "3|c|01-01|null", "4|d|01-06|null"},
							[]string{"1|a|01-01|01-05", "1|a2|01-05|null", "2|b|01-01|null", "3|c|01-01|01-11", "4|d|01-06|null"},
							[]string{"1|a|01-01|01-05|False", "1|a2|01-05|null|False", "2|b|01-01|null|False", "3|c|01-01|01-11|False", "3|c|01-11|null|True", "4|d|01-06|null|False"},
						),
						affected: affected[2],
					},
					{
						name: "deleted key returns, another update",
						setup: []string{
							"insert into {src} values (3, 'c2', '2024-01-12')",
							"update {src} set name = 'd2', updated_at = '2024-01-13' where id = 4",
						},
						now: "2024-01-13",
						want: pick(
							[]string{"1|a|01-01|01-05", "1|a2|01-05|null", "2|b|01-01|null", "3|c|01-01|01-12", "3|c2|01-12|null", "4|d|01-06|01-13", "4|d2|01-13|null"},
							[]string{"1|a|01-01|01-05", "1|a2|01-05|null", "2|b|01-01|null", "3|c|01-01|01-11", "3|c2|01-12|null", "4|d|01-06|01-13", "4|d2|01-13|null"},
							[]string{"1|a|01-01|01-05|False", "1|a2|01-05|null|False", "2|b|01-01|null|False", "3|c|01-01|01-11|False", "3|c|01-11|01-12|True", "3|c2|01-12|null|False", "4|d|01-06|01-13|False", "4|d2|01-13|null|False"},
						),
						affected: affected[3],
					},
					{
						name:  "deleted again",
						setup: []string{"delete from {src} where id = 3"},
						now:   "2024-01-14",
						want: pick(
							[]string{"1|a|01-01|01-05", "1|a2|01-05|null", "2|b|01-01|null", "3|c|01-01|01-12", "3|c2|01-12|null", "4|d|01-06|01-13", "4|d2|01-13|null"},
							[]string{"1|a|01-01|01-05", "1|a2|01-05|null", "2|b|01-01|null", "3|c|01-01|01-11", "3|c2|01-12|01-14", "4|d|01-06|01-13", "4|d2|01-13|null"},
							[]string{"1|a|01-01|01-05|False", "1|a2|01-05|null|False", "2|b|01-01|null|False", "3|c|01-01|01-11|False", "3|c|01-11|01-12|True", "3|c2|01-12|01-14|False", "3|c2|01-14|null|True", "4|d|01-06|01-13|False", "4|d2|01-13|null|False"},
						),
						affected: affected[4],
					},
				})
				// dbt_updated_at follows the source's updated_at; the
				// deletion records take the run's time.
				want := pick(
					[]string{"1|01-01", "1|01-05", "2|01-01", "3|01-01", "3|01-12", "4|01-06", "4|01-13"},
					[]string{"1|01-01", "1|01-05", "2|01-01", "3|01-01", "3|01-12", "4|01-06", "4|01-13"},
					[]string{"1|01-01", "1|01-05", "2|01-01", "3|01-01", "3|01-11", "3|01-12", "3|01-14", "4|01-06", "4|01-13"},
				)
				if got := h.rows("select id, dbt_updated_at from {snap} order by id, dbt_valid_from"); !reflect.DeepEqual(got, want) {
					t.Errorf("dbt_updated_at:\n got %q\nwant %q", got, want)
				}
				// dbt_scd_id is unique across the history.
				if got := h.rows("select count(*) - count(distinct dbt_scd_id) from {snap}"); !reflect.DeepEqual(got, []string{"0"}) {
					t.Errorf("duplicate dbt_scd_id: %v", got)
				}
			})
		})
	}
}

func TestSnapshotCheckStrategy(t *testing.T) {
	cases := []struct {
		name      string
		checkCols []string
		mode      string
	}{
		{"columns/new_record", []string{"name", "status"}, materialize.HardDeletesNewRecord},
		{"all/invalidate", []string{"all"}, materialize.HardDeletesInvalidate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snapForEachWarehouse(t, func(t *testing.T, h *snapHarness) {
				nr := c.mode == materialize.HardDeletesNewRecord
				all := c.checkCols[0] == "all"
				history := "id, name, status, noise, dbt_valid_from, dbt_valid_to"
				if nr {
					history += ", dbt_is_deleted"
				}
				script := snapScript{
					table:   "snap",
					sql:     "select id, name, status, noise from {src}",
					opts:    materialize.SnapshotOptions{Strategy: "check", UniqueKey: []string{"id"}, CheckCols: c.checkCols, HardDeletes: c.mode},
					history: history,
				}
				// id 3's noise changes: a new version only with "all".
				id3 := []string{"3|c|y|n|01-10|null|False"}
				if all {
					id3 = []string{"3|c|y|n|01-10|01-11|False", "3|c|y|n2|01-11|null|False"}
				}
				step2 := append(append([]string{
					"1|a|x|n|01-10|01-11|False",
					"1|a|null|n|01-11|null|False",
					"2|b|null|n|01-10|01-11|False",
					"2|b|z|n|01-11|null|False",
				}, id3...), "4|d|null|n|01-11|null|False")
				step4 := append(append([]string{
					"1|a|x|n|01-10|01-11|False",
					"1|a|null|n|01-11|null|False",
					"2|b|null|n|01-10|01-11|False",
					"2|b|z|n|01-11|01-13|False",
					"2|b|z|n|01-13|null|True",
				}, id3...), "4|d|null|n|01-11|01-13|False", "4|d2|null|n|01-13|null|False")
				step5 := append(append([]string{
					"1|a|x|n|01-10|01-11|False",
					"1|a|null|n|01-11|null|False",
					"2|b|null|n|01-10|01-11|False",
					"2|b|z|n|01-11|01-13|False",
					"2|b|z|n|01-13|01-14|True",
					"2|b|z|n|01-14|null|False",
				}, id3...), "4|d|null|n|01-11|01-13|False", "4|d2|null|n|01-13|null|False")
				n2 := int64(5) // versions ended and started for ids 1 and 2, plus id 4
				if all {
					n2 = 7
				}
				h.exec("create table {src} (id integer, name text, status text, noise text)")
				h.run(script, []snapStep{
					{
						name:  "first run",
						setup: []string{"insert into {src} values (1, 'a', 'x', 'n'), (2, 'b', null, 'n'), (3, 'c', 'y', 'n')"},
						now:   "2024-01-10",
						want: snapWithDeleted(nr,
							"1|a|x|n|01-10|null|False",
							"2|b|null|n|01-10|null|False",
							"3|c|y|n|01-10|null|False"),
						affected: 3,
					},
					{
						name: "value to null, null to value, unchecked column, insert",
						setup: []string{
							"update {src} set status = null where id = 1",
							"update {src} set status = 'z' where id = 2",
							"update {src} set noise = 'n2' where id = 3",
							"insert into {src} values (4, 'd', null, 'n')",
						},
						now:      "2024-01-11",
						want:     snapWithDeleted(nr, step2...),
						affected: n2,
					},
					{
						name:     "null to null is no change",
						setup:    []string{"update {src} set status = null where id in (1, 4)"},
						now:      "2024-01-12",
						want:     snapWithDeleted(nr, step2...),
						affected: 0,
					},
					{
						name: "delete and update",
						setup: []string{
							"delete from {src} where id = 2",
							"update {src} set name = 'd2' where id = 4",
						},
						now:      "2024-01-13",
						want:     snapWithDeleted(nr, step4...),
						affected: map[bool]int64{true: 4, false: 3}[nr],
					},
					{
						name:     "deleted key returns unchanged",
						setup:    []string{"insert into {src} values (2, 'b', 'z', 'n')"},
						now:      "2024-01-14",
						want:     snapWithDeleted(nr, step5...),
						affected: map[bool]int64{true: 2, false: 1}[nr],
					},
				})
			})
		})
	}
}

func TestSnapshotCompositeKey(t *testing.T) {
	snapForEachWarehouse(t, func(t *testing.T, h *snapHarness) {
		h.exec("create table {src} (region text, id integer, v text, updated_at timestamp)")
		h.run(snapScript{
			table: "snap",
			sql:   "select * from {src}",
			opts: materialize.SnapshotOptions{
				Strategy: "timestamp", UniqueKey: []string{"region", "id"}, UpdatedAt: "updated_at", HardDeletes: "invalidate",
			},
			history: "region, id, v, dbt_valid_from, dbt_valid_to",
		}, []snapStep{
			{
				name:     "first run",
				setup:    []string{"insert into {src} values ('eu', 1, 'a', '2024-01-01'), ('us', 1, 'b', '2024-01-01'), ('eu', 2, 'c', '2024-01-01')"},
				now:      "2024-01-10",
				want:     []string{"eu|1|a|01-01|null", "eu|2|c|01-01|null", "us|1|b|01-01|null"},
				affected: 3,
			},
			{
				name: "same id in another region",
				setup: []string{
					"update {src} set v = 'b2', updated_at = '2024-01-05' where region = 'us' and id = 1",
					"delete from {src} where region = 'eu' and id = 2",
					"insert into {src} values ('us', 2, 'd', '2024-01-05')",
				},
				now:      "2024-01-11",
				want:     []string{"eu|1|a|01-01|null", "eu|2|c|01-01|01-11", "us|1|b|01-01|01-05", "us|1|b2|01-05|null", "us|2|d|01-05|null"},
				affected: 4,
			},
		})
	})
}

func TestSnapshotNewSourceColumn(t *testing.T) {
	snapForEachWarehouse(t, func(t *testing.T, h *snapHarness) {
		h.exec(
			"create table {src} (id integer, name text, updated_at timestamp)",
			"insert into {src} values (1, 'a', '2024-01-01'), (2, 'b', '2024-01-01')",
		)
		ts := snapScript{
			table:   "snap",
			sql:     "select * from {src}",
			opts:    materialize.SnapshotOptions{Strategy: "timestamp", UniqueKey: []string{"id"}, UpdatedAt: "updated_at"},
			history: "id, name, dbt_valid_from, dbt_valid_to",
		}
		all := snapScript{
			table:   "snap2",
			sql:     "select * from {src}",
			opts:    materialize.SnapshotOptions{Strategy: "check", UniqueKey: []string{"id"}, CheckCols: []string{"all"}},
			history: "id, name, dbt_valid_from, dbt_valid_to",
		}
		h.run(ts, []snapStep{{name: "first run", now: "2024-01-10", want: []string{"1|a|01-01|null", "2|b|01-01|null"}, affected: 2}})
		h.run(all, []snapStep{{name: "first run", now: "2024-01-10", want: []string{"1|a|01-10|null", "2|b|01-10|null"}, affected: 2}})

		h.exec(
			"alter table {src} add column extra text",
			"update {src} set extra = 'e', name = 'a2', updated_at = '2024-01-05' where id = 1",
			"update {src} set extra = 'f' where id = 2",
		)
		ts.history, all.history = "id, name, extra, dbt_valid_from, dbt_valid_to", "id, name, extra, dbt_valid_from, dbt_valid_to"
		h.run(ts, []snapStep{{
			name: "new column", now: "2024-01-11", affected: 2,
			want: []string{"1|a|null|01-01|01-05", "1|a2|e|01-05|null", "2|b|null|01-01|null"},
		}})
		h.run(all, []snapStep{{
			name: "new column", now: "2024-01-11", affected: 4,
			want: []string{"1|a|null|01-10|01-11", "1|a2|e|01-11|null", "2|b|null|01-10|01-11", "2|b|f|01-11|null"},
		}})
		want := []string{"id", "name", "updated_at", "dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to", "extra"}
		if got := h.columns("snap"); !reflect.DeepEqual(got, want) {
			t.Errorf("columns = %v, want %v", got, want)
		}
	})
}

func TestSnapshotSwitchToNewRecord(t *testing.T) {
	snapForEachWarehouse(t, func(t *testing.T, h *snapHarness) {
		h.exec("create table {src} (id integer, name text, updated_at timestamp)")
		s := snapScript{
			table:   "snap",
			sql:     "select * from {src}",
			opts:    materialize.SnapshotOptions{Strategy: "timestamp", UniqueKey: []string{"id"}, UpdatedAt: "updated_at"},
			history: "id, name, dbt_valid_from, dbt_valid_to",
		}
		h.run(s, []snapStep{{
			name:     "first run without dbt_is_deleted",
			setup:    []string{"insert into {src} values (1, 'a', '2024-01-01'), (2, 'b', '2024-01-01')"},
			now:      "2024-01-10",
			want:     []string{"1|a|01-01|null", "2|b|01-01|null"},
			affected: 2,
		}})
		s.opts.HardDeletes, s.history = "new_record", s.history+", dbt_is_deleted"
		h.run(s, []snapStep{{
			name:     "delete under new_record adds dbt_is_deleted",
			setup:    []string{"delete from {src} where id = 2"},
			now:      "2024-01-11",
			want:     []string{"1|a|01-01|null|null", "2|b|01-01|01-11|null", "2|b|01-11|null|True"},
			affected: 2,
		}})
	})
}

func TestSnapshotValidToCurrent(t *testing.T) {
	snapForEachWarehouse(t, func(t *testing.T, h *snapHarness) {
		h.exec("create table {src} (id integer, name text, updated_at timestamp)")
		h.run(snapScript{
			table: "snap",
			sql:   "select * from {src}",
			opts: materialize.SnapshotOptions{
				Strategy: "timestamp", UniqueKey: []string{"id"}, UpdatedAt: "updated_at", HardDeletes: "new_record",
				ValidToCurrent: "cast('9999-12-31' as timestamp)",
			},
			history: "id, name, dbt_valid_from, dbt_valid_to, dbt_is_deleted",
		}, []snapStep{
			{
				name:     "first run",
				setup:    []string{"insert into {src} values (1, 'a', '2024-01-01'), (2, 'b', '2024-01-01')"},
				now:      "2024-01-10",
				want:     []string{"1|a|01-01|9999-12-31 00:00:00|False", "2|b|01-01|9999-12-31 00:00:00|False"},
				affected: 2,
			},
			{
				name:     "update and delete",
				setup:    []string{"update {src} set name = 'a2', updated_at = '2024-01-05' where id = 1", "delete from {src} where id = 2"},
				now:      "2024-01-11",
				want:     []string{"1|a|01-01|01-05|False", "1|a2|01-05|9999-12-31 00:00:00|False", "2|b|01-01|01-11|False", "2|b|01-11|9999-12-31 00:00:00|True"},
				affected: 4,
			},
		})
	})
}

func TestSnapshotDefaultNow(t *testing.T) {
	snapForEachWarehouse(t, func(t *testing.T, h *snapHarness) {
		h.exec("create table {src} (id integer, name text)", "insert into {src} values (1, 'a')")
		opts := materialize.SnapshotOptions{Strategy: "check", UniqueKey: []string{"ID"}, CheckCols: []string{"NAME"}}
		for _, stmt := range []string{"", "update {src} set name = 'b'"} {
			if stmt != "" {
				h.exec(stmt)
			}
			if _, err := materialize.Snapshot(context.Background(), h.wh, h.rel("snap"), h.sql("select * from {src}"), opts); err != nil {
				t.Fatal(err)
			}
		}
		got := h.rows("select name, dbt_valid_from is not null, dbt_valid_to is not null, dbt_updated_at = dbt_valid_from from {snap} order by dbt_valid_from")
		if want := []string{"a|true|true|true", "b|true|false|true"}; !reflect.DeepEqual(got, want) {
			t.Errorf("history = %q, want %q", got, want)
		}
		if got := h.rows("select count(*) from {snap} as old join {snap} as cur on old.dbt_valid_to = cur.dbt_valid_from"); !reflect.DeepEqual(got, []string{"1"}) {
			t.Errorf("the old version does not end where the new one starts: %v", got)
		}
	})
}

func TestSnapshotFailureLeavesTableUnchanged(t *testing.T) {
	snapForEachWarehouse(t, func(t *testing.T, h *snapHarness) {
		ctx := context.Background()
		h.exec(
			"create table {src} (id integer, name text, updated_at timestamp)",
			"insert into {src} values (1, 'a', '2024-01-01'), (2, 'b', '2024-01-01')",
		)
		opts := materialize.SnapshotOptions{
			Strategy: "timestamp", UniqueKey: []string{"id"}, UpdatedAt: "updated_at", HardDeletes: "new_record", Now: snapAt("2024-01-10"),
		}
		snap := h.rel("snap")
		if _, err := materialize.Snapshot(ctx, h.wh, snap, h.sql("select * from {src}"), opts); err != nil {
			t.Fatal(err)
		}
		const history = "select id, name, dbt_valid_from, dbt_valid_to, dbt_is_deleted from {snap} order by id, dbt_valid_from"
		before, beforeCols := h.rows(history), h.columns("snap")
		h.exec(
			"update {src} set name = 'a2', updated_at = '2024-01-05' where id = 1",
			"delete from {src} where id = 2",
			"alter table {src} add column extra text",
		)
		opts.Now = snapAt("2024-01-11")
		bad := []struct{ name, sql string }{
			{"unknown column", "select id, nope, updated_at from {src}"},
			{"syntax", "select id, name, updated_at from {src} where"},
			// Fails while staging, after the new columns were added.
			{"runtime", "select id, name, updated_at, extra, cast(name as integer) as boom from {src}"},
		}
		for _, b := range bad {
			applied, err := materialize.Snapshot(ctx, h.wh, snap, h.sql(b.sql), opts)
			if err == nil {
				t.Errorf("%s: no error", b.name)
				continue
			}
			if !strings.Contains(err.Error(), "snapshotting into") {
				t.Errorf("%s: error %q does not say what was done", b.name, err)
			}
			if len(applied.SQL) == 0 {
				t.Errorf("%s: no SQL recorded", b.name)
			}
			if b.name == "runtime" && !strings.Contains(strings.Join(applied.SQL, "\n"), "add column") {
				t.Errorf("runtime: the failure came before the columns were added:\n%s", strings.Join(applied.SQL, "\n"))
			}
			if got := h.rows(history); !reflect.DeepEqual(got, before) {
				t.Errorf("%s: history changed\n got %q\nwant %q", b.name, got, before)
			}
			if got := h.columns("snap"); !reflect.DeepEqual(got, beforeCols) {
				t.Errorf("%s: columns changed: %v, want %v", b.name, got, beforeCols)
			}
			if got := h.relations(); len(got) != 2 {
				t.Errorf("%s: relations = %v, want src and snap only", b.name, got)
			}
		}

		badOpts := []struct {
			name string
			opts materialize.SnapshotOptions
			msgs []string
		}{
			{"options", materialize.SnapshotOptions{Strategy: "bogus", HardDeletes: "sometimes"}, []string{"unknown snapshot strategy", "unique_key", "unknown hard_deletes"}},
			{"timestamp without updated_at", materialize.SnapshotOptions{Strategy: "timestamp", UniqueKey: []string{"id"}}, []string{"needs updated_at"}},
			{"check without columns", materialize.SnapshotOptions{Strategy: "check", UniqueKey: []string{"id"}}, []string{"needs check_cols"}},
			{"missing columns", materialize.SnapshotOptions{Strategy: "check", UniqueKey: []string{"key"}, CheckCols: []string{"name", "nope"}}, []string{`unique_key "key"`, `check_cols entry "nope"`}},
		}
		for _, b := range badOpts {
			_, err := materialize.Snapshot(ctx, h.wh, snap, h.sql("select * from {src}"), b.opts)
			if err == nil {
				t.Errorf("%s: no error", b.name)
				continue
			}
			for _, m := range b.msgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("%s: error %q lacks %q", b.name, err, m)
				}
			}
		}
		if got := h.rows(history); !reflect.DeepEqual(got, before) {
			t.Errorf("history changed by bad options\n got %q\nwant %q", got, before)
		}

		// A leftover staging table is dropped, and the good run applies.
		h.exec("create table " + h.wh.Dialect().Render(h.rel("snap"+materialize.TmpSuffix)) + " (x integer)")
		applied, err := materialize.Snapshot(ctx, h.wh, snap, h.sql("select * from {src}"), opts)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"1|a|01-01|01-05|False", "1|a2|01-05|null|False", "2|b|01-01|01-11|False", "2|b|01-11|null|True"}
		if got := h.rows(history); !reflect.DeepEqual(got, want) {
			t.Errorf("history\n got %q\nwant %q", got, want)
		}
		if got := h.relations(); len(got) != 2 {
			t.Errorf("relations = %v, want src and snap only", got)
		}
		all := strings.Join(applied.SQL, "\n")
		for _, s := range []string{"begin", "commit", "add column", "update ", "insert into", "drop table"} {
			if !strings.Contains(all, s) {
				t.Errorf("Applied.SQL lacks %q:\n%s", s, all)
			}
		}
		if applied.Result.Code != "INSERT" || applied.Result.RowsAffected != 4 {
			t.Errorf("Result = %+v, want INSERT 4", applied.Result)
		}
	})
}

func TestSnapshotRefusesNonSnapshotRelation(t *testing.T) {
	snapForEachWarehouse(t, func(t *testing.T, h *snapHarness) {
		h.exec("create table {src} (id integer, updated_at timestamp)", "create view {snap} as select * from {src}", "create table {snap2} (id integer)")
		opts := materialize.SnapshotOptions{Strategy: "timestamp", UniqueKey: []string{"id"}, UpdatedAt: "updated_at"}
		for _, name := range []string{"snap", "snap2"} {
			if _, err := materialize.Snapshot(context.Background(), h.wh, h.rel(name), h.sql("select * from {src}"), opts); err == nil || !strings.Contains(err.Error(), "not a snapshot table") {
				t.Errorf("%s: err = %v, want not a snapshot table", name, err)
			}
		}
	})
}
