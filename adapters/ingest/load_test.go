package ingest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
)

var ctx = context.Background()

func TestConformanceMemTable(t *testing.T) {
	ingesttest.Run(t, func(t *testing.T, step int) ingest.Table { return ingesttest.StepTable(step) })
}

func rows(cols []string, rs ...[]any) ingest.Batch { return ingest.Batch{Columns: cols, Rows: rs} }

func mustLoad(t *testing.T, wh adapters.Warehouse, dest adapters.Relation, tbl ingest.Table, opts ingest.LoadOptions) ingest.Result {
	t.Helper()
	res, err := ingest.Load(ctx, wh, dest, tbl, opts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return res
}

func col(t *testing.T, wh adapters.Warehouse, dest adapters.Relation, sel string) string {
	t.Helper()
	var out []string
	for _, r := range ingesttest.Query(t, wh, "select "+sel+" from "+wh.Dialect().Render(dest)+" order by 1") {
		out = append(out, strings.Join(r, "|"))
	}
	return strings.Join(out, " ")
}

func TestCursorMicrosecondsAndNulls(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dest := ingesttest.Rel(wh, "raw", "events")
		t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		cols := []string{"id", "ts"}
		opts := ingest.LoadOptions{Key: "raw.events", Mode: ingest.ModeAppend, Cursor: "ts"}
		first := &ingesttest.MemTable{Batches: []ingest.Batch{rows(cols,
			[]any{int64(1), t0}, []any{int64(2), t0.Add(time.Microsecond)}, []any{int64(3), nil})}}
		mustLoad(t, wh, dest, first, opts)
		if got, want := col(t, wh, dest, "id"), "1 2 3"; got != want {
			t.Fatalf("first load: %s, want %s (NULL cursors read on the first load)", got, want)
		}
		// The source still has every row, plus one a microsecond later and
		// one with nanoseconds below the stored precision.
		second := &ingesttest.MemTable{Batches: []ingest.Batch{rows(cols,
			[]any{int64(1), t0}, []any{int64(2), t0.Add(time.Microsecond)}, []any{int64(3), nil},
			[]any{int64(4), t0.Add(2 * time.Microsecond)}, []any{int64(5), t0.Add(time.Microsecond + 500)})}}
		res := mustLoad(t, wh, dest, second, opts)
		if got, want := col(t, wh, dest, "id"), "1 2 3 4"; got != want {
			t.Fatalf("second load: %s, want %s (strict > at microseconds, NULL cursors skipped)", got, want)
		}
		if res.Inserted != 1 {
			t.Errorf("second load inserted %d, want 1", res.Inserted)
		}
		if req := second.Requests[0]; req.Full || !req.Since.(time.Time).Equal(t0.Add(time.Microsecond)) {
			t.Errorf("second ReadRequest = %+v, want Since %v", req, t0.Add(time.Microsecond))
		}
		// A full refresh reads everything again, NULL cursors included.
		third := &ingesttest.MemTable{Batches: second.Batches}
		opts.FullRefresh = true
		mustLoad(t, wh, dest, third, opts)
		if got, want := col(t, wh, dest, "id"), "1 2 3 4 5"; got != want {
			t.Fatalf("full refresh: %s, want %s", got, want)
		}
		if !third.Requests[0].Full {
			t.Errorf("full refresh request not Full")
		}
	})
}

func TestLookbackMergeDeduplicates(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dest := ingesttest.Rel(wh, "raw", "orders")
		t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		cols := []string{"id", "status", "updated_at"}
		opts := ingest.LoadOptions{Key: "raw.orders", Mode: ingest.ModeMerge, PrimaryKey: []string{"id"}, Cursor: "updated_at", Lookback: time.Hour}
		mustLoad(t, wh, dest, &ingesttest.MemTable{Batches: []ingest.Batch{rows(cols,
			[]any{int64(1), "new", t0.Add(-3 * time.Hour)},
			[]any{int64(2), "new", t0},
		)}}, opts)
		// Id 3 arrives late with a cursor inside the lookback window; id 2 is
		// re-read; id 1 is outside the window. Id 3 appears twice: the later
		// version wins.
		res := mustLoad(t, wh, dest, &ingesttest.MemTable{Batches: []ingest.Batch{
			rows(cols, []any{int64(1), "old", t0.Add(-3 * time.Hour)}, []any{int64(2), "new", t0}),
			rows(cols, []any{int64(3), "paid", t0.Add(-time.Minute)}, []any{int64(3), "shipped", t0.Add(-time.Second)}),
		}}, opts)
		if got, want := col(t, wh, dest, "id, status"), "1|new 2|new 3|shipped"; got != want {
			t.Errorf("after lookback merge: %s, want %s", got, want)
		}
		if res.Inserted != 1 || res.Updated != 1 {
			t.Errorf("inserted %d updated %d, want 1 and 1", res.Inserted, res.Updated)
		}
		_, cursor, _, err := ingest.ReadState(ctx, wh, "", "", "raw.orders")
		if err != nil || !cursor.(time.Time).Equal(t0) {
			t.Errorf("stored cursor %v (%v), want %v (lookback never moves it back)", cursor, err, t0)
		}
	})
}

