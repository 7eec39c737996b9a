package bigquery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
)

type fieldSchema = bq.TableFieldSchema

// config builds an ingest.Config whose positions name a fake YAML file.
func config(values map[string]any) ingest.Config {
	return ingest.Config{Values: values, Pos: func(key string) string {
		if key == "" {
			return "models/sources.yml:3:5"
		}
		return "models/sources.yml:4:7"
	}}
}

func kv(pairs ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i].(string)] = pairs[i+1]
	}
	return m
}

// sourceValues are the settings of a source served by f, signed with the
// trusted key; extra pairs override them.
func (f *fakeBQ) sourceValues(extra ...any) map[string]any {
	good, _ := testKeys(f.t)
	v := kv("project", testProject, "dataset", "shop", "endpoint", f.srv.URL,
		"credentials_json", f.keyJSON(good), "retry_wait", "1ms")
	for k, x := range kv(extra...) {
		v[k] = x
	}
	return v
}

// open opens a source served by f and closes it when the test ends.
func (f *fakeBQ) open(t testing.TB, extra ...any) ingest.Source {
	t.Helper()
	src, err := Connector().Open(context.Background(), config(f.sourceValues(extra...)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func table(t testing.TB, src ingest.Source, pairs ...any) ingest.Table {
	t.Helper()
	tbl, err := src.Table(context.Background(), config(kv(pairs...)))
	if err != nil {
		t.Fatalf("Table: %v", err)
	}
	return tbl
}

var itemFields = []fakeField{col("id", "INTEGER"), col("name", "STRING"), col("amount", "FLOAT"), col("updated_at", "TIMESTAMP")}

// stepTable is ingesttest.Steps[step] in the REST form.
func stepTable(step int) *fakeTable {
	tbl := &fakeTable{fields: itemFields}
	for _, r := range ingesttest.Steps[step].Rows {
		var amount any
		if r[2] != nil {
			amount = strconv.FormatFloat(r[2].(float64), 'g', -1, 64)
		}
		tbl.rows = append(tbl.rows, []any{strconv.FormatInt(r[0].(int64), 10), r[1], amount, r[3]})
	}
	return tbl
}

const itemsQuery = "select id, name, amount, updated_at from items"

// TestConformance runs the shared suite on a table and on a query, two
// rows a page, each job answering "not complete" once before its rows.
func TestConformance(t *testing.T) {
	for _, kind := range []string{"table", "query"} {
		t.Run(kind, func(t *testing.T) {
			f := newFake(t)
			f.addQuery(itemsQuery, "items")
			f.set(func(f *fakeBQ) { f.pending = 1 })
			ingesttest.Run(t, func(t *testing.T, step int) ingest.Table {
				f.setTable("proj.shop.items", stepTable(step))
				src := f.open(t, "page_size", int64(2))
				if kind == "table" {
					return table(t, src, "table", "items")
				}
				return table(t, src, "query", itemsQuery)
			})
		})
	}
}

var t0 = ingesttest.T0

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestTypes loads every BigQuery type into both warehouses and reads the
// values and column types back.
func TestTypes(t *testing.T) {
	f := newFake(t)
	f.setTable("proj.shop.types", &fakeTable{
		fields: []fakeField{
			col("id", "INTEGER"), col("i", "INTEGER"), col("f", "FLOAT"), col("n", "NUMERIC"), col("bn", "BIGNUMERIC"),
			col("b", "BOOLEAN"), col("s", "STRING"), col("bin", "BYTES"), col("d", "DATE"), col("dt", "DATETIME"),
			col("ts", "TIMESTAMP"), col("tm", "TIME"), col("j", "JSON"),
			record("rec", col("x", "INTEGER"), col("y", "STRING"), record("inner", col("z", "FLOAT"), col("at", "TIMESTAMP"))),
			repeatedCol("tags", "STRING"),
			repeatedCol("recs", "RECORD", col("k", "STRING"), col("v", "INTEGER")),
			col("g", "GEOGRAPHY"),
		},
		rows: [][]any{
			{"1", "9007199254740993", "1.5", "123.456789", "-0.25", "true", "héllo", b64("\x00\x01kiln"), "2024-02-29",
				"2024-03-01T12:34:56.789012", t0.Add(123456 * time.Microsecond), "23:59:58.000001", `{"a":1,"b":[true,null],"c":"x","big":12345678901234567890}`,
				[]any{"7", "seven", []any{"2.5", t0.Add(time.Microsecond)}},
				[]any{"a", "b"},
				[]any{[]any{"k1", "1"}, []any{"k2", nil}},
				"POINT(1 2)"},
			{"2", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, []any{}, []any{}, nil},
		},
	})
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		src := f.open(t)
		tbl := table(t, src, "table", "types")
		cols, err := tbl.Columns(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var declared []string
		for _, c := range cols {
			declared = append(declared, c.Name+":"+c.Type)
		}
		if got, want := strings.Join(declared, " "), "id:bigint i:bigint f:float n:numeric bn:numeric b:boolean s:text bin:bytea d:date dt:timestamp ts:timestamp tm:text j:json rec:json tags:json recs:json g:text"; got != want {
			t.Errorf("Columns = %s\nwant      %s", got, want)
		}
		dest := ingesttest.Rel(wh, "raw_bq", "types")
		if _, err := ingest.Load(context.Background(), wh, dest, tbl, ingest.LoadOptions{Key: "bq.types"}); err != nil {
			t.Fatalf("Load: %v", err)
		}
		types := ingesttest.ColumnTypes(t, wh, dest)
		for col, want := range map[string][]string{
			"id": {"bigint"}, "i": {"bigint"}, "f": {"double", "numeric"}, "n": {"double", "numeric"}, "bn": {"double", "numeric"},
			"b": {"bool"}, "s": {"varchar", "text"}, "bin": {"blob", "bytea"}, "d": {"date"}, "dt": {"timestamp"}, "ts": {"timestamp"},
			"tm": {"varchar", "text"}, "j": {"json"}, "rec": {"json"}, "tags": {"json"}, "recs": {"json"}, "g": {"varchar", "text"},
		} {
			ok := false
			for _, w := range want {
				ok = ok || strings.Contains(types[col], w)
			}
			if !ok {
				t.Errorf("column %s has type %q, want one of %v", col, types[col], want)
			}
		}
		rel := wh.Dialect().Render(dest)
		scalars := []string{"i", "f", "n", "bn", "b", "s", "d", "dt", "ts", "tm", "g"}
		var list []string
		for _, c := range scalars {
			list = append(list, "cast("+c+" as varchar)")
		}
		rows := ingesttest.Query(t, wh, "select "+strings.Join(list, ", ")+" from "+rel+" order by id")
		want := [][]string{
			{"9007199254740993", "1.5", "123.456789", "-0.25", "true", "héllo", "2024-02-29", "2024-03-01 12:34:56.789012", "2024-03-01 12:00:00.123456", "23:59:58.000001", "POINT(1 2)"},
			{"NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"},
		}
		if !reflect.DeepEqual(rows, want) {
			t.Errorf("scalar values:\n got %q\nwant %q", rows, want)
		}
		rows = ingesttest.Query(t, wh, "select bin from "+rel+" order by id")
		if len(rows) != 2 || rows[0][0] != "\x00\x01kiln" || rows[1][0] != "NULL" {
			t.Errorf("BYTES values = %q, want the decoded bytes and NULL", rows)
		}
		rows = ingesttest.Query(t, wh, "select cast(j as varchar), cast(rec as varchar), cast(tags as varchar), cast(recs as varchar) from "+rel+" order by id")
		wantJSON := [][]string{
			{`{"a":1,"b":[true,null],"c":"x","big":12345678901234567890}`, `{"x":7,"y":"seven","inner":{"z":2.5,"at":"2024-03-01T12:00:00.000001Z"}}`, `["a","b"]`, `[{"k":"k1","v":1},{"k":"k2","v":null}]`},
			{"NULL", "NULL", "[]", "[]"},
		}
		for r := range wantJSON {
			for c := range wantJSON[r] {
				if r >= len(rows) || !sameJSON(t, rows[r][c], wantJSON[r][c]) {
					t.Errorf("JSON value row %d column %d = %v, want %s", r+1, c+1, rows, wantJSON[r][c])
				}
			}
		}
		// Numbers inside JSON stay exact.
		if !strings.Contains(rows[0][0], "12345678901234567890") {
			t.Errorf("a big JSON number lost digits: %s", rows[0][0])
		}
	})
}

func sameJSON(t *testing.T, got, want string) bool {
	t.Helper()
	if got == "NULL" || want == "NULL" {
		return got == want
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Errorf("%q is not JSON: %v", got, err)
		return false
	}
	_ = json.Unmarshal([]byte(want), &w)
	return reflect.DeepEqual(g, w)
}

func numbered(n int) *fakeTable {
	tbl := &fakeTable{fields: []fakeField{col("id", "INTEGER"), col("updated_at", "TIMESTAMP")}}
	for i := 1; i <= n; i++ {
		tbl.rows = append(tbl.rows, []any{strconv.Itoa(i), t0.Add(time.Duration(i) * time.Microsecond)})
	}
	return tbl
}

// TestPaging reads 25 rows ten a page after two "not complete" answers:
// three batches, the later pages asked for by page token.
func TestPaging(t *testing.T) {
	f := newFake(t)
	f.setTable("proj.shop.many", numbered(25))
	f.set(func(f *fakeBQ) { f.pending = 2 })
	src := f.open(t, "page_size", int64(10), "location", "US")
	tbl := table(t, src, "table", "shop.many")
	var sizes []int
	var ids []int64
	st, err := tbl.Read(context.Background(), ingest.ReadRequest{Full: true}, func(b ingest.Batch) error {
		if !reflect.DeepEqual(b.Columns, []string{"id", "updated_at"}) {
			t.Errorf("batch columns %v", b.Columns)
		}
		if len(b.Bad) > 0 {
			t.Errorf("bad records: %v", b.Bad)
		}
		sizes = append(sizes, len(b.Rows))
		for _, r := range b.Rows {
			ids = append(ids, r[0].(int64))
			if want := t0.Add(time.Duration(r[0].(int64)) * time.Microsecond); !r[1].(time.Time).Equal(want) {
				t.Errorf("row %d updated_at = %v, want %v", r[0], r[1], want)
			}
		}
		return nil
	})
	if err != nil || st != nil {
		t.Fatalf("Read: state %v, err %v", st, err)
	}
	if !reflect.DeepEqual(sizes, []int{10, 10, 5}) {
		t.Errorf("batch sizes %v, want [10 10 5]", sizes)
	}
	for i, id := range ids {
		if id != int64(i+1) {
			t.Fatalf("ids out of order: %v", ids)
		}
	}
	q := f.lastQuery()
	if q.Query != "select * from `proj.shop.many`" || q.MaxResults != 10 || q.FormatOptions == nil || !q.FormatOptions.UseInt64Timestamp ||
		q.RequestID == "" || q.Location != "US" || q.TimeoutMs <= 0 || len(q.QueryParameters) != 0 {
		t.Errorf("jobs.query request %+v", q)
	}
	f.mu.Lock()
	results := append([]string(nil), f.results...)
	f.mu.Unlock()
	// Two polls (the second completes with page 1), then pages 2 and 3.
	if len(results) != 4 {
		t.Fatalf("getQueryResults calls %q, want 4", results)
	}
	for i, r := range results {
		for _, want := range []string{"formatOptions.useInt64Timestamp=true", "maxResults=10", "location=US"} {
			if !strings.Contains(r, want) {
				t.Errorf("getQueryResults %d: %q lacks %s", i+1, r, want)
			}
		}
	}
	if strings.Contains(results[0], "pageToken") || strings.Contains(results[1], "pageToken") ||
		!strings.Contains(results[2], "pageToken=page-job_") || !strings.Contains(results[3], "-20&") {
		t.Errorf("page tokens: %q", results)
	}

	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dest := ingesttest.Rel(wh, "raw_bq", "many")
		res, err := ingest.Load(context.Background(), wh, dest, table(t, src, "table", "many"), ingest.LoadOptions{Key: "bq.many"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Inserted != 25 || ingesttest.Count(t, wh, dest) != 25 {
			t.Errorf("loaded %d rows (table has %d), want 25", res.Inserted, ingesttest.Count(t, wh, dest))
		}
	})
}

// TestIncremental loads three times with a cursor: the second load reads
// only the rows past the stored cursor (the server filters on the
// parameter it receives), the third nothing; no row is duplicated.
func TestIncremental(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		ctx := context.Background()
		f := newFake(t)
		events := &fakeTable{
			fields: []fakeField{col("id", "INTEGER"), col("note", "STRING"), col("updated_at", "TIMESTAMP")},
			rows: [][]any{
				{"1", "one", t0.Add(1 * time.Microsecond)},
				{"2", "two", t0.Add(2 * time.Microsecond)},
				{"3", "three", t0.Add(3 * time.Microsecond)},
				{"5", "no cursor", nil},
			},
		}
		f.setTable("proj.shop.events", events)
		src := f.open(t, "page_size", int64(2))
		rel := func(name string) adapters.Relation { return ingesttest.Rel(wh, "raw_bq", name) }
		load := func(name string, opts ingest.LoadOptions) ingest.Result {
			t.Helper()
			res, err := ingest.Load(ctx, wh, rel(name), table(t, src, "table", "events"), opts)
			if err != nil {
				t.Fatalf("Load %s: %v", name, err)
			}
			return res
		}
		contents := func(name string) string {
			t.Helper()
			rows := ingesttest.Query(t, wh, "select cast(id as bigint), note from "+wh.Dialect().Render(rel(name))+" order by 1, 2")
			var out []string
			for _, r := range rows {
				out = append(out, r[0]+":"+r[1])
			}
			return strings.Join(out, " ")
		}
		param := func() string {
			q := f.lastQuery()
			if len(q.QueryParameters) != 1 {
				return "none: " + q.Query
			}
			p := q.QueryParameters[0]
			return p.ParameterType.Type + " " + p.ParameterValue.Value
		}

		merge := ingest.LoadOptions{Key: "bq.events", Mode: ingest.ModeMerge, PrimaryKey: []string{"id"}, Cursor: "updated_at"}
		lookback := merge
		lookback.Key, lookback.Lookback = "bq.events_lookback", time.Hour
		load("events", merge)
		if q := f.lastQuery().Query; q != "select * from `proj.shop.events`" {
			t.Errorf("first load (full) ran %q", q)
		}
		load("events_lookback", lookback)
		if got, want := contents("events"), "1:one 2:two 3:three 5:no cursor"; got != want {
			t.Errorf("after the first load: %s, want %s", got, want)
		}

		// Row 2 changes one microsecond past the stored cursor; row 4 is new.
		f.set(func(f *fakeBQ) {
			events.rows[1] = []any{"2", "two v2", t0.Add(4 * time.Microsecond)}
			events.rows = append(events.rows, []any{"4", "four", t0.Add(5 * time.Microsecond)})
		})
		res := load("events", merge)
		if q := f.lastQuery().Query; q != "select * from `proj.shop.events` where `updated_at` > @kiln_since" {
			t.Errorf("second load ran %q", q)
		}
		if got, want := param(), "TIMESTAMP 2024-03-01 12:00:00.000003+00:00"; got != want {
			t.Errorf("cursor parameter %s, want %s", got, want)
		}
		if res.Inserted != 1 || res.Updated != 1 {
			t.Errorf("second load inserted %d updated %d, want 1 and 1", res.Inserted, res.Updated)
		}
		want := "1:one 2:two v2 3:three 4:four 5:no cursor"
		if got := contents("events"); got != want {
			t.Errorf("after the second load: %s, want %s", got, want)
		}
		res = load("events_lookback", lookback)
		if got, want := param(), "TIMESTAMP 2024-03-01 11:00:00.000003+00:00"; got != want {
			t.Errorf("lookback cursor parameter %s, want %s", got, want)
		}
		if got := contents("events_lookback"); got != want {
			t.Errorf("lookback load: %s, want %s (no duplicates)", got, want)
		}

		res = load("events", merge)
		if got, want := param(), "TIMESTAMP 2024-03-01 12:00:00.000005+00:00"; got != want {
			t.Errorf("third load cursor parameter %s, want %s", got, want)
		}
		if res.Inserted != 0 || res.Updated != 0 || contents("events") != want {
			t.Errorf("idle load: inserted %d updated %d, contents %s", res.Inserted, res.Updated, contents("events"))
		}
		_, cursor, found, err := ingest.ReadState(ctx, wh, "", "", "bq.events")
		if err != nil || !found || !reflect.DeepEqual(cursor, t0.Add(5*time.Microsecond)) {
			t.Errorf("stored cursor %v (found %v, err %v)", cursor, found, err)
		}

		// An INT64 cursor with append: the parameter is an INT64.
		appendOpts := ingest.LoadOptions{Key: "bq.log", Mode: ingest.ModeAppend, Cursor: "id"}
		f.setTable("proj.shop.log", numbered(3))
		logLoad := func() {
			t.Helper()
			if _, err := ingest.Load(ctx, wh, rel("log"), table(t, src, "table", "proj.shop.log"), appendOpts); err != nil {
				t.Fatal(err)
			}
		}
		logLoad()
		f.setTable("proj.shop.log", numbered(5))
		logLoad()
		if got, want := param(), "INT64 3"; got != want {
			t.Errorf("INT64 cursor parameter %s, want %s", got, want)
		}
		rows := ingesttest.Query(t, wh, "select count(*), count(distinct id) from "+wh.Dialect().Render(rel("log")))
		if rows[0][0] != "5" || rows[0][1] != "5" {
			t.Errorf("append by INT64 cursor: %v rows / distinct ids, want 5 and 5", rows[0])
		}
	})
}

