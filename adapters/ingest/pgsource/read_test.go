package pgsource

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
)

var typesSetup = []string{
	`create type mood as enum ('sad', 'happy')`,
	`create table public.types (
		id int primary key, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
		n numeric(12,4), nn numeric, b boolean, d date, ts timestamp, tstz timestamptz,
		t text, vc varchar(10), c char(3), j json, jb jsonb, u uuid, by bytea,
		arr int[], iv interval, e mood)`,
	`insert into public.types values (1, -2, 2147483647, 9223372036854775807, 0.1, 1.5e300,
		12345678.1234, -0.000012, true, '2024-02-29', '2024-01-01 10:00:00.123456',
		'2024-01-01 10:00:00.654321+02', e'h\u00e9llo\n\tworld \\ ''q''', 'abc', 'ab',
		'{"a": [1, 2.5, "x"], "b": null}', '{"big": 9007199254740993, "s": "t"}',
		'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\xdeadbeef00', '{1,NULL,3}',
		'1 day 02:00:00', 'happy')`,
	`insert into public.types (id) values (2)`,
	`create schema "Odd Schema"`,
	`create table "Odd Schema"."Odd Table" ("Mixed Case" int)`,
	`insert into "Odd Schema"."Odd Table" values (7)`,
}

func utc(y int, mo time.Month, d, h, mi, s, us int) time.Time {
	return time.Date(y, mo, d, h, mi, s, us*1000, time.UTC)
}

func TestReadTypes(t *testing.T) {
	src := open(t, sourceDB(t, typesSetup...))
	tbl := table(t, src, "table", "public.types")

	cols, err := tbl.Columns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantCols := []adapters.Column{
		{Name: "id", Type: "integer"}, {Name: "i2", Type: "integer"}, {Name: "i4", Type: "integer"}, {Name: "i8", Type: "bigint"},
		{Name: "f4", Type: "float"}, {Name: "f8", Type: "float"}, {Name: "n", Type: "numeric"}, {Name: "nn", Type: "numeric"},
		{Name: "b", Type: "boolean"}, {Name: "d", Type: "date"}, {Name: "ts", Type: "timestamp"}, {Name: "tstz", Type: "timestamp"},
		{Name: "t", Type: "text"}, {Name: "vc", Type: "text"}, {Name: "c", Type: "text"}, {Name: "j", Type: "json"}, {Name: "jb", Type: "json"},
		{Name: "u", Type: "text"}, {Name: "by", Type: "text"}, {Name: "arr", Type: "json"}, {Name: "iv", Type: "text"}, {Name: "e", Type: "text"},
	}
	if !reflect.DeepEqual(cols, wantCols) {
		t.Errorf("Columns:\n got %v\nwant %v", cols, wantCols)
	}

	names, rows := readAll(t, tbl, ingest.ReadRequest{Full: true})
	wantNames := make([]string, len(wantCols))
	for i, c := range wantCols {
		wantNames[i] = c.Name
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("batch columns %v, want %v", names, wantNames)
	}
	slices.SortFunc(rows, func(a, b []any) int { return int(a[0].(int64) - b[0].(int64)) })
	want1 := []any{
		int64(1), int64(-2), int64(2147483647), int64(9223372036854775807), 0.1, 1.5e300,
		"12345678.1234", "-0.000012", true, utc(2024, 2, 29, 0, 0, 0, 0),
		utc(2024, 1, 1, 10, 0, 0, 123456), utc(2024, 1, 1, 8, 0, 0, 654321),
		"h\u00e9llo\n\tworld \\ 'q'", "abc", "ab ",
		map[string]any{"a": []any{int64(1), 2.5, "x"}, "b": nil},
		map[string]any{"big": int64(9007199254740993), "s": "t"},
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `\xdeadbeef00`, []any{int64(1), nil, int64(3)},
		"1 day 02:00:00", "happy",
	}
	want2 := make([]any, len(wantCols))
	want2[0] = int64(2)
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	for i, want := range [][]any{want1, want2} {
		for j := range want {
			if !reflect.DeepEqual(rows[i][j], want[j]) {
				t.Errorf("row %d column %s: got %#v (%T), want %#v (%T)", i+1, wantNames[j], rows[i][j], rows[i][j], want[j], want[j])
			}
		}
	}
}