func TestSchemaDrift(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dest := ingesttest.Rel(wh, "raw", "drift")
		opts := ingest.LoadOptions{Key: "raw.drift", Mode: ingest.ModeAppend}
		mustLoad(t, wh, dest, &ingesttest.MemTable{Batches: []ingest.Batch{
			rows([]string{"id", "code"}, []any{int64(1), int64(10)}),
		}}, opts)
		if typ := ingesttest.ColumnTypes(t, wh, dest)["code"]; !strings.Contains(typ, "int") {
			t.Fatalf("code typed %s, want an integer", typ)
		}
		// Within one load: code widens int → bigint → text across batches,
		// and a column appears.
		mustLoad(t, wh, dest, &ingesttest.MemTable{Batches: []ingest.Batch{
			rows([]string{"id", "code"}, []any{int64(2), int64(1) << 40}),
			rows([]string{"id", "code", "extra"}, []any{int64(3), "A-7", true}),
		}}, opts)
		types := ingesttest.ColumnTypes(t, wh, dest)
		if !strings.Contains(types["code"], "char") && !strings.Contains(types["code"], "text") {
			t.Errorf("code typed %s, want text after widening", types["code"])
		}
		if !strings.Contains(types["extra"], "bool") {
			t.Errorf("extra typed %q, want boolean", types["extra"])
		}
		if got, want := col(t, wh, dest, "id, code, extra"), "1|10|NULL 2|1099511627776|NULL 3|A-7|true"; got != want {
			t.Errorf("rows: %s, want %s", got, want)
		}
	})
}

func TestNestedJSONAndFlatten(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		rec := []any{int64(1), map[string]any{"city": "Oslo", "geo": map[string]any{"lat": 59.9}}, []any{"a", "b"}}
		cols := []string{"id", "address", "tags"}
		dest := ingesttest.Rel(wh, "raw", "nested")
		mustLoad(t, wh, dest, &ingesttest.MemTable{Batches: []ingest.Batch{rows(cols, rec)}}, ingest.LoadOptions{})
		types := ingesttest.ColumnTypes(t, wh, dest)
		want := "json"
		if wh.Dialect().Name() == "postgres" {
			want = "jsonb"
		}
		if types["address"] != want || types["tags"] != want {
			t.Errorf("types %v, want %s for address and tags", types, want)
		}
		got := ingesttest.Query(t, wh, "select cast(address as text), cast(tags as text) from "+wh.Dialect().Render(dest))
		if !strings.Contains(got[0][0], `"city"`) || !strings.Contains(got[0][0], "59.9") || !strings.Contains(got[0][1], `"b"`) {
			t.Errorf("json values %v", got)
		}

		flat := ingesttest.Rel(wh, "raw", "flat")
		mustLoad(t, wh, flat, &ingesttest.MemTable{Batches: []ingest.Batch{rows(cols, rec)}}, ingest.LoadOptions{Flatten: 1})
		types = ingesttest.ColumnTypes(t, wh, flat)
		if !strings.Contains(types["address__city"], "char") && types["address__city"] != "text" {
			t.Errorf("address__city typed %q (columns %v)", types["address__city"], types)
		}
		if types["address__geo"] != want || types["tags"] != want {
			t.Errorf("address__geo %q tags %q, want %s (deeper than flatten stays json)", types["address__geo"], types["tags"], want)
		}
		if _, ok := types["address"]; ok {
			t.Errorf("address kept beside its flattened columns: %v", types)
		}
	})
}