// TestColumns reads the columns named in `columns` only.
func TestColumns(t *testing.T) {
	f := newFake(t)
	f.setTable("proj.shop.items", stepTable(0))
	src := f.open(t)
	tbl := table(t, src, "table", "items", "columns", []any{"updated_at", "id"})
	cols, _ := tbl.Columns(context.Background())
	if len(cols) != 2 || cols[0].Name != "updated_at" || cols[1].Name != "id" {
		t.Errorf("Columns = %v", cols)
	}
	var got [][]any
	_, err := tbl.Read(context.Background(), ingest.ReadRequest{Cursor: "id", Since: int64(1)}, func(b ingest.Batch) error {
		if !reflect.DeepEqual(b.Columns, []string{"updated_at", "id"}) {
			t.Errorf("batch columns %v", b.Columns)
		}
		got = append(got, b.Rows...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]any{{t0.Add(2 * time.Microsecond), int64(2)}, {t0.Add(3 * time.Microsecond), int64(3)}}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	if q := f.lastQuery().Query; q != "select `updated_at`, `id` from `proj.shop.items` where `id` > @kiln_since" {
		t.Errorf("query %q", q)
	}
	// A query is wrapped when columns are picked or a cursor filters it.
	f.addQuery(itemsQuery, "items")
	qt := table(t, src, "query", itemsQuery+";\n", "columns", []any{"name"})
	if _, err := qt.Read(context.Background(), ingest.ReadRequest{Cursor: "updated_at", Since: t0, Full: true}, func(b ingest.Batch) error {
		got = b.Rows
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if q := f.lastQuery().Query; q != "select `name` from (\n"+itemsQuery+"\n) as _kiln_q where (`updated_at` > @kiln_since or `updated_at` is null)" {
		t.Errorf("query %q", q)
	}
	if len(got) != 3 || got[0][0] != "alpha" {
		t.Errorf("query rows %v", got)
	}
	if _, err := src.Table(context.Background(), config(kv("table", "items", "columns", []any{"nope"}))); err == nil ||
		!strings.Contains(err.Error(), `no column "nope" (columns: id, name, amount, updated_at)`) {
		t.Errorf("unknown column: %v", err)
	}
}

// TestRetries: 429, 5xx and rate-limit answers are retried, with the same
// request id for jobs.query; a call failing every time gives up with the
// status and the number of attempts.
func TestRetries(t *testing.T) {
	f := newFake(t)
	f.setTable("proj.shop.many", numbered(5))
	f.fault("token", 503)
	f.fault("tables.get", 503)
	f.fault("jobs.query", 429)
	f.fault("jobs.getQueryResults", 500, 403)
	src := f.open(t, "page_size", int64(2))
	tbl := table(t, src, "table", "many")
	n := 0
	if _, err := tbl.Read(context.Background(), ingest.ReadRequest{}, func(b ingest.Batch) error {
		n += len(b.Rows)
		return nil
	}); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if n != 5 {
		t.Errorf("read %d rows, want 5", n)
	}
	for call, want := range map[string]int{"token": 2, "tables.get": 2, "jobs.query": 2, "jobs.getQueryResults": 4} {
		if got := f.count(call); got != want {
			t.Errorf("%s called %d times, want %d", call, got, want)
		}
	}
	f.mu.Lock()
	if len(f.requests) != 2 || f.requests[0].RequestID != f.requests[1].RequestID {
		t.Errorf("a retried jobs.query must keep its requestId: %q, %q", f.requests[0].RequestID, f.requests[1].RequestID)
	}
	f.mu.Unlock()

	f.fault("jobs.getQueryResults", 503, 503, 503, 503)
	src = f.open(t, "page_size", int64(2), "retries", int64(2))
	_, err := table(t, src, "table", "many").Read(context.Background(), ingest.ReadRequest{}, func(ingest.Batch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "jobs.getQueryResults: 503 Service Unavailable, backendError: injected 503 (gave up after 3 attempts)") {
		t.Errorf("giving up: %v", err)
	}
}

// loadItems loads proj.shop.items into dest by merge on its cursor.
func loadItems(wh adapters.Warehouse, tbl ingest.Table, name string, opts ingest.LoadOptions) (ingest.Result, error) {
	if opts.Key == "" {
		opts = ingest.LoadOptions{Key: "bq." + name, Mode: ingest.ModeMerge, PrimaryKey: []string{"id"}, Cursor: "updated_at"}
	}
	return ingest.Load(context.Background(), wh, ingesttest.Rel(wh, "raw_bq", name), tbl, opts)
}

// names lists the id and name columns of raw_bq.<name>.
func names(t *testing.T, wh adapters.Warehouse, name string) string {
	t.Helper()
	return ingesttest.Names(t, wh, ingesttest.Rel(wh, "raw_bq", name))
}

// checkUnchanged asserts that a failed load left the rows of step 0 and
// the cursor of the first load.
func checkUnchanged(t *testing.T, wh adapters.Warehouse, name string) {
	t.Helper()
	if got, want := names(t, wh, name), "1:alpha 2:beta 3:gamma"; got != want {
		t.Errorf("after the failed load: %s, want %s", got, want)
	}
	_, cursor, _, err := ingest.ReadState(context.Background(), wh, "", "", "bq."+name)
	if err != nil || !reflect.DeepEqual(cursor, t0.Add(3*time.Microsecond)) {
		t.Errorf("cursor after the failed load: %v (%v), want %v", cursor, err, t0.Add(3*time.Microsecond))
	}
}

// TestFailures: refused credentials, a missing table and malformed
// contents give a clear error, and a failing load commits nothing.
func TestFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("wrong_key", func(t *testing.T) {
		f := newFake(t)
		f.setTable("proj.shop.items", stepTable(0))
		_, other := testKeys(t)
		src := f.open(t, "credentials_json", f.keyJSON(other))
		_, err := src.Table(ctx, config(kv("table", "items")))
		want := "models/sources.yml:4:7: bigquery: table proj.shop.items: tables.get: getting an access token for service account " + testEmail +
			" from " + f.srv.URL + "/token: the token endpoint refused the credentials (400 Bad Request): invalid_grant: Invalid JWT Signature."
		if err == nil || err.Error() != want {
			t.Errorf("wrong key:\n got %v\nwant %s", err, want)
		}
		if n := f.count("token"); n != 1 {
			t.Errorf("a refused key was tried %d times, want 1 (no retry)", n)
		}
		if n := f.count("tables.get"); n != 0 {
			t.Errorf("tables.get reached the server %d times without a token", n)
		}
	})
	t.Run("token_refused_by_api", func(t *testing.T) {
		f := newFake(t)
		f.setTable("proj.shop.items", stepTable(0))
		f.set(func(f *fakeBQ) { f.rejectTokens = true })
		_, err := f.open(t).Table(ctx, config(kv("table", "items")))
		if err == nil || !strings.Contains(err.Error(), "tables.get: authentication refused for service account "+testEmail+" (401 Unauthorized, authError): Request had invalid authentication credentials.") {
			t.Errorf("401: %v", err)
		}
	})
	t.Run("bad_key_settings", func(t *testing.T) {
		f := newFake(t)
		secret := "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"
		for _, c := range []struct {
			values map[string]any
			want   string
		}{
			{kv("credentials_json", "{not json "+secret), "models/sources.yml:4:7: bigquery: credentials_json: not a service-account key: invalid JSON at byte 2"},
			{kv("credentials_json", `{"type":"authorized_user","client_id":"x"}`), `credentials_json: type is "authorized_user", want a service-account key`},
			{kv("credentials_json", `{"type":"service_account","client_email":"a@b","private_key":`+strconv.Quote(secret)+`}`), "credentials_json: private_key of the service-account key is not an RSA private key"},
			{kv("credentials_file", "/nonexistent/key.json"), "credentials_file: reading the key: open /nonexistent/key.json: no such file or directory"},
			{kv("credentials_file", "/x.json"), "set one of credentials_json and credentials_file, not both"},
		} {
			values := f.sourceValues()
			if _, ok := c.values["credentials_file"]; ok && !strings.Contains(c.want, "not both") {
				delete(values, "credentials_json")
			}
			for k, v := range c.values {
				values[k] = v
			}
			_, err := Connector().Open(ctx, config(values))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open with %v:\n got %v\nwant %s", c.values, err, c.want)
			} else if strings.Contains(err.Error(), "c2VjcmV0") {
				t.Errorf("the error quotes the key: %v", err)
			}
		}
	})
	t.Run("settings", func(t *testing.T) {
		f := newFake(t)
		for _, c := range []struct {
			values map[string]any
			want   string
		}{
			{kv("project", nil), "models/sources.yml:4:7: bigquery: project: is required"},
			{kv("endpoint", "ftp://host"), `bigquery: endpoint: "ftp://host" must start with http:// or https://`},
			{kv("page_size", int64(0)), "bigquery: page_size: must be between 1 and 100000"},
			{kv("timeout", "soon"), "bigquery: timeout: must be a duration"},
		} {
			values := f.sourceValues()
			for k, v := range c.values {
				if v == nil {
					delete(values, k)
				} else {
					values[k] = v
				}
			}
			if _, err := Connector().Open(ctx, config(values)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open with %v:\n got %v\nwant %s", c.values, err, c.want)
			}
		}
		src := f.open(t)
		for _, c := range []struct {
			values map[string]any
			want   string
		}{
			{kv("table", "items", "query", "select 1"), "bigquery: query: set one of table and query, not both"},
			{kv(), "bigquery: table: set table (dataset.table) or query (select ...)"},
			{kv("table", "a.b.c`d"), "has a character BigQuery names cannot hold"},
			{kv("query", "select nonsense"), "models/sources.yml:4:7: bigquery: query: jobs.insert (dry run): 400 Bad Request, invalidQuery: Syntax error: unknown query"},
		} {
			if _, err := src.Table(ctx, config(c.values)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Table with %v:\n got %v\nwant %s", c.values, err, c.want)
			}
		}
	})
	t.Run("missing_table", func(t *testing.T) {
		f := newFake(t)
		f.addQuery("select * from gone", "gone")
		src := f.open(t)
		_, err := src.Table(ctx, config(kv("table", "nope")))
		if want := "models/sources.yml:4:7: bigquery: table proj.shop.nope not found (Not found: Table proj:shop.nope)"; err == nil || err.Error() != want {
			t.Errorf("missing table:\n got %v\nwant %s", err, want)
		}
		_, err = src.Table(ctx, config(kv("query", "select * from gone")))
		if want := "models/sources.yml:4:7: bigquery: query: jobs.insert (dry run): not found (404 Not Found, notFound): Not found: Table proj:shop.gone was not found in location US"; err == nil || err.Error() != want {
			t.Errorf("query of a missing table:\n got %v\nwant %s", err, want)
		}
	})

	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		f := newFake(t)
		f.setTable("proj.shop.items", stepTable(0))
		src := f.open(t, "page_size", int64(2))
		first := func(t *testing.T, name string) {
			t.Helper()
			f.setTable("proj.shop.items", stepTable(0))
			f.set(func(f *fakeBQ) { f.denyQueries, f.brokenResults, f.pending = false, false, 0 })
			if _, err := loadItems(wh, table(t, src, "table", "items"), name, ingest.LoadOptions{}); err != nil {
				t.Fatalf("first load: %v", err)
			}
			f.setTable("proj.shop.items", stepTable(1))
		}

		t.Run("table_dropped", func(t *testing.T) {
			first(t, "dropped")
			tbl := table(t, src, "table", "items")
			f.setTable("proj.shop.items", nil)
			_, err := loadItems(wh, tbl, "dropped", ingest.LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), "bigquery: table proj.shop.items: jobs.query: not found (404 Not Found, notFound): Not found: Table proj:shop.items was not found in location US") {
				t.Errorf("dropped table: %v", err)
			}
			checkUnchanged(t, wh, "dropped")
		})

		t.Run("permission_denied", func(t *testing.T) {
			first(t, "denied")
			tbl := table(t, src, "table", "items")
			f.set(func(f *fakeBQ) { f.denyQueries = true })
			_, err := loadItems(wh, tbl, "denied", ingest.LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), "jobs.query: permission denied to service account "+testEmail+" (403 Forbidden, accessDenied): Access Denied: Project proj") {
				t.Errorf("403: %v", err)
			}
			checkUnchanged(t, wh, "denied")
		})

		t.Run("broken_response", func(t *testing.T) {
			first(t, "broken")
			tbl := table(t, src, "table", "items")
			// The job answers "not complete" first, so the next call is
			// jobs.getQueryResults, whose body is cut short.
			f.set(func(f *fakeBQ) { f.brokenResults, f.pending = true, 1 })
			_, err := loadItems(wh, tbl, "broken", ingest.LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), "jobs.getQueryResults: malformed response: unexpected end of JSON input") {
				t.Errorf("broken body: %v", err)
			}
			checkUnchanged(t, wh, "broken")
		})

		t.Run("malformed_cell", func(t *testing.T) {
			first(t, "malformed")
			// The incremental read returns ids 2, 4 and the bad row: the
			// first row of page 2.
			bad := stepTable(1)
			bad.rows = append(bad.rows, []any{"12x", "epsilon", "5", t0.Add(6 * time.Microsecond)})
			f.setTable("proj.shop.items", bad)
			_, err := loadItems(wh, table(t, src, "table", "items"), "malformed", ingest.LoadOptions{})
			var bre *ingest.BadRecordError
			if !errors.As(err, &bre) {
				t.Fatalf("malformed cell: %v, want a *ingest.BadRecordError", err)
			}
			if bre.Record.Where != "page 2 row 1 (row 3 of the result)" || bre.Record.Reason != `column id: INT64 value "12x" is not an integer` ||
				!strings.Contains(bre.Record.Raw, `"id":"12x"`) {
				t.Errorf("bad record %+v", bre.Record)
			}
			checkUnchanged(t, wh, "malformed")

			// on_bad_rows: skip loads the rest and keeps the bad row aside.
			res, err := loadItems(wh, table(t, src, "table", "items"), "malformed",
				ingest.LoadOptions{Key: "bq.malformed", Mode: ingest.ModeMerge, PrimaryKey: []string{"id"}, Cursor: "updated_at", OnBadRows: "skip"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Rejected != 1 || res.Updated != 1 || res.Inserted != 1 || names(t, wh, "malformed") != "1:alpha 2:beta v2 3:gamma 4:delta" {
				t.Errorf("skip: %+v, rows %s", res, names(t, wh, "malformed"))
			}
			rej := ingesttest.Rel(wh, "raw_bq", "malformed"+ingest.RejectsSuffix)
			if n := ingesttest.Count(t, wh, rej); n != 1 {
				t.Errorf("%d rejected rows, want 1", n)
			}
		})
	})
}

