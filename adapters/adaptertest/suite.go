package adaptertest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/materialize"
)

// Run is the conformance suite for adapters.Warehouse and the materialize
// builders. open must return a warehouse on a fresh database; Run closes it.
func Run(t *testing.T, open func(t *testing.T) adapters.Warehouse) {
	cases := []struct {
		name string
		fn   func(t *testing.T, e env)
	}{
		{"Dialect", testDialect},
		{"ExecQuery", testExecQuery},
		{"RelationMissing", testRelationMissing},
		{"RelationsOneSchema", testRelationsOneSchema},
		{"TxCommitRollback", testTx},
		{"LoadRoundTrip", testLoad},
		{"Table", testTable},
		{"View", testView},
		{"KindChange", testKindChange},
		{"RebuildKeepsDependentViews", testDependentViews},
		{"FailedBuildKeepsOld", testFailedBuild},
		{"Seed", testSeed},
		{"ConcurrentBuilds", testConcurrent},
		{"SyntaxError", testSyntaxError},
		{"Cancel", testCancel},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wh := open(t)
			t.Cleanup(func() {
				if err := wh.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			e := env{wh: wh, d: wh.Dialect(), schema: "kiln_conf"}
			if err := materialize.CreateSchema(context.Background(), wh, e.d.DefaultDatabase(), e.schema); err != nil {
				t.Fatalf("CreateSchema: %v", err)
			}
			// Idempotent.
			if err := materialize.CreateSchema(context.Background(), wh, e.d.DefaultDatabase(), e.schema); err != nil {
				t.Fatalf("CreateSchema again: %v", err)
			}
			c.fn(t, e)
		})
	}
}

func testDialect(t *testing.T, e env) {
	if e.d.Name() == "" {
		t.Error("Name is empty")
	}
	if got := e.d.QuoteIdent(`a"b`); got != `"a""b"` {
		t.Errorf("QuoteIdent = %s", got)
	}
	if got := e.d.QuoteString("it's"); got != `'it''s'` {
		t.Errorf("QuoteString = %s", got)
	}
	if e.d.DefaultDatabase() == "" {
		t.Error("DefaultDatabase is empty")
	}
	want := `"` + e.d.DefaultDatabase() + `"."s"."m"`
	if got := e.d.Render(adapters.Relation{Schema: "s", Identifier: "m"}); got != want {
		t.Errorf("Render = %s, want %s", got, want)
	}
	for _, p := range []string{"integer", "bigint", "numeric", "float", "boolean", "date", "timestamp", "text", "json"} {
		if e.d.TypeName(p) == "" {
			t.Errorf("TypeName(%s) is empty", p)
		}
	}
}