func TestBadRows(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		declared := []adapters.Column{{Name: "id", Type: "bigint"}, {Name: "name", Type: "text"}}
		table := func() ingest.Table {
			return &ingesttest.MemTable{Declared: declared, Batches: []ingest.Batch{
				{Columns: []string{"id", "name"}, Rows: [][]any{{int64(1), "a"}, {"x1", "b"}, {int64(3), "c"}}, File: "in.csv"},
				{Bad: []ingest.BadRecord{{Where: "in.csv:9", Reason: "wrong number of fields", Raw: "4,d,e"}}},
			}}
		}
		dest := ingesttest.Rel(wh, "raw", "bad")
		_, err := ingest.Load(ctx, wh, dest, table(), ingest.LoadOptions{Key: "raw.bad"})
		var bad *ingest.BadRecordError
		if !errors.As(err, &bad) || bad.Record.Where != "in.csv record 2" || !strings.Contains(err.Error(), "not an integer") {
			t.Fatalf("fail mode: err = %v, want the first bad record (in.csv record 2)", err)
		}
		if info, _ := wh.Relation(ctx, dest); info != nil {
			t.Errorf("fail mode left %s behind", wh.Dialect().Render(dest))
		}
		if _, _, found, _ := ingest.ReadState(ctx, wh, "", "", "raw.bad"); found {
			t.Errorf("fail mode wrote state")
		}
		if info, _ := wh.Relation(ctx, ingesttest.Rel(wh, "raw", "bad__kiln_tmp")); info != nil {
			t.Errorf("staging table left behind")
		}

		res := mustLoad(t, wh, dest, table(), ingest.LoadOptions{Key: "raw.bad", OnBadRows: "skip"})
		if res.Rejected != 2 || res.Inserted != 2 {
			t.Errorf("skip mode: inserted %d rejected %d, want 2 and 2", res.Inserted, res.Rejected)
		}
		if got, want := col(t, wh, dest, "id, name, _kiln_file"), "1|a|in.csv 3|c|in.csv"; got != want {
			t.Errorf("good rows %s, want %s", got, want)
		}
		rej := ingesttest.Rel(wh, "raw", "bad__kiln_rejects")
		got := col(t, wh, rej, `"where", reason, raw`)
		if !strings.Contains(got, "in.csv record 2|column id") || !strings.Contains(got, "in.csv:9|wrong number of fields|4,d,e") {
			t.Errorf("rejects: %s", got)
		}
		if n := ingesttest.Count(t, wh, rej); n != 2 {
			t.Errorf("%d rejects, want 2", n)
		}
	})
}

func TestReplaceAndFullRefresh(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dest := ingesttest.Rel(wh, "raw", "r")
		cols := []string{"id"}
		mustLoad(t, wh, dest, &ingesttest.MemTable{Batches: []ingest.Batch{rows(cols, []any{int64(1)}, []any{int64(2)})}}, ingest.LoadOptions{Mode: ingest.ModeAppend})
		mustLoad(t, wh, dest, &ingesttest.MemTable{Batches: []ingest.Batch{rows(cols, []any{int64(3)})}}, ingest.LoadOptions{Mode: ingest.ModeAppend, FullRefresh: true})
		if got := col(t, wh, dest, "id"); got != "3" {
			t.Errorf("full refresh of an append table: %s, want 3", got)
		}
		// An empty source replaces with an empty table.
		mustLoad(t, wh, dest, &ingesttest.MemTable{}, ingest.LoadOptions{})
		if n := ingesttest.Count(t, wh, dest); n != 0 {
			t.Errorf("replace with nothing: %d rows", n)
		}
		if _, err := ingest.Load(ctx, wh, dest, &ingesttest.MemTable{}, ingest.LoadOptions{Mode: ingest.ModeMerge}); err == nil {
			t.Errorf("merge without primary_key: no error")
		}
	})
}

// failingCommit wraps a warehouse so that the transaction writing the
// ingest state fails to commit (as a kill before COMMIT would).
type failingCommit struct{ adapters.Warehouse }

func (w failingCommit) Begin(ctx context.Context) (adapters.Tx, error) {
	tx, err := w.Warehouse.Begin(ctx)
	return &failTx{Tx: tx}, err
}

type failTx struct {
	adapters.Tx
	state bool
}

