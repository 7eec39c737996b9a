package ingesttest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
)

// Step is what a source table holds at one step of the suite.
type Step struct {
	Columns []string
	Rows    [][]any
}

// T0 is the base of the fixture's cursor values; they differ by single
// microseconds, so the suite also checks cursor precision.
var T0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// Steps is the fixture: step 1 updates id 2, repeats id 3 unchanged (with
// the cursor value already loaded, so a cursor load skips it) and adds id
// 4. Columns: id (integer), name (text), amount (numeric, one NULL),
// updated_at (timestamp with microseconds).
var Steps = []Step{
	{
		Columns: []string{"id", "name", "amount", "updated_at"},
		Rows: [][]any{
			{int64(1), "alpha", 1.5, T0.Add(1 * time.Microsecond)},
			{int64(2), "beta", 2.25, T0.Add(2 * time.Microsecond)},
			{int64(3), "gamma", nil, T0.Add(3 * time.Microsecond)},
		},
	},
	{
		Columns: []string{"id", "name", "amount", "updated_at"},
		Rows: [][]any{
			{int64(2), "beta v2", 3.5, T0.Add(4 * time.Microsecond)},
			{int64(3), "gamma", nil, T0.Add(3 * time.Microsecond)},
			{int64(4), "delta", 4.0, T0.Add(5 * time.Microsecond)},
		},
	},
}