func testExecQuery(t *testing.T, e env) {
	exec(t, e.wh, "create table "+e.render("t")+" (i integer, f double precision, s varchar, b boolean, d date, ts timestamp)")
	res := exec(t, e.wh, "insert into "+e.render("t")+" values (1, 1.5, 'x', true, date '2024-01-02', timestamp '2024-01-02 03:04:05'), (null, null, null, null, null, null)")
	if res.RowsAffected != 2 {
		t.Errorf("insert RowsAffected = %d, want 2", res.RowsAffected)
	}
	if res.Code != "INSERT" {
		t.Errorf("insert Code = %q, want INSERT", res.Code)
	}
	rows, err := e.wh.Query(context.Background(), "select i, f, s, b, d, ts from "+e.render("t")+" order by i nulls last")
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range rows.Columns() {
		cols = append(cols, c.Name)
	}
	rows.Close()
	if strings.Join(cols, ",") != "i,f,s,b,d,ts" {
		t.Errorf("Columns = %v", cols)
	}
	got := queryAll(t, e.wh, "select i, f, s, b, d, ts from "+e.render("t")+" order by i nulls last")
	want := [][]any{
		{int64(1), 1.5, "x", true, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{nil, nil, nil, nil, nil, nil},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %#v\nwant %#v", got, want)
	}
	if v := scalar(t, e.wh, "select cast(2.5 as numeric(10,2))"); v != 2.5 {
		t.Errorf("numeric = %#v, want float64 2.5", v)
	}
	if v := scalar(t, e.wh, "select count(*) from "+e.render("t")); v != int64(2) {
		t.Errorf("count = %#v, want int64 2", v)
	}
}

func testRelationMissing(t *testing.T, e env) {
	info, err := e.wh.Relation(context.Background(), e.rel("nope"))
	if err != nil || info != nil {
		t.Fatalf("Relation(missing) = %v, %v; want nil, nil", info, err)
	}
	info, err = e.wh.Relation(context.Background(), adapters.Relation{Schema: "no_such_schema", Identifier: "x"})
	if err != nil || info != nil {
		t.Fatalf("Relation(missing schema) = %v, %v; want nil, nil", info, err)
	}
}

func testRelationsOneSchema(t *testing.T, e env) {
	ctx := context.Background()
	exec(t, e.wh, "create table "+e.render("a")+" (id integer, name varchar(20))")
	exec(t, e.wh, "create view "+e.render("b")+" as select id from "+e.render("a"))
	other := env{wh: e.wh, d: e.d, schema: "kiln_other"}
	if err := materialize.CreateSchema(ctx, e.wh, e.d.DefaultDatabase(), other.schema); err != nil {
		t.Fatal(err)
	}
	exec(t, e.wh, "create table "+other.render("c")+" (x integer)")

	infos, err := e.wh.Relations(ctx, e.d.DefaultDatabase(), e.schema)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Fatalf("Relations = %+v, want a and b only", infos)
	}
	a, b := infos[0], infos[1]
	if a.Relation.Identifier != "a" || a.Kind != adapters.KindTable || b.Relation.Identifier != "b" || b.Kind != adapters.KindView {
		t.Fatalf("Relations = %+v", infos)
	}
	if len(a.Columns) != 2 || a.Columns[0].Name != "id" || a.Columns[1].Name != "name" {
		t.Errorf("columns of a = %+v", a.Columns)
	}
	if !strings.Contains(strings.ToLower(a.Columns[1].Type), "char") {
		t.Errorf("type of a.name = %q", a.Columns[1].Type)
	}
	if a.Relation.Schema != e.schema || a.Relation.Database != e.d.DefaultDatabase() {
		t.Errorf("relation of a = %+v", a.Relation)
	}
	info, err := e.wh.Relation(ctx, e.rel("b"))
	if err != nil || info == nil || info.Kind != adapters.KindView || len(info.Columns) != 1 {
		t.Fatalf("Relation(b) = %+v, %v", info, err)
	}
}

func testTx(t *testing.T, e env) {
	ctx := context.Background()
	exec(t, e.wh, "create table "+e.render("t")+" (i integer)")
	tx, err := e.wh.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, tx, "insert into "+e.render("t")+" values (1)")
	if v := scalar(t, tx, "select count(*) from "+e.render("t")); v != int64(1) {
		t.Errorf("count inside tx = %v", v)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if v := scalar(t, e.wh, "select count(*) from "+e.render("t")); v != int64(0) {
		t.Errorf("count after rollback = %v", v)
	}
	tx, err = e.wh.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, tx, "insert into "+e.render("t")+" values (2)")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Errorf("Rollback after Commit = %v, want nil", err)
	}
	if v := scalar(t, e.wh, "select count(*) from "+e.render("t")); v != int64(1) {
		t.Errorf("count after commit = %v", v)
	}
}

func testLoad(t *testing.T, e env) {
	ctx := context.Background()
	cols := []adapters.Column{
		{Name: "i", Type: e.d.TypeName("integer")},
		{Name: "big", Type: e.d.TypeName("bigint")},
		{Name: "f", Type: e.d.TypeName("float")},
		{Name: "b", Type: e.d.TypeName("boolean")},
		{Name: "d", Type: e.d.TypeName("date")},
		{Name: "ts", Type: e.d.TypeName("timestamp")},
		{Name: "s", Type: e.d.TypeName("text")},
		{Name: "j", Type: e.d.TypeName("json")},
	}
	var defs []string
	for _, c := range cols {
		defs = append(defs, e.d.QuoteIdent(c.Name)+" "+c.Type)
	}
	exec(t, e.wh, "create table "+e.render("l")+" ("+strings.Join(defs, ", ")+")")
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	rows := [][]any{
		{int64(1), int64(1) << 40, 2.25, true, time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC), ts, "héllo, \"world\"\n", `{"a":1}`},
		{nil, nil, nil, nil, nil, nil, nil, nil},
	}
	tx, err := e.wh.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	n, err := tx.Load(ctx, e.rel("l"), cols, &sliceRows{rows: rows})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if n != 2 {
		t.Errorf("Load = %d rows, want 2", n)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := queryAll(t, e.wh, "select i, big, f, b, d, ts, s, j from "+e.render("l")+" order by i nulls last")
	if len(got) != 2 {
		t.Fatalf("rows = %v", got)
	}
	if j, ok := got[0][7].(string); ok {
		got[0][7] = strings.ReplaceAll(j, " ", "")
	}
	if !reflect.DeepEqual(got, rows) {
		t.Errorf("round trip:\n got %#v\nwant %#v", got, rows)
	}
}