func (t *failTx) Exec(ctx context.Context, sql string) (adapters.Result, error) {
	if strings.Contains(sql, ingest.StateTable) {
		t.state = true
	}
	return t.Tx.Exec(ctx, sql)
}

func (t *failTx) Commit(ctx context.Context) error {
	if t.state {
		_ = t.Tx.Rollback(ctx)
		return errors.New("killed before commit")
	}
	return t.Tx.Commit(ctx)
}

func TestStateCommittedWithRows(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		for _, mode := range []string{ingest.ModeReplace, ingest.ModeAppend, ingest.ModeMerge} {
			t.Run(mode, func(t *testing.T) {
				dest := ingesttest.Rel(wh, "raw", "atomic_"+mode)
				key := "raw.atomic_" + mode
				opts := ingest.LoadOptions{Key: key, Mode: mode, PrimaryKey: []string{"id"}, Cursor: "id"}
				first := &ingesttest.MemTable{State: ingest.State{"n": "1"}, Batches: []ingest.Batch{rows([]string{"id"}, []any{int64(1)})}}
				mustLoad(t, wh, dest, first, opts)
				second := &ingesttest.MemTable{State: ingest.State{"n": "2"}, Batches: []ingest.Batch{rows([]string{"id"}, []any{int64(1)}, []any{int64(2)})}}
				if _, err := ingest.Load(ctx, failingCommit{wh}, dest, second, opts); err == nil || !strings.Contains(err.Error(), "killed before commit") {
					t.Fatalf("err = %v, want the commit failure", err)
				}
				if got := col(t, wh, dest, "id"); got != "1" {
					t.Errorf("rows after a failed commit: %s, want 1", got)
				}
				st, cursor, _, err := ingest.ReadState(ctx, wh, "", "", key)
				if err != nil || st["n"] != "1" || cursor != int64(1) {
					t.Errorf("state after a failed commit: %v cursor %v (%v), want n=1 cursor 1", st, cursor, err)
				}
				mustLoad(t, wh, dest, second, opts)
				if got := col(t, wh, dest, "id"); got != "1 2" {
					t.Errorf("rows after the rerun: %s, want 1 2", got)
				}
			})
		}
	})
}

func TestRegistry(t *testing.T) {
	r := ingest.NewRegistry(ingest.Connector{Name: "files"}, ingest.Connector{Name: "http"})
	if _, err := r.Get("files"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get("ftp"); err == nil || !strings.Contains(err.Error(), "known: files, http") {
		t.Errorf("unknown connector error = %v", err)
	}
	if got := strings.Join(r.Names(), ","); got != "files,http" {
		t.Errorf("Names = %s", got)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("duplicate name did not panic")
		}
	}()
	ingest.NewRegistry(ingest.Connector{Name: "x"}, ingest.Connector{Name: "x"})
}

func TestParallelLoads(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		errs := make(chan error, 4)
		for i := range 4 {
			go func() {
				name := "p" + string(rune('a'+i))
				tbl := &ingesttest.MemTable{Batches: []ingest.Batch{rows([]string{"id"}, []any{int64(i)})}}
				_, err := ingest.Load(ctx, wh, ingesttest.Rel(wh, "raw", name), tbl, ingest.LoadOptions{Key: "raw." + name, Mode: ingest.ModeMerge, PrimaryKey: []string{"id"}})
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

// TestReplaceKeepsViews replaces a table that a view reads (a staging
// model on a raw table): the view survives the swap and reads the new rows.
func TestReplaceKeepsViews(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		ctx := context.Background()
		d := wh.Dialect()
		dest := ingesttest.Rel(wh, "raw_views", "items")
		view := ingesttest.Rel(wh, "raw_views", "items_view")
		if _, err := ingest.Load(ctx, wh, dest, ingesttest.StepTable(0), ingest.LoadOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := wh.Exec(ctx, "create view "+d.Render(view)+" as select id, name from "+d.Render(dest)); err != nil {
			t.Fatal(err)
		}
		res, err := ingest.Load(ctx, wh, dest, ingesttest.StepTable(1), ingest.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ingesttest.Names(t, wh, view), "2:beta v2 3:gamma 4:delta"; got != want {
			t.Errorf("view after the replace: %s, want %s (SQL: %v)", got, want, res.SQL)
		}
	})
}