// Run is the conformance suite; see the package documentation. newTable
// opens a Table serving Steps[step]; it may be called several times per
// step and must return a fresh Table each time.
func Run(t *testing.T, newTable func(t *testing.T, step int) ingest.Table) {
	EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		ctx := context.Background()
		load := func(t *testing.T, dest adapters.Relation, step int, opts ingest.LoadOptions) (ingest.Result, *recorder) {
			t.Helper()
			rec := &recorder{Table: newTable(t, step)}
			res, err := ingest.Load(ctx, wh, dest, rec, opts)
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			return res, rec
		}

		t.Run("replace", func(t *testing.T) {
			dest := Rel(wh, "conf_replace", "items")
			load(t, dest, 0, ingest.LoadOptions{Key: "conf.replace"})
			if got, want := Names(t, wh, dest), "1:alpha 2:beta 3:gamma"; got != want {
				t.Errorf("after step 0: %s, want %s", got, want)
			}
			res, _ := load(t, dest, 1, ingest.LoadOptions{Key: "conf.replace"})
			if got, want := Names(t, wh, dest), "2:beta v2 3:gamma 4:delta"; got != want {
				t.Errorf("after step 1: %s, want %s", got, want)
			}
			if res.Inserted != 3 {
				t.Errorf("step 1 inserted %d, want 3", res.Inserted)
			}
			types := ColumnTypes(t, wh, dest)
			checkType(t, types, "id", "int")
			checkType(t, types, "name", "char", "text")
			checkType(t, types, "amount", "numeric", "double", "float")
			checkType(t, types, "updated_at", "timestamp")
			checkType(t, types, ingest.LoadedAtColumn, "timestamp")
			got := Query(t, wh, "select updated_at from "+wh.Dialect().Render(dest)+" where id = 2")
			if want := Text(T0.Add(4 * time.Microsecond)); len(got) != 1 || got[0][0] != want {
				t.Errorf("updated_at of id 2 = %v, want %s (microseconds kept)", got, want)
			}
		})

		t.Run("append", func(t *testing.T) {
			dest := Rel(wh, "conf_append", "items")
			load(t, dest, 0, ingest.LoadOptions{Key: "conf.append", Mode: ingest.ModeAppend})
			load(t, dest, 1, ingest.LoadOptions{Key: "conf.append", Mode: ingest.ModeAppend})
			if n := Count(t, wh, dest); n != 6 {
				t.Errorf("append without a cursor: %d rows, want 6", n)
			}
			dest = Rel(wh, "conf_append", "items_cursor")
			opts := ingest.LoadOptions{Key: "conf.append_cursor", Mode: ingest.ModeAppend, Cursor: "updated_at"}
			load(t, dest, 0, opts)
			res, _ := load(t, dest, 1, opts)
			if got, want := Names(t, wh, dest), "1:alpha 2:beta 2:beta v2 3:gamma 4:delta"; got != want {
				t.Errorf("append with a cursor: %s, want %s", got, want)
			}
			if res.Inserted != 2 {
				t.Errorf("step 1 inserted %d, want 2", res.Inserted)
			}
		})

		t.Run("merge_state", func(t *testing.T) {
			dest := Rel(wh, "conf_merge", "items")
			opts := ingest.LoadOptions{Key: "conf.merge", Mode: ingest.ModeMerge, PrimaryKey: []string{"id"}, Cursor: "updated_at"}
			_, rec0 := load(t, dest, 0, opts)
			if !rec0.req.Full || rec0.req.Since != nil {
				t.Errorf("first load: Full=%v Since=%v, want a full read", rec0.req.Full, rec0.req.Since)
			}

			// A Read failing after its first batch leaves nothing committed.
			failing := &recorder{Table: newTable(t, 1), failAfter: 1}
			if _, err := ingest.Load(ctx, wh, dest, failing, opts); err == nil {
				t.Fatalf("a failing Read: Load succeeded")
			}
			if got, want := Names(t, wh, dest), "1:alpha 2:beta 3:gamma"; got != want {
				t.Errorf("after a failed load: %s, want %s", got, want)
			}

			res, rec1 := load(t, dest, 1, opts)
			if rec1.req.Full {
				t.Errorf("second load: Full, want incremental")
			}
			if want := T0.Add(3 * time.Microsecond); !reflect.DeepEqual(rec1.req.Since, want) {
				t.Errorf("second load: Since = %v, want %v (the failed load must not move the cursor)", rec1.req.Since, want)
			}
			if !sameJSON(rec1.req.State, rec0.state) {
				t.Errorf("second load got State %v, want the first load's %v", rec1.req.State, rec0.state)
			}
			if got, want := Names(t, wh, dest), "1:alpha 2:beta v2 3:gamma 4:delta"; got != want {
				t.Errorf("after merge: %s, want %s", got, want)
			}
			if res.Inserted != 1 || res.Updated != 1 {
				t.Errorf("merge: inserted %d updated %d, want 1 and 1", res.Inserted, res.Updated)
			}
			_, cursor, found, err := ingest.ReadState(ctx, wh, "", "", "conf.merge")
			if err != nil || !found || !reflect.DeepEqual(cursor, T0.Add(5*time.Microsecond)) {
				t.Errorf("stored cursor = %v (found %v, err %v), want %v", cursor, found, err, T0.Add(5*time.Microsecond))
			}
		})
	})
}

func checkType(t *testing.T, types map[string]string, col string, want ...string) {
	t.Helper()
	got, ok := types[col]
	if !ok {
		t.Errorf("column %s missing (have %v)", col, types)
		return
	}
	for _, w := range want {
		if strings.Contains(got, w) {
			return
		}
	}
	t.Errorf("column %s has type %s, want one of %v", col, got, want)
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// errInjected is the error the failing recorder returns.
var errInjected = errors.New("ingesttest: injected read failure")

// recorder wraps a Table, keeping the request and returned state, and can
// fail a Read after failAfter batches.
type recorder struct {
	ingest.Table
	req       ingest.ReadRequest
	state     ingest.State
	failAfter int
}

func (r *recorder) Read(ctx context.Context, req ingest.ReadRequest, emit func(ingest.Batch) error) (ingest.State, error) {
	r.req = req
	n := 0
	st, err := r.Table.Read(ctx, req, func(b ingest.Batch) error {
		if err := emit(b); err != nil {
			return err
		}
		n++
		if r.failAfter > 0 && n >= r.failAfter {
			return errInjected
		}
		return nil
	})
	if err == nil && r.failAfter > 0 {
		err = errInjected
	}
	r.state = st
	return st, err
}