// sliceRows is an adapters.RowSource over rows in memory.
type sliceRows struct {
	rows [][]any
	i    int
}

func (s *sliceRows) Next() ([]any, error) {
	if s.i >= len(s.rows) {
		return nil, errEOF
	}
	s.i++
	return s.rows[s.i-1], nil
}

func testTable(t *testing.T, e env) {
	ctx := context.Background()
	applied, err := materialize.Table(ctx, e.wh, e.rel("m"), "select 1 as id union all select 2 union all select 3;")
	if err != nil {
		t.Fatal(err)
	}
	if applied.Result.RowsAffected != 3 || applied.Result.Code != "SELECT" {
		t.Errorf("Result = %+v, want SELECT 3", applied.Result)
	}
	if len(applied.SQL) == 0 || !strings.Contains(strings.Join(applied.SQL, ";\n"), "create table") {
		t.Errorf("SQL = %q", applied.SQL)
	}
	applied, err = materialize.Table(ctx, e.wh, e.rel("m"), "select 10 as id, 'x' as name")
	if err != nil {
		t.Fatal(err)
	}
	if applied.Result.RowsAffected != 1 {
		t.Errorf("rebuild Result = %+v", applied.Result)
	}
	if got := queryAll(t, e.wh, "select id, name from "+e.render("m")); !reflect.DeepEqual(got, [][]any{{int64(10), "x"}}) {
		t.Errorf("rows = %v", got)
	}
	want := map[string]adapters.RelationKind{"m": adapters.KindTable}
	if got := e.names(t); !reflect.DeepEqual(got, want) {
		t.Errorf("relations = %v, want %v (no tmp or backup left)", got, want)
	}
	// A schema that does not exist yet is created.
	fresh := adapters.Relation{Database: e.d.DefaultDatabase(), Schema: "kiln_new_schema", Identifier: "m"}
	if _, err := materialize.Table(ctx, e.wh, fresh, "select 1 as id"); err != nil {
		t.Fatalf("Table in a new schema: %v", err)
	}
}

func testView(t *testing.T, e env) {
	ctx := context.Background()
	exec(t, e.wh, "create table "+e.render("base")+" as select 1 as id union all select 2")
	applied, err := materialize.View(ctx, e.wh, e.rel("v"), "select id from "+e.render("base")+" -- trailing comment")
	if err != nil {
		t.Fatal(err)
	}
	if applied.Result.Code != "CREATE VIEW" {
		t.Errorf("Result = %+v", applied.Result)
	}
	if _, err := materialize.View(ctx, e.wh, e.rel("v"), "select id * 10 as id from "+e.render("base")); err != nil {
		t.Fatal(err)
	}
	if v := scalar(t, e.wh, "select sum(id) from "+e.render("v")); toInt(v) != 30 {
		t.Errorf("sum = %v, want 30", v)
	}
	want := map[string]adapters.RelationKind{"base": adapters.KindTable, "v": adapters.KindView}
	if got := e.names(t); !reflect.DeepEqual(got, want) {
		t.Errorf("relations = %v, want %v", got, want)
	}
}

func testKindChange(t *testing.T, e env) {
	ctx := context.Background()
	steps := []struct {
		kind adapters.RelationKind
		id   int
	}{{adapters.KindView, 1}, {adapters.KindTable, 2}, {adapters.KindView, 3}}
	for _, s := range steps {
		sql := "select " + itoa(s.id) + " as id"
		var err error
		if s.kind == adapters.KindView {
			_, err = materialize.View(ctx, e.wh, e.rel("k"), sql)
		} else {
			_, err = materialize.Table(ctx, e.wh, e.rel("k"), sql)
		}
		if err != nil {
			t.Fatalf("%s: %v", s.kind, err)
		}
		info, err := e.wh.Relation(ctx, e.rel("k"))
		if err != nil || info == nil || info.Kind != s.kind {
			t.Fatalf("after %s build: %+v, %v", s.kind, info, err)
		}
		if v := scalar(t, e.wh, "select id from "+e.render("k")); toInt(v) != int64(s.id) {
			t.Errorf("after %s build id = %v", s.kind, v)
		}
	}
	want := map[string]adapters.RelationKind{"k": adapters.KindView}
	if got := e.names(t); !reflect.DeepEqual(got, want) {
		t.Errorf("relations = %v, want %v", got, want)
	}
}