func TestQuotedNamesAndColumns(t *testing.T) {
	src := open(t, sourceDB(t, typesSetup...))
	_, rows := readAll(t, table(t, src, "table", `"Odd Schema"."Odd Table"`), ingest.ReadRequest{})
	if !reflect.DeepEqual(rows, [][]any{{int64(7)}}) {
		t.Errorf("quoted table: got %v", rows)
	}
	tbl := table(t, src, "table", "types", "columns", []any{"ts", "id"})
	cols, _ := tbl.Columns(context.Background())
	if !reflect.DeepEqual(cols, []adapters.Column{{Name: "ts", Type: "timestamp"}, {Name: "id", Type: "integer"}}) {
		t.Errorf("columns: got %v", cols)
	}
	names, rows := readAll(t, tbl, ingest.ReadRequest{Cursor: "id", Since: int64(1)})
	if !slices.Equal(names, []string{"ts", "id"}) || !reflect.DeepEqual(rows, [][]any{{nil, int64(2)}}) {
		t.Errorf("columns with cursor: got %v %v", names, rows)
	}
}

// TestNumericText checks the binary numeric decoder against Postgres' own
// text output.
func TestNumericText(t *testing.T) {
	src := open(t, sourceDB(t))
	values := []string{"0", "0.0000", "1", "-1", "10000", "9999", "10001", "100000000", "0.1", "-0.0001",
		"0.00001", "1.5", "123456789012345678901234567890.123456789", "-98765.43210", "1e-20", "1e20",
		"3.14159265358979323846264338327950288", "NaN", "Infinity", "-Infinity", "12345.6789000"}
	q := "select v, v::text as s from (values " + "('" + strings.Join(values, "'::numeric), ('") + "'::numeric)) x(v)"
	_, rows := readAll(t, table(t, src, "query", q), ingest.ReadRequest{})
	if len(rows) != len(values) {
		t.Fatalf("got %d rows", len(rows))
	}
	for _, r := range rows {
		if r[0] != r[1] {
			t.Errorf("numeric %v: decoded %q", r[1], r[0])
		}
	}
}

var eventsSetup = []string{
	`create table public.events (id int, updated_at timestamp, at_tz timestamptz, day date, note text)`,
	`insert into public.events values
		(1, '2024-01-01 10:00:00', '2024-01-01 10:00:00+00', '2024-01-01', 'a'),
		(2, '2024-01-01 10:00:00.123456', '2024-01-01 10:00:00.123456+00', '2024-01-02', 'b'),
		(3, '2024-01-01 10:00:00.123457', '2024-01-01 10:00:00.123457+00', '2024-01-03', 'c'),
		(4, '2024-01-01 11:00:00', '2024-01-01 12:00:00+01', '2024-01-04', 'd'),
		(5, null, null, null, 'e')`,
}

func ids(rows [][]any) []int64 {
	var out []int64
	for _, r := range rows {
		out = append(out, r[0].(int64))
	}
	slices.Sort(out)
	return out
}