// TestCredentialSources: a key file, and Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS naming a key file), authenticate like
// credentials_json; without any, Open says how to set them.
func TestCredentialSources(t *testing.T) {
	f := newFake(t)
	f.setTable("proj.shop.items", stepTable(0))
	good, _ := testKeys(t)
	path := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(path, []byte(f.keyJSON(good)), 0o600); err != nil {
		t.Fatal(err)
	}
	read := func(t *testing.T, values map[string]any) {
		t.Helper()
		src, err := Connector().Open(context.Background(), config(values))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer src.Close()
		n := 0
		if _, err := table(t, src, "table", "items").Read(context.Background(), ingest.ReadRequest{}, func(b ingest.Batch) error {
			n += len(b.Rows)
			return nil
		}); err != nil || n != 3 {
			t.Errorf("Read: %d rows, %v", n, err)
		}
	}
	t.Run("credentials_file", func(t *testing.T) {
		values := f.sourceValues("credentials_file", path)
		delete(values, "credentials_json")
		read(t, values)
	})
	t.Run("adc", func(t *testing.T) {
		t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)
		values := f.sourceValues()
		delete(values, "credentials_json")
		before := f.count("token")
		read(t, values)
		if f.count("token") != before+1 {
			t.Errorf("ADC did not get a token from the key's token_uri")
		}
	})
	t.Run("none", func(t *testing.T) {
		t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "missing.json"))
		values := f.sourceValues()
		delete(values, "credentials_json")
		_, err := Connector().Open(context.Background(), config(values))
		if err == nil || !strings.Contains(err.Error(), "models/sources.yml:3:5: bigquery: no credentials: set credentials_json or credentials_file") {
			t.Errorf("no credentials: %v", err)
		}
	})
}