func testDependentViews(t *testing.T, e env) {
	ctx := context.Background()
	if _, err := materialize.Table(ctx, e.wh, e.rel("orders"), "select 1 as id, 10 as amount"); err != nil {
		t.Fatal(err)
	}
	// Views outside the run: one reading the table, one reading that view,
	// and one in another schema.
	exec(t, e.wh, "create view "+e.render("big_orders")+" as select id, amount from "+e.render("orders")+" where amount > 5")
	exec(t, e.wh, "create view "+e.render("big_total")+" as select sum(amount) as total from "+e.render("big_orders"))
	other := env{wh: e.wh, d: e.d, schema: "kiln_reporting"}
	if err := materialize.CreateSchema(ctx, e.wh, e.d.DefaultDatabase(), other.schema); err != nil {
		t.Fatal(err)
	}
	exec(t, e.wh, "create view "+other.render("order_ids")+" as select id from "+e.render("orders"))

	if _, err := materialize.Table(ctx, e.wh, e.rel("orders"), "select 1 as id, 10 as amount, 'new' as note union all select 2, 20, 'new'"); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if v := scalar(t, e.wh, "select total from "+e.render("big_total")); toInt(v) != 30 {
		t.Errorf("nested view total = %v, want 30 (reading the new table)", v)
	}
	if v := scalar(t, e.wh, "select count(*) from "+other.render("order_ids")); toInt(v) != 2 {
		t.Errorf("view in other schema count = %v, want 2", v)
	}
	// A view rebuild keeps the views reading it too.
	if _, err := materialize.View(ctx, e.wh, e.rel("big_orders"), "select id, amount from "+e.render("orders")+" where amount > 15"); err != nil {
		t.Fatalf("rebuild view: %v", err)
	}
	if v := scalar(t, e.wh, "select total from "+e.render("big_total")); toInt(v) != 20 {
		t.Errorf("nested view total after view rebuild = %v, want 20", v)
	}
	want := map[string]adapters.RelationKind{"orders": adapters.KindTable, "big_orders": adapters.KindView, "big_total": adapters.KindView}
	if got := e.names(t); !reflect.DeepEqual(got, want) {
		t.Errorf("relations = %v, want %v", got, want)
	}
}

func testFailedBuild(t *testing.T, e env) {
	ctx := context.Background()
	if _, err := materialize.Table(ctx, e.wh, e.rel("m"), "select 1 as id"); err != nil {
		t.Fatal(err)
	}
	applied, err := materialize.Table(ctx, e.wh, e.rel("m"), "select id from no_such_table_xyz")
	if err == nil {
		t.Fatal("build over a missing table succeeded")
	}
	var werr *adapters.Error
	if !errors.As(err, &werr) {
		t.Errorf("error %v (%T) is not *adapters.Error", err, err)
	} else if !strings.Contains(werr.SQL, "no_such_table_xyz") {
		t.Errorf("error SQL = %q", werr.SQL)
	}
	if len(applied.SQL) == 0 {
		t.Error("failed build reports no SQL")
	}
	if v := scalar(t, e.wh, "select id from "+e.render("m")); toInt(v) != 1 {
		t.Errorf("old table id = %v", v)
	}
	want := map[string]adapters.RelationKind{"m": adapters.KindTable}
	if got := e.names(t); !reflect.DeepEqual(got, want) {
		t.Errorf("relations = %v, want %v (no __kiln_tmp left)", got, want)
	}
}