func TestCursor(t *testing.T) {
	src := open(t, sourceDB(t, eventsSetup...))
	events := table(t, src, "table", "public.events")
	since := utc(2024, 1, 1, 10, 0, 0, 123456)
	cases := []struct {
		name string
		tbl  ingest.Table
		req  ingest.ReadRequest
		want []int64
	}{
		{"first load reads all, NULL cursors too", events, ingest.ReadRequest{Cursor: "updated_at", Full: true}, []int64{1, 2, 3, 4, 5}},
		{"strictly greater, to the microsecond", events, ingest.ReadRequest{Cursor: "updated_at", Since: since}, []int64{3, 4}},
		{"nanoseconds below since truncate, not round", events, ingest.ReadRequest{Cursor: "updated_at", Since: since.Add(999 * time.Nanosecond)}, []int64{3, 4}},
		{"full with since keeps NULL cursors", events, ingest.ReadRequest{Cursor: "updated_at", Since: since, Full: true}, []int64{3, 4, 5}},
		{"since as RFC 3339 text", events, ingest.ReadRequest{Cursor: "updated_at", Since: "2024-01-01T10:00:00.123456Z"}, []int64{3, 4}},
		{"since as postgres text", events, ingest.ReadRequest{Cursor: "updated_at", Since: "2024-01-01 10:00:00.123456"}, []int64{3, 4}},
		{"lookback", events, ingest.ReadRequest{Cursor: "updated_at", Since: utc(2024, 1, 1, 11, 0, 0, 0), Lookback: time.Hour - time.Microsecond}, []int64{2, 3, 4}},
		{"lookback boundary is strict", events, ingest.ReadRequest{Cursor: "updated_at", Since: utc(2024, 1, 1, 11, 0, 0, 0), Lookback: time.Hour}, []int64{2, 3, 4}},
		{"timestamptz cursor", events, ingest.ReadRequest{Cursor: "at_tz", Since: since}, []int64{3, 4}},
		{"timestamptz since in another zone", events, ingest.ReadRequest{Cursor: "at_tz", Since: since.In(time.FixedZone("x", -5*3600))}, []int64{3, 4}},
		{"timestamptz lookback", events, ingest.ReadRequest{Cursor: "at_tz", Since: utc(2024, 1, 1, 11, 0, 0, 0), Lookback: 59*time.Minute + 59*time.Second + 876544*time.Microsecond}, []int64{3, 4}},
		{"timestamptz lookback, one microsecond less", events, ingest.ReadRequest{Cursor: "at_tz", Since: utc(2024, 1, 1, 11, 0, 0, 0), Lookback: 59*time.Minute + 59*time.Second + 876543*time.Microsecond}, []int64{4}},
		{"date cursor", events, ingest.ReadRequest{Cursor: "day", Since: utc(2024, 1, 2, 0, 0, 0, 0)}, []int64{3, 4}},
		{"date cursor lookback", events, ingest.ReadRequest{Cursor: "day", Since: utc(2024, 1, 3, 0, 0, 0, 0), Lookback: 36 * time.Hour}, []int64{2, 3, 4}},
		{"integer cursor", events, ingest.ReadRequest{Cursor: "id", Since: int64(3)}, []int64{4, 5}},
		{"integer cursor from JSON", events, ingest.ReadRequest{Cursor: "id", Since: float64(3)}, []int64{4, 5}},
		{"text cursor", events, ingest.ReadRequest{Cursor: "note", Since: "c"}, []int64{4, 5}},
		{"query source", table(t, src, "query", "select id, updated_at from public.events where id <> 4;"),
			ingest.ReadRequest{Cursor: "updated_at", Since: since}, []int64{3}},
		{"cursor outside columns", table(t, src, "table", "events", "columns", []any{"id"}),
			ingest.ReadRequest{Cursor: "updated_at", Since: since}, []int64{3, 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, rows := readAll(t, c.tbl, c.req)
			if got := ids(rows); !slices.Equal(got, c.want) {
				t.Errorf("ids %v, want %v", got, c.want)
			}
		})
	}

	_, err := events.Read(context.Background(), ingest.ReadRequest{Cursor: "id", Since: int64(1), Lookback: time.Hour}, func(ingest.Batch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "lookback needs a date or timestamp cursor") {
		t.Errorf("lookback on an integer cursor: %v", err)
	}
	_, err = events.Read(context.Background(), ingest.ReadRequest{Cursor: "nope", Since: int64(1)}, func(ingest.Batch) error { return nil })
	var ae *adapters.Error
	if !errors.As(err, &ae) || ae.SQLState != "42703" || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing cursor column: %v", err)
	}
}