// TestFloatTimestampResponses: a server that sends TIMESTAMPs as float
// seconds (the API's default form) still loads them to the microsecond.
func TestFloatTimestampResponses(t *testing.T) {
	f := newFake(t)
	f.setTable("proj.shop.items", stepTable(1))
	f.set(func(f *fakeBQ) { f.floatTS = true })
	if got := renderCell(col("t", "TIMESTAMP"), t0.Add(4*time.Microsecond), false); got != "1.709294400000004E+09" {
		t.Fatalf("the server renders float seconds as %v", got)
	}
	var got []time.Time
	if _, err := table(t, f.open(t), "table", "items").Read(context.Background(), ingest.ReadRequest{}, func(b ingest.Batch) error {
		for _, r := range b.Rows {
			got = append(got, r[3].(time.Time))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []time.Time{t0.Add(4 * time.Microsecond), t0.Add(3 * time.Microsecond), t0.Add(5 * time.Microsecond)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("timestamps %v, want %v", got, want)
	}
}

// TestReadCancel: an emit error stops the read and is returned as is.
func TestReadCancel(t *testing.T) {
	f := newFake(t)
	f.setTable("proj.shop.many", numbered(50))
	tbl := table(t, f.open(t, "page_size", int64(5)), "table", "many")
	stop := errors.New("stop")
	calls := 0
	_, err := tbl.Read(context.Background(), ingest.ReadRequest{}, func(ingest.Batch) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Read returned %v after %d emits, want stop after 1", err, calls)
	}
	if n := f.count("jobs.getQueryResults"); n > 2 {
		t.Errorf("%d pages fetched after the emit failed", n)
	}
}

func TestFloatTimestamps(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"1709294400000001", t0.Add(time.Microsecond)},
		{"1.709294400000001E9", t0.Add(time.Microsecond)},
		{"1.709294400000001E+09", t0.Add(time.Microsecond)},
		{"1709294400.123456", t0.Add(123456 * time.Microsecond)},
		{"-1.5", time.Unix(-2, 500000000).UTC()},
		{"2024-03-01T12:00:00.000001Z", t0.Add(time.Microsecond)},
		{"2024-03-01 12:00:00.000001 UTC", t0.Add(time.Microsecond)},
	} {
		got, err := parseTimestamp(c.in)
		if err != nil || !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := parseTimestamp("soon"); err == nil {
		t.Errorf("parseTimestamp(soon) succeeded")
	}
}

func TestCursorParam(t *testing.T) {
	for _, c := range []struct {
		typ      string
		since    any
		lookback time.Duration
		want     string // "TYPE value" or "error: ..."
	}{
		{"TIMESTAMP", t0.Add(1500 * time.Nanosecond), 0, "TIMESTAMP 2024-03-01 12:00:00.000001+00:00"},
		{"TIMESTAMP", "2024-03-01T12:00:00.000002Z", time.Minute, "TIMESTAMP 2024-03-01 11:59:00.000002+00:00"},
		{"DATETIME", t0, 0, "DATETIME 2024-03-01 12:00:00.000000"},
		{"DATE", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), 24 * time.Hour, "DATE 2024-02-29"},
		{"INTEGER", int64(42), 0, "INT64 42"},
		{"INTEGER", float64(42), 0, "INT64 42"},
		{"NUMERIC", 2.5, 0, "FLOAT64 2.5"},
		{"FLOAT", int64(3), 0, "INT64 3"},
		{"NUMERIC", "12.3456789012345678", 0, "NUMERIC 12.3456789012345678"},
		{"STRING", "b'c", 0, "STRING b'c"},
		{"INTEGER", int64(1), time.Hour, "error: lookback needs a DATE, DATETIME or TIMESTAMP cursor, not INT64"},
		{"BOOLEAN", true, 0, "error: a BOOL column cannot be a cursor"},
		{"TIMESTAMP", int64(5), 0, "error: since has type int64"},
	} {
		p, err := cursorParam(&fieldSchema{Name: "c", Type: c.typ}, c.since, c.lookback)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			got = p.ParameterType.Type + " " + p.ParameterValue.Value
			if p.Name != sinceParam {
				t.Errorf("parameter name %q", p.Name)
			}
		}
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("cursorParam(%s, %v, %v) = %s, want %s", c.typ, c.since, c.lookback, got, c.want)
		}
	}
}