func testSeed(t *testing.T, e env) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "people.csv")
	write := func(s string) *materialize.SeedData {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		data, err := materialize.ReadCSV(path, map[string]string{"zip": e.d.TypeName("text")})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	data := write("\ufeffid,name,score,active,born,seen,zip\n" +
		"1,\"Ann, A\",1.5,true,2000-01-02,2024-01-02 03:04:05,01234\n" +
		"2,Bob,,FALSE,,2024-01-02T03:04:05.5,\n")
	applied, err := materialize.Seed(ctx, e.wh, e.rel("people"), data, false)
	if err != nil {
		t.Fatal(err)
	}
	if applied.Result.RowsAffected != 2 || applied.Result.Code != "INSERT" {
		t.Errorf("Result = %+v", applied.Result)
	}
	got := queryAll(t, e.wh, "select id, name, score, active, born, seen, zip from "+e.render("people")+" order by id")
	want := [][]any{
		{int64(1), "Ann, A", 1.5, true, time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "01234"},
		{int64(2), "Bob", nil, false, nil, time.Date(2024, 1, 2, 3, 4, 5, 500000000, time.UTC), nil},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("seed rows:\n got %#v\nwant %#v", got, want)
	}
	// Same shape again: reloaded in place, dependent view untouched.
	exec(t, e.wh, "create view "+e.render("people_v")+" as select id from "+e.render("people"))
	data = write("id,name,score,active,born,seen,zip\n3,Cy,2,true,2000-01-03,2024-01-01 00:00:00,9\n")
	if applied, err = materialize.Seed(ctx, e.wh, e.rel("people"), data, false); err != nil {
		t.Fatal(err)
	}
	if applied.Result.RowsAffected != 1 {
		t.Errorf("reload Result = %+v", applied.Result)
	}
	if v := scalar(t, e.wh, "select max(id) from "+e.render("people_v")); toInt(v) != 3 {
		t.Errorf("view after reload = %v", v)
	}
	// A changed shape, and a full refresh, rebuild the table.
	data = write("id,name\n4,Di\n5,Ed\n")
	if applied, err = materialize.Seed(ctx, e.wh, e.rel("people"), data, false); err != nil {
		t.Fatal(err)
	}
	info, err := e.wh.Relation(ctx, e.rel("people"))
	if err != nil || info == nil || len(info.Columns) != 2 {
		t.Fatalf("after reshaping seed: %+v, %v", info, err)
	}
	if _, err = materialize.Seed(ctx, e.wh, e.rel("people"), data, true); err != nil {
		t.Fatal(err)
	}
	if v := scalar(t, e.wh, "select count(*) from "+e.render("people")); toInt(v) != 2 {
		t.Errorf("count after full refresh = %v", v)
	}
	names := e.names(t)
	if _, ok := names["people"+materialize.TmpSuffix]; ok {
		t.Errorf("tmp left behind: %v", names)
	}
}

func testSyntaxError(t *testing.T, e env) {
	sql := "select 1\nfrom " + e.render("x") + " wher 1 = 1 oops"
	_, err := e.wh.Query(context.Background(), sql)
	if err == nil {
		_, err = e.wh.Exec(context.Background(), sql)
	}
	var werr *adapters.Error
	if !errors.As(err, &werr) {
		t.Fatalf("error %v (%T) is not *adapters.Error", err, err)
	}
	if werr.Message == "" || werr.SQL != sql {
		t.Errorf("error = %+v", werr)
	}
	if e.d.Name() == "postgres" {
		if werr.SQLState != "42601" || werr.Position == 0 || werr.LineOf() != 2 {
			t.Errorf("postgres syntax error = %+v (line %d)", werr, werr.LineOf())
		}
	}
	if _, err := e.wh.Exec(context.Background(), "select 1 from "+e.render("missing_xyz")); !errors.As(err, &werr) {
		t.Errorf("missing relation error %v is not *adapters.Error", err)
	}
}

func testCancel(t *testing.T, e env) {
	slow := "select count(*) from range(1000000000) a, range(1000000000) b where a.range + b.range < 0"
	if e.d.Name() == "postgres" {
		slow = "select pg_sleep(30)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := func() error {
		rows, err := e.wh.Query(ctx, slow)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
		}
		return rows.Err()
	}()
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("slow query was not cancelled")
	}
	if elapsed > 10*time.Second {
		t.Errorf("cancel took %s", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
	// The warehouse is still usable.
	if v := scalar(t, e.wh, "select 1"); toInt(v) != 1 {
		t.Errorf("select 1 after cancel = %v", v)
	}
}

func testConcurrent(t *testing.T, e env) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half in a schema that does not exist yet, so schema creation
			// races too.
			rel := adapters.Relation{Database: e.d.DefaultDatabase(), Schema: "kiln_par", Identifier: "t" + itoa(i)}
			if i%2 == 0 {
				rel.Schema = e.schema
			}
			for round := range 2 {
				if _, err := materialize.Table(ctx, e.wh, rel, "select "+itoa(i*10+round)+" as id"); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("build %d: %v", i, err)
		}
	}
	if got := len(e.names(t)); got != 4 {
		t.Errorf("%d relations in %s, want 4", got, e.schema)
	}
}