func TestErrors(t *testing.T) {
	url := sourceDB(t, eventsSetup...)
	src := open(t, url)
	cases := []struct {
		name  string
		kv    []any
		state string
		want  []string
	}{
		{"missing table", []any{"table", "public.nope"}, "42P01", []string{"models/sources.yml:4:7", "public.nope", `relation "public.nope" does not exist`}},
		{"missing schema", []any{"table", "nope.events"}, "42P01", []string{"nope.events"}},
		{"missing column", []any{"table", "events", "columns", []any{"id", "nope"}}, "42703", []string{"public.events", `column "nope" does not exist`}},
		{"bad query", []any{"query", "select nope from public.events"}, "42703", []string{"postgres query", `column "nope" does not exist`}},
		{"table and query", []any{"table", "events", "query", "select 1"}, "", []string{"models/sources.yml:4:7", "not both"}},
		{"neither", []any{"columns", []any{"id"}}, "", []string{"models/sources.yml:3:5", `"table"`, `"query"`}},
		{"columns not a list", []any{"table", "events", "columns", "id"}, "", []string{"must be a list"}},
		{"bad name", []any{"table", "a.b.c"}, "", []string{"want schema.table"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tableErr(src, c.kv...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			var ae *adapters.Error
			if c.state != "" && (!errors.As(err, &ae) || ae.SQLState != c.state) {
				t.Errorf("error %v: want SQLSTATE %s", err, c.state)
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		_, err := Connector().Open(context.Background(), config(map[string]any{
			"connection": "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=3"}))
		if !errors.Is(err, adapters.ErrUnreachable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("login refused", func(t *testing.T) {
		u := strings.Replace(url, "postgres://postgres@", "postgres://kiln_nobody:secret@", 1)
		_, err := Connector().Open(context.Background(), config(map[string]any{"connection": u}))
		var ae *adapters.Error
		if !errors.As(err, &ae) || !strings.HasPrefix(ae.SQLState, "28") || !strings.Contains(err.Error(), "kiln_nobody") {
			t.Errorf("got %v", err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error shows the password: %v", err)
		}
		if errors.Is(err, adapters.ErrUnreachable) {
			t.Errorf("a refused login is not unreachable: %v", err)
		}
	})
	t.Run("no connection", func(t *testing.T) {
		_, err := Connector().Open(context.Background(), config(map[string]any{}))
		if err == nil || !strings.Contains(err.Error(), `"connection" is required`) {
			t.Errorf("got %v", err)
		}
	})
}

const bigSetup = `create table public.big as
	select g as id, g * 2 as n, timestamp '2024-01-01' + g * interval '1 microsecond' as ts, 'row ' || g as s
	from generate_series(1, 200000) g`

func TestCancelMidStream(t *testing.T) {
	src := open(t, sourceDB(t, bigSetup), "max_connections", int64(2))
	big := table(t, src, "table", "big")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	batches := 0
	t0 := time.Now()
	_, err := big.Read(ctx, ingest.ReadRequest{}, func(b ingest.Batch) error {
		batches++
		if batches == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Read: got %v, want context.Canceled", err)
	}
	if batches > 4 {
		t.Errorf("%d batches emitted after cancelling at the second", batches)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("cancelled Read took %s", d)
	}

	stop := errors.New("loader failed")
	_, err = big.Read(context.Background(), ingest.ReadRequest{}, func(ingest.Batch) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("emit error: got %v", err)
	}

	// The pool is still good after both.
	for range 3 {
		_, rows := readAll(t, big, ingest.ReadRequest{Cursor: "id", Since: int64(199990)})
		if len(rows) != 10 {
			t.Errorf("read after cancel: %d rows", len(rows))
		}
	}
}

func TestConcurrentReads(t *testing.T) {
	src := open(t, sourceDB(t, append([]string{bigSetup}, eventsSetup...)...))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			kv := []any{"table", "big"}
			want := int64(200000)
			if i%2 == 1 {
				kv, want = []any{"query", "select * from events"}, 5
			}
			tbl, err := tableErr(src, kv...)
			if err != nil {
				errs <- err
				return
			}
			var n, sum int64
			_, err = tbl.Read(context.Background(), ingest.ReadRequest{}, func(b ingest.Batch) error {
				for _, r := range b.Rows {
					n++
					sum += r[0].(int64)
				}
				return nil
			})
			if err != nil {
				errs <- err
				return
			}
			if n != want || sum != want*(want+1)/2 {
				errs <- fmt.Errorf("reader %d: %d rows summing to %d", i, n, sum)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