func TestParseName(t *testing.T) {
	s := &Source{cfg: sourceConfig{project: "billing", dataset: "shop"}}
	for in, want := range map[string]string{
		"orders":                          "billing.shop.orders",
		"sales.orders":                    "billing.sales.orders",
		"other-proj.sales.orders":         "other-proj.sales.orders",
		"`other-proj.sales.orders`":       "other-proj.sales.orders",
		"`other-proj`.`sales`.`orders`":   "other-proj.sales.orders",
		"example.com:proj.sales.orders":   "example.com:proj.sales.orders",
		"other-proj:sales.orders":         "other-proj.sales.orders",
		"bigquery-public-data.samples.gs": "bigquery-public-data.samples.gs",
		"sales.":                          "error",
		"a.b.c`d":                         "error",
	} {
		ref, err := s.parseName(in)
		got := ref.String()
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("parseName(%q) = %s (%v), want %s", in, got, err, want)
		}
	}
	s.cfg.dataset = ""
	if _, err := s.parseName("orders"); err == nil || !strings.Contains(err.Error(), "names no dataset") {
		t.Errorf("a bare name without a source dataset: %v", err)
	}
	if got := quoteIdent("we`ird\\name"); got != "`we\\`ird\\\\name`" {
		t.Errorf("quoteIdent = %s", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		field *fieldSchema
		v     any
		want  string
	}{
		{&fieldSchema{Type: "INTEGER"}, "1.5", `INT64 value "1.5" is not an integer`},
		{&fieldSchema{Type: "FLOAT"}, "x", `FLOAT64 value "x" is not a number`},
		{&fieldSchema{Type: "NUMERIC"}, "1,5", `NUMERIC value "1,5" is not a decimal number`},
		{&fieldSchema{Type: "BOOLEAN"}, "yes", `BOOL value "yes" is not true or false`},
		{&fieldSchema{Type: "BYTES"}, "!!", `BYTES value "!!" is not base64`},
		{&fieldSchema{Type: "DATE"}, "2024-02-30", `DATE value "2024-02-30" is not YYYY-MM-DD`},
		{&fieldSchema{Type: "JSON"}, "{", `JSON value "{" is not JSON`},
		{&fieldSchema{Type: "STRING"}, map[string]any{}, "STRING value is an object, not a string"},
		{&fieldSchema{Type: "STRING", Mode: "REPEATED"}, "a", "REPEATED STRING value is a string, not an array"},
		{&fieldSchema{Type: "RECORD", Fields: []*fieldSchema{{Name: "a", Type: "INTEGER"}}}, map[string]any{"f": []any{map[string]any{"v": "x"}}}, `field a: INT64 value "x" is not an integer`},
		{&fieldSchema{Type: "RECORD", Fields: []*fieldSchema{{Name: "a", Type: "INTEGER"}}}, map[string]any{"f": []any{}}, "RECORD value has 0 fields, the schema 1"},
	} {
		_, err := decodeCell(c.field, c.v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("decodeCell(%s, %v) = %v, want %s", c.field.Type, c.v, err, c.want)
		}
	}
	// FLOAT64 specials load as floats, and as strings inside JSON.
	if v, err := decodeCell(&fieldSchema{Type: "FLOAT"}, "-Infinity"); err != nil || fmt.Sprint(v) != "-Inf" {
		t.Errorf("-Infinity: %v %v", v, err)
	}
	if v, err := decodeNested(&fieldSchema{Type: "FLOAT", Mode: "REPEATED"}, []any{map[string]any{"v": "NaN"}, map[string]any{"v": "1e3"}}); err != nil || fmt.Sprint(v) != "[NaN 1000]" {
		t.Errorf("NaN in an array: %v %v", v, err)
	}
}
