package gsheets_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/gsheets"
	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
)

var ctx = context.Background()

// config wraps values as a connector config whose keys all sit at one
// made-up position.
func config(values map[string]any) ingest.Config {
	return ingest.Config{Values: values, Pos: func(string) string { return "models/sources.yml:7:9" }}
}

// openTable opens the connector's source and one table.
func openTable(t *testing.T, src, tbl map[string]any) ingest.Table {
	t.Helper()
	s, err := gsheets.Connector().Open(ctx, config(src))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	tb, err := s.Table(ctx, config(tbl))
	if err != nil {
		t.Fatalf("Table: %v", err)
	}
	return tb
}

// readAll reads a table and returns its batches.
func readAll(t *testing.T, tb ingest.Table) ([]ingest.Batch, error) {
	t.Helper()
	var batches []ingest.Batch
	st, err := tb.Read(ctx, ingest.ReadRequest{Full: true, Mode: ingest.ModeReplace}, func(b ingest.Batch) error {
		batches = append(batches, b)
		return nil
	})
	if len(st) != 0 {
		t.Errorf("Read returned state %v, want none", st)
	}
	return batches, err
}

// rowsText spells the batches' rows as "a|b|NULL" lines.
func rowsText(batches []ingest.Batch) []string {
	var out []string
	for _, b := range batches {
		for _, r := range b.Rows {
			var cells []string
			for _, v := range r {
				if v == nil {
					cells = append(cells, "NULL")
				} else {
					cells = append(cells, fmt.Sprint(v))
				}
			}
			out = append(out, strings.Join(cells, "|"))
		}
	}
	return out
}

// stepRows spells a conformance step as the cells of a sheet: a header,
// then the rows as text (timestamps with microseconds), empty cells for
// NULL.
func stepRows(step int) [][]string {
	s := ingesttest.Steps[step]
	rows := [][]string{append([]string(nil), s.Columns...)}
	for _, r := range s.Rows {
		var cells []string
		for _, v := range r {
			switch x := v.(type) {
			case nil:
				cells = append(cells, "")
			case time.Time:
				cells = append(cells, x.UTC().Format("2006-01-02 15:04:05.000000"))
			default:
				cells = append(cells, fmt.Sprint(x))
			}
		}
		rows = append(rows, cells)
	}
	return rows
}

// TestConformance serves the suite's steps through the Sheets API, tab
// "Items" picked by name.
func TestConformance(t *testing.T) {
	ingesttest.Run(t, func(t *testing.T, step int) ingest.Table {
		f := newFake(t)
		f.set("conf", &book{sheets: []*sheet{
			{gid: 0, title: "Notes", rows: [][]string{{"nothing here"}}},
			{gid: 7, title: "Items", rows: stepRows(step)},
		}})
		return openTable(t, f.apiSource(nil), map[string]any{"spreadsheet_id": "conf", "sheet": "Items"})
	})
}

// TestConformanceExport serves the suite's steps as the CSV export of a
// link-shared sheet, tab picked by gid.
func TestConformanceExport(t *testing.T) {
	ingesttest.Run(t, func(t *testing.T, step int) ingest.Table {
		f := newFake(t)
		f.set("conf", &book{linkShared: true, sheets: []*sheet{{gid: 123, title: "Items", rows: stepRows(step)}}})
		return openTable(t, f.exportSource(map[string]any{"spreadsheet_id": "conf"}), map[string]any{"gid": int64(123)})
	})
}

// TestRequests checks what goes over the wire: a token fetched once with a
// signed JWT, spreadsheets.get then values.get with the bearer token, the
// tab quoted in the range, formatted values by rows.
func TestRequests(t *testing.T) {
	f := newFake(t)
	f.set("sheet-1", &book{sheets: []*sheet{{gid: 0, title: "Q1 'Orders'", rows: [][]string{{"id", "name"}, {"1", "a"}}}}})
	tb := openTable(t, f.apiSource(nil), map[string]any{"spreadsheet_id": "sheet-1", "sheet": "Q1 'Orders'", "range": "A1:B"})
	for range 2 {
		batches, err := readAll(t, tb)
		if err != nil {
			t.Fatal(err)
		}
		if got := rowsText(batches); !reflect.DeepEqual(got, []string{"1|a"}) {
			t.Errorf("rows = %v", got)
		}
	}
	if n := f.count("token"); n != 1 {
		t.Errorf("%d token requests, want 1 (the token is reused)", n)
	}
	gets := f.requests("get")
	if len(gets) != 2 || gets[0].Header.Get("Authorization") != "Bearer "+accessToken {
		t.Fatalf("spreadsheets.get requests: %d, first with %q", len(gets), gets[0].Header.Get("Authorization"))
	}
	vals := f.requests("values")
	if len(vals) != 2 {
		t.Fatalf("%d values.get requests, want 2", len(vals))
	}
	q := vals[0].URL.Query()
	if q.Get("valueRenderOption") != "FORMATTED_VALUE" || q.Get("majorDimension") != "ROWS" {
		t.Errorf("values.get query = %v", q)
	}
	if got, want := vals[0].URL.Path, "/v4/spreadsheets/sheet-1/values/'Q1 ''Orders'''!A1:B"; got != want {
		t.Errorf("values.get path = %q, want %q", got, want)
	}
}

// TestHeaderAndRows covers header normalisation, NULLs, padding, empty
// rows (in the middle and trailing) and the bounds of a range, through both
// the API and the CSV export.
func TestHeaderAndRows(t *testing.T) {
	rows := [][]string{
		{"Order ID", "Customer Name", "userId", "HTTPStatus", "", "amount", "Amount", "Amount (USD)", "Prénom", "#", "  e-mail  ", ""},
		{"1", "Ann", "u1", "200", "x", "1.5", "2", "3", "Zoë", "h", "a@x", ""},
		{"2", "", "u2"},
		{"", "", "", "", "", "", "", "", "", "", "", ""},
		{"3", "Bob", "u3", "404", "", "", "", "", "", "", "b@x", ""},
		{"", "", ""},
		{""},
		{"", "", "", "", "", "", "", "", "", "", "", ""},
	}
	wantCols := []string{"order_id", "customer_name", "user_id", "http_status", "column_5", "amount", "amount_2", "amount_usd", "prénom", "column_10", "e_mail"}
	wantRows := []string{
		"1|Ann|u1|200|x|1.5|2|3|Zoë|h|a@x",
		"2|NULL|u2|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL",
		"3|Bob|u3|404|NULL|NULL|NULL|NULL|NULL|NULL|b@x",
	}
	f := newFake(t)
	f.set("hdr", &book{linkShared: true, sheets: []*sheet{{gid: 0, title: "Data", rows: rows}}})
	for name, src := range map[string]map[string]any{"api": f.apiSource(nil), "export": f.exportSource(nil)} {
		t.Run(name, func(t *testing.T) {
			batches, err := readAll(t, openTable(t, src, map[string]any{"spreadsheet_id": "hdr"}))
			if err != nil {
				t.Fatal(err)
			}
			if len(batches) != 1 {
				t.Fatalf("%d batches, want 1", len(batches))
			}
			if !reflect.DeepEqual(batches[0].Columns, wantCols) {
				t.Errorf("columns = %q\nwant      %q", batches[0].Columns, wantCols)
			}
			if got := rowsText(batches); !reflect.DeepEqual(got, wantRows) {
				t.Errorf("rows =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantRows, "\n"))
			}
		})
	}

	// Duplicates that collide with a name already taken.
	f.set("dups", &book{linkShared: true, sheets: []*sheet{{gid: 0, title: "Data", rows: [][]string{
		{"a", "A", "a_2", "A 2", "a"}, {"1", "2", "3", "4", "5"},
	}}}})
	batches, err := readAll(t, openTable(t, f.exportSource(nil), map[string]any{"spreadsheet_id": "dups"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := batches[0].Columns, []string{"a", "a_2", "a_2_2", "a_2_3", "a_3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("duplicate columns = %q, want %q", got, want)
	}

	// A range starting below and right of A1, its header on its second
	// row; bad records name the sheet row.
	f.set("rng", &book{linkShared: true, sheets: []*sheet{{gid: 5, title: "Data", rows: [][]string{
		{"title row"},
		{"", "report"},
		{"", "skipped", "above"},
		{"ignored", "id", "v"},
		{"ignored", "1", "x"},
		{"ignored", "2", "y", "beyond"},
		{"ignored", "3", "z"},
		{"ignored", "4", "not in range"},
	}}}})
	for name, src := range map[string]map[string]any{"api": f.apiSource(nil), "export": f.exportSource(nil)} {
		t.Run("range_"+name, func(t *testing.T) {
			tbl := map[string]any{"spreadsheet_id": "rng", "gid": int64(5), "range": "B3:D7", "header_row": int64(2)}
			batches, err := readAll(t, openTable(t, src, tbl))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := batches[0].Columns, []string{"id", "v"}; !reflect.DeepEqual(got, want) {
				t.Errorf("columns = %q, want %q", got, want)
			}
			if got, want := rowsText(batches), []string{"1|x", "3|z"}; !reflect.DeepEqual(got, want) {
				t.Errorf("rows = %v, want %v", got, want)
			}
			label := "Data"
			if name == "export" {
				label = "gid 5"
			}
			var bad []ingest.BadRecord
			for _, b := range batches {
				bad = append(bad, b.Bad...)
			}
			if len(bad) != 1 || bad[0].Where != label+"!row 6" || bad[0].Raw != "2,y,beyond" ||
				!strings.Contains(bad[0].Reason, "column C, beyond the header's last column B") {
				t.Errorf("bad records = %+v", bad)
			}
		})
	}
}

// TestTypes checks that cells typed by inference land as files' do.
func TestTypes(t *testing.T) {
	f := newFake(t)
	f.set("types", &book{sheets: []*sheet{{gid: 0, title: "T", rows: [][]string{
		{"n", "big", "price", "flag", "day", "seen_at", "code", "label"},
		{"1", "9000000000", "1.25", "TRUE", "2024-03-01", "2024-03-01 12:00:00.000001", "007", "x"},
		{"2", "1", "3", "FALSE", "2024-03-02", "2024-03-02T08:30:00Z", "010", "12"},
	}}}})
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dest := ingesttest.Rel(wh, "gs_types", "t")
		if _, err := ingest.Load(ctx, wh, dest, openTable(t, f.apiSource(nil), map[string]any{"spreadsheet_id": "types"}), ingest.LoadOptions{}); err != nil {
			t.Fatal(err)
		}
		types := ingesttest.ColumnTypes(t, wh, dest)
		for col, want := range map[string][]string{
			"n": {"int"}, "big": {"bigint"}, "price": {"numeric", "decimal", "double"}, "flag": {"bool"},
			"day": {"date"}, "seen_at": {"timestamp"}, "code": {"char", "text"}, "label": {"char", "text"},
		} {
			ok := false
			for _, w := range want {
				ok = ok || strings.Contains(types[col], w)
			}
			if !ok {
				t.Errorf("column %s: type %s, want one of %v", col, types[col], want)
			}
		}
		got := ingesttest.Query(t, wh, "select seen_at, code from "+wh.Dialect().Render(dest)+" order by n")
		if got[0][0] != "2024-03-01 12:00:00.000001" || got[1][0] != "2024-03-02 08:30:00" || got[0][1] != "007" {
			t.Errorf("values = %v", got)
		}
	})
}

// TestUnformatted reads stored values: numbers whatever their display
// format.
func TestUnformatted(t *testing.T) {
	f := newFake(t)
	f.set("u", &book{sheets: []*sheet{{gid: 0, title: "T",
		rows: [][]string{{"id", "price", "paid", "on"}, {"1", "$1,234.50", "TRUE", "3/1/2024"}},
		raw:  [][]any{{"id", "price", "paid", "on"}, {1.0, 1234.5, true, "3/1/2024"}},
	}}})
	batches, err := readAll(t, openTable(t, f.apiSource(nil), map[string]any{"spreadsheet_id": "u", "value_render": "unformatted"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rowsText(batches), []string{"1|1234.5|true|3/1/2024"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}
	q := f.requests("values")[0].URL.Query()
	if q.Get("valueRenderOption") != "UNFORMATTED_VALUE" || q.Get("dateTimeRenderOption") != "FORMATTED_STRING" {
		t.Errorf("values.get query = %v", q)
	}
	batches, err = readAll(t, openTable(t, f.apiSource(nil), map[string]any{"spreadsheet_id": "u"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rowsText(batches), []string{"1|$1,234.50|TRUE|3/1/2024"}; !reflect.DeepEqual(got, want) {
		t.Errorf("formatted rows = %v, want %v", got, want)
	}
}

// TestSheetChoice picks a tab by gid, by the #gid= of a spreadsheet URL,
// and the first tab by default.
func TestSheetChoice(t *testing.T) {
	f := newFake(t)
	f.set("1AbC-d_9", &book{linkShared: true, sheets: []*sheet{
		{gid: 0, title: "First", rows: [][]string{{"tab"}, {"first"}}},
		{gid: 987, title: "Second", rows: [][]string{{"tab"}, {"second"}}},
	}})
	url := "https://docs.google.com/spreadsheets/d/1AbC-d_9/edit#gid=987"
	for _, c := range []struct {
		name string
		src  map[string]any
		tbl  map[string]any
		want string
	}{
		{"api default", f.apiSource(nil), map[string]any{"spreadsheet_id": "1AbC-d_9"}, "first"},
		{"api gid", f.apiSource(nil), map[string]any{"spreadsheet_id": "1AbC-d_9", "gid": int64(987)}, "second"},
		{"api url", f.apiSource(map[string]any{"spreadsheet_id": url}), map[string]any{}, "second"},
		{"api url, sheet wins", f.apiSource(map[string]any{"spreadsheet_id": url}), map[string]any{"sheet": "First"}, "first"},
		{"export default", f.exportSource(nil), map[string]any{"spreadsheet_id": "1AbC-d_9"}, "first"},
		{"export url", f.exportSource(nil), map[string]any{"spreadsheet_id": url}, "second"},
		{"export gid string", f.exportSource(nil), map[string]any{"spreadsheet_id": "1AbC-d_9", "gid": "987"}, "second"},
	} {
		batches, err := readAll(t, openTable(t, c.src, c.tbl))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := rowsText(batches); len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: rows %v, want %s", c.name, got, c.want)
		}
	}
}

// TestRetry answers 503 and 429 (with and without Retry-After) before
// serving: the reads succeed after the retries, Retry-After is honoured,
// and a quota that never recovers fails after the configured retries.
func TestRetry(t *testing.T) {
	f := newFake(t)
	f.set("q", &book{linkShared: true, sheets: []*sheet{{gid: 0, title: "T", rows: [][]string{{"id"}, {"1"}, {"2"}}}}})
	failures := map[string][]func(w http.ResponseWriter){
		"token": {func(w http.ResponseWriter) { http.Error(w, "backend error", http.StatusServiceUnavailable) }},
		"get": {func(w http.ResponseWriter) {
			googleError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The service is currently unavailable.")
		}},
		"values": {
			func(w http.ResponseWriter) {
				w.Header().Set("Retry-After", "1")
				googleError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user'")
			},
			func(w http.ResponseWriter) {
				googleError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "Quota exceeded")
			},
		},
		"export": {func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		}},
	}
	f.setInject(func(w http.ResponseWriter, r *http.Request, kind string) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if fs := failures[kind]; len(fs) > 0 {
			failures[kind] = fs[1:]
			fs[0](w)
			return true
		}
		return false
	})
	start := time.Now()
	batches, err := readAll(t, openTable(t, f.apiSource(map[string]any{"max_retry_wait": "5s"}), map[string]any{"spreadsheet_id": "q"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := rowsText(batches); !reflect.DeepEqual(got, []string{"1", "2"}) {
		t.Errorf("rows = %v", got)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("read took %s: the Retry-After of 1s was not honoured", el)
	}
	for kind, want := range map[string]int{"token": 2, "get": 2, "values": 3} {
		if n := f.count(kind); n != want {
			t.Errorf("%d %s requests, want %d", n, kind, want)
		}
	}
	batches, err = readAll(t, openTable(t, f.exportSource(nil), map[string]any{"spreadsheet_id": "q"}))
	if err != nil || len(rowsText(batches)) != 2 || f.count("export") != 2 {
		t.Errorf("export after a 429: rows %v, err %v, %d requests", rowsText(batches), err, f.count("export"))
	}

	// A quota that does not recover: retries are bounded.
	f.setInject(func(w http.ResponseWriter, r *http.Request, kind string) bool {
		if kind == "values" {
			googleError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "Quota exceeded")
			return true
		}
		return false
	})
	before := f.count("values")
	_, err = readAll(t, openTable(t, f.apiSource(map[string]any{"retries": int64(2)}), map[string]any{"spreadsheet_id": "q"}))
	if err == nil || !strings.Contains(err.Error(), "429 Too Many Requests: Quota exceeded (gave up after 3 attempts)") {
		t.Errorf("endless 429: err = %v", err)
	}
	if n := f.count("values") - before; n != 3 {
		t.Errorf("endless 429: %d values requests, want 3", n)
	}

	// 400s are not retried.
	f.setInject(nil)
	before = f.count("values")
	_, err = readAll(t, openTable(t, f.apiSource(nil), map[string]any{"spreadsheet_id": "q", "range": "A1:B2"}))
	if err != nil {
		t.Fatal(err)
	}
	f.setInject(func(w http.ResponseWriter, r *http.Request, kind string) bool {
		if kind == "values" {
			googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Unable to parse range: 'T'!A1:B2")
			return true
		}
		return false
	})
	_, err = readAll(t, openTable(t, f.apiSource(nil), map[string]any{"spreadsheet_id": "q", "range": "A1:B2"}))
	if err == nil || !strings.Contains(err.Error(), `sheet or range 'T'!A1:B2 not found in spreadsheet "q"`) {
		t.Errorf("400: err = %v", err)
	}
	if n := f.count("values") - before; n != 2 {
		t.Errorf("%d values requests, want 2 (a 400 is not retried)", n)
	}
}

// loadOnce loads tb into dest and returns the error.
func loadOnce(wh adapters.Warehouse, dest adapters.Relation, tb ingest.Table, opts ingest.LoadOptions) error {
	_, err := ingest.Load(ctx, wh, dest, tb, opts)
	return err
}

// TestFailuresCommitNothing: after a good load, bad credentials, a missing
// spreadsheet or sheet, a refused share and malformed contents each fail
// with a clear message and leave the table and its state as they were.
func TestFailuresCommitNothing(t *testing.T) {
	f := newFake(t)
	good := [][]string{{"id", "name", "updated_at"}, {"1", "a", "2024-03-01 10:00:00"}, {"2", "b", "2024-03-01 11:00:00"}}
	f.set("ok", &book{linkShared: true, sheets: []*sheet{{gid: 0, title: "Rows", rows: good}}})
	f.set("locked", &book{private: true, sheets: []*sheet{{gid: 0, title: "Rows", rows: good}}})
	f.set("unshared", &book{sheets: []*sheet{{gid: 0, title: "Rows", rows: good}}})
	f.set("wide", &book{linkShared: true, sheets: []*sheet{{gid: 0, title: "Rows", rows: [][]string{
		{"id", "name", "updated_at"}, {"3", "c", "2024-03-02 10:00:00"}, {"4", "d", "2024-03-02 11:00:00", "stray note"},
	}}}})
	f.set("broken", &book{linkShared: true, sheets: []*sheet{{gid: 0, title: "Rows", rows: good}}})
	f.set("empty", &book{linkShared: true, sheets: []*sheet{{gid: 0, title: "Rows", rows: good}, {gid: 1, title: "Blank"}}})
	badKey := keyJSON(otherKy(), f.srv.URL+"/token")

	cases := []struct {
		name string
		src  map[string]any
		tbl  map[string]any
		// inject, when set, replaces the server's answers.
		inject func(w http.ResponseWriter, r *http.Request, kind string) bool
		want   []string
		bad    bool // a *ingest.BadRecordError
	}{
		{name: "bad credentials", src: f.apiSource(map[string]any{"credentials_json": badKey}), tbl: map[string]any{"spreadsheet_id": "ok"},
			want: []string{"authentication failed", "token endpoint refused the service-account key of " + saEmail, "400 Bad Request", "invalid_grant: Invalid JWT Signature."}},
		{name: "token rejected by the API", src: f.apiSource(nil), tbl: map[string]any{"spreadsheet_id": "ok"},
			inject: func(w http.ResponseWriter, r *http.Request, kind string) bool {
				if kind == "get" {
					googleError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
					return true
				}
				return false
			},
			want: []string{`authentication refused reading spreadsheet "ok" (401 Unauthorized: Request had invalid authentication credentials.)`}},
		{name: "not shared with the service account", src: f.apiSource(nil), tbl: map[string]any{"spreadsheet_id": "locked"},
			want: []string{`permission denied reading spreadsheet "locked" (403 Forbidden: The caller does not have permission); share the spreadsheet with ` + saEmail}},
		{name: "missing spreadsheet", src: f.apiSource(nil), tbl: map[string]any{"spreadsheet_id": "nope"},
			want: []string{`spreadsheet "nope" not found (404 Not Found: Requested entity was not found.)`}},
		{name: "missing sheet", src: f.apiSource(nil), tbl: map[string]any{"spreadsheet_id": "ok", "sheet": "Orders"},
			want: []string{`sheet "Orders" not found in spreadsheet "ok" (its sheets: "Rows" (gid 0))`}},
		{name: "missing gid", src: f.apiSource(nil), tbl: map[string]any{"spreadsheet_id": "ok", "gid": int64(4)},
			want: []string{`sheet gid 4 not found in spreadsheet "ok"`}},
		{name: "export: missing spreadsheet", src: f.exportSource(nil), tbl: map[string]any{"spreadsheet_id": "nope"},
			want: []string{`spreadsheet "nope" or sheet gid 0 not found by the CSV export (404 Not Found`}},
		{name: "export: missing gid", src: f.exportSource(nil), tbl: map[string]any{"spreadsheet_id": "ok", "gid": int64(4)},
			want: []string{`spreadsheet "ok" or sheet gid 4 not found by the CSV export (400 Bad Request`}},
		{name: "export: not shared by link", src: f.exportSource(nil), tbl: map[string]any{"spreadsheet_id": "unshared"},
			want: []string{`spreadsheet "unshared" is not readable through the CSV export: the export answered with an HTML page, not CSV`, `Anyone with the link`}},
		{name: "value beyond the header", src: f.exportSource(nil), tbl: map[string]any{"spreadsheet_id": "wide"}, bad: true,
			want: []string{"bad record at gid 0!row 3: a value in column D, beyond the header's last column C"}},
		{name: "malformed CSV", src: f.exportSource(nil), tbl: map[string]any{"spreadsheet_id": "broken"}, bad: true,
			inject: func(w http.ResponseWriter, r *http.Request, kind string) bool {
				if kind == "export" {
					w.Header().Set("Content-Type", "text/csv")
					fmt.Fprint(w, "id,name,updated_at\n5,e,2024-03-03 10:00:00\n6,\"f\"g,2024-03-03 11:00:00\n")
					return true
				}
				return false
			},
			want: []string{`bad record at gid 0!row 3: malformed CSV: extraneous or missing " in quoted-field`}},
		{name: "empty tab", src: f.apiSource(nil), tbl: map[string]any{"spreadsheet_id": "empty", "sheet": "Blank"},
			want: []string{"gsheets: Blank: no header row: row 1 is past the last row with values"}},
		{name: "header row past the data", src: f.exportSource(nil), tbl: map[string]any{"spreadsheet_id": "empty", "header_row": int64(9)},
			want: []string{"gsheets: gid 0: no header row: row 9 is past the last row with values"}},
		{name: "malformed header", src: f.exportSource(nil), tbl: map[string]any{"spreadsheet_id": "broken"},
			inject: func(w http.ResponseWriter, r *http.Request, kind string) bool {
				if kind == "export" {
					w.Header().Set("Content-Type", "text/csv")
					fmt.Fprint(w, "id,\"na\"me,updated_at\n5,e,2024-03-03 10:00:00\n")
					return true
				}
				return false
			},
			want: []string{`gsheets: gid 0: header row 1 cannot be read: malformed CSV: extraneous or missing " in quoted-field`}},
		{name: "malformed API response", src: f.apiSource(nil), tbl: map[string]any{"spreadsheet_id": "ok"},
			inject: func(w http.ResponseWriter, r *http.Request, kind string) bool {
				if kind == "values" {
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprint(w, `{"range": "Rows!A1:C3", "values": [["id", "name"], ["7", `)
					return true
				}
				return false
			},
			want: []string{`gsheets: spreadsheet "ok": malformed response from the Sheets API: unexpected end of JSON input`}},
	}
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				f.setInject(nil)
				dest := ingesttest.Rel(wh, "gs_fail", "t"+strconv.Itoa(i))
				opts := ingest.LoadOptions{Key: dest.Identifier, Mode: ingest.ModeMerge, PrimaryKey: []string{"id"}, Cursor: "updated_at"}
				if err := loadOnce(wh, dest, openTable(t, f.exportSource(nil), map[string]any{"spreadsheet_id": "ok"}), opts); err != nil {
					t.Fatalf("first load: %v", err)
				}
				f.setInject(c.inject)
				defer f.setInject(nil)
				err := loadOnce(wh, dest, openTable(t, c.src, c.tbl), opts)
				if err == nil {
					t.Fatal("load succeeded")
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q\ndoes not say %q", err, w)
					}
				}
				var bad *ingest.BadRecordError
				if errors.As(err, &bad) != c.bad {
					t.Errorf("BadRecordError: %v, want %v", !c.bad, c.bad)
				}
				if got, want := ingesttest.Names(t, wh, dest), "1:a 2:b"; got != want {
					t.Errorf("after the failed load: %s, want %s", got, want)
				}
				_, cursor, _, err := ingest.ReadState(ctx, wh, "", "", dest.Identifier)
				if want := time.Date(2024, 3, 1, 11, 0, 0, 0, time.UTC); err != nil || !reflect.DeepEqual(cursor, want) {
					t.Errorf("cursor after the failed load = %v (%v), want %v", cursor, err, want)
				}
			})
		}
	})
}

// TestSkipBadRows loads the good rows and keeps the bad one aside.
func TestSkipBadRows(t *testing.T) {
	f := newFake(t)
	f.set("wide", &book{sheets: []*sheet{{gid: 0, title: "Rows", rows: [][]string{
		{"id", "name"}, {"1", "a"}, {"2", "b", "", "stray"}, {"3", "c"},
	}}}})
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dest := ingesttest.Rel(wh, "gs_skip", "t")
		res, err := ingest.Load(ctx, wh, dest, openTable(t, f.apiSource(nil), map[string]any{"spreadsheet_id": "wide"}), ingest.LoadOptions{OnBadRows: "skip"})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ingesttest.Names(t, wh, dest), "1:a 3:c"; got != want || res.Rejected != 1 {
			t.Errorf("rows %s (want %s), rejected %d", got, want, res.Rejected)
		}
		rej := ingesttest.Query(t, wh, `select "where", raw from `+wh.Dialect().Render(dest.WithSuffix(ingest.RejectsSuffix)))
		if len(rej) != 1 || rej[0][0] != "Rows!row 3" || rej[0][1] != "2,b,,stray" {
			t.Errorf("rejects = %v", rej)
		}
	})
}

// TestIncremental merges a sheet three times by its cursor: edits and new
// rows land once, rows already loaded are not loaded again.
func TestIncremental(t *testing.T) {
	f := newFake(t)
	header := []string{"ID", "Name", "Updated At"}
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		for _, mode := range []string{"api", "export"} {
			t.Run(mode, func(t *testing.T) {
				dest := ingesttest.Rel(wh, "gs_incr", mode)
				opts := ingest.LoadOptions{Key: "gs." + mode, Mode: ingest.ModeMerge, PrimaryKey: []string{"id"}, Cursor: "updated_at"}
				src := f.apiSource(nil)
				if mode == "export" {
					src = f.exportSource(nil)
				}
				run := func(rows ...[]string) ingest.Result {
					t.Helper()
					f.set("inc", &book{linkShared: true, sheets: []*sheet{{gid: 0, title: "Rows", rows: append([][]string{header}, rows...)}}})
					res, err := ingest.Load(ctx, wh, dest, openTable(t, src, map[string]any{"spreadsheet_id": "inc"}), opts)
					if err != nil {
						t.Fatal(err)
					}
					return res
				}
				r1 := run([]string{"1", "a", "2024-03-01 10:00:00.000001"}, []string{"2", "b", "2024-03-01 10:00:00.000002"})
				r2 := run(
					[]string{"1", "a", "2024-03-01 10:00:00.000001"},
					[]string{"2", "b v2", "2024-03-01 10:00:00.000003"},
					[]string{"3", "c", "2024-03-01 10:00:00.000004"},
					[]string{"", "", ""},
				)
				r3 := run(
					[]string{"1", "a", "2024-03-01 10:00:00.000001"},
					[]string{"2", "b v2", "2024-03-01 10:00:00.000003"},
					[]string{"3", "c", "2024-03-01 10:00:00.000004"},
				)
				if r1.Inserted != 2 || r2.Inserted != 1 || r2.Updated != 1 || r3.Inserted != 0 || r3.Updated != 0 {
					t.Errorf("inserted/updated: %d/%d, %d/%d, %d/%d; want 2/0, 1/1, 0/0",
						r1.Inserted, r1.Updated, r2.Inserted, r2.Updated, r3.Inserted, r3.Updated)
				}
				if got, want := ingesttest.Names(t, wh, dest), "1:a 2:b v2 3:c"; got != want {
					t.Errorf("after three loads: %s, want %s", got, want)
				}
				if n := ingesttest.Count(t, wh, dest); n != 3 {
					t.Errorf("%d rows, want 3 (no duplicates)", n)
				}
			})
		}
	})
}

// TestBatchesAreBounded reads 25,001 rows in batches of at most 10,000.
func TestBatchesAreBounded(t *testing.T) {
	rows := [][]string{{"id", "v"}}
	for i := 1; i <= 25_001; i++ {
		rows = append(rows, []string{strconv.Itoa(i), "v" + strconv.Itoa(i)})
	}
	f := newFake(t)
	f.set("big", &book{linkShared: true, sheets: []*sheet{{gid: 0, title: "Big", rows: rows}}})
	for name, src := range map[string]map[string]any{"api": f.apiSource(nil), "export": f.exportSource(nil)} {
		batches, err := readAll(t, openTable(t, src, map[string]any{"spreadsheet_id": "big"}))
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, b := range batches {
			if len(b.Rows) > gsheets.BatchSize {
				t.Errorf("%s: a batch of %d rows", name, len(b.Rows))
			}
			total += len(b.Rows)
		}
		if total != 25_001 || len(batches) != 3 {
			t.Errorf("%s: %d rows in %d batches, want 25001 in 3", name, total, len(batches))
		}
	}
}

// TestCredentialsFile reads the key from a file.
func TestCredentialsFile(t *testing.T) {
	f := newFake(t)
	f.set("k", &book{sheets: []*sheet{{gid: 0, title: "T", rows: [][]string{{"id"}, {"1"}}}}})
	p := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(p, []byte(keyJSON(goodKey(), f.srv.URL+"/token")), 0o600); err != nil {
		t.Fatal(err)
	}
	src := f.apiSource(map[string]any{"credentials_file": p})
	delete(src, "credentials_json")
	batches, err := readAll(t, openTable(t, src, map[string]any{"spreadsheet_id": "k"}))
	if err != nil || len(rowsText(batches)) != 1 {
		t.Errorf("rows %v, err %v", rowsText(batches), err)
	}
}

// TestConfigErrors checks that settings are validated with their position.
func TestConfigErrors(t *testing.T) {
	key := keyJSON(goodKey(), "http://127.0.0.1:1/token")
	noEmail := strings.Replace(key, saEmail, "", 1)
	cases := []struct {
		name     string
		src, tbl map[string]any
		want     string
	}{
		{"both credentials", map[string]any{"credentials_json": key, "credentials_file": "/k.json"}, nil, "credentials_file: give credentials_json or credentials_file, not both"},
		{"empty credentials", map[string]any{"credentials_json": ""}, nil, "credentials_json: is empty"},
		{"not JSON", map[string]any{"credentials_json": "not json"}, nil, "credentials_json: not a service-account key"},
		{"user credentials", map[string]any{"credentials_json": `{"type": "authorized_user"}`}, nil, `'type' field is "authorized_user" (expected "service_account")`},
		{"no email", map[string]any{"credentials_json": noEmail}, nil, "has no client_email"},
		{"bad private key", map[string]any{"credentials_json": `{"type": "service_account", "client_email": "a@b", "private_key": "xx"}`}, nil, "private_key is not PEM-encoded"},
		{"missing key file", map[string]any{"credentials_file": "/does/not/exist.json"}, nil, "credentials_file: open /does/not/exist.json"},
		{"endpoint", map[string]any{"credentials_json": key, "endpoint": "sheets.example"}, nil, `endpoint: "sheets.example" must start with http:// or https://`},
		{"timeout", map[string]any{"timeout": "0s"}, nil, "timeout: must be more than zero"},
		{"spreadsheet url", map[string]any{"spreadsheet_id": "https://example.com/x"}, nil, "is neither a spreadsheet id nor a spreadsheet URL"},
		{"spreadsheet id", nil, map[string]any{"spreadsheet_id": "a b"}, `"a b" is not a spreadsheet id`},
		{"no spreadsheet", nil, map[string]any{"gid": int64(1)}, "spreadsheet_id: is required (on the table or the source)"},
		{"sheet and gid", map[string]any{"credentials_json": key}, map[string]any{"spreadsheet_id": "x", "sheet": "a", "gid": int64(1)}, "gid: give sheet or gid, not both"},
		{"sheet name for the export", nil, map[string]any{"spreadsheet_id": "x", "sheet": "Orders"}, "sheet: the CSV export (no credentials_json or credentials_file) finds a tab by its gid"},
		{"negative gid", nil, map[string]any{"spreadsheet_id": "x", "gid": int64(-1)}, "gid: must not be negative"},
		{"range with sheet", nil, map[string]any{"spreadsheet_id": "x", "range": "Orders!A1:B"}, "range: \"Orders!A1:B\" names a sheet"},
		{"bad range", nil, map[string]any{"spreadsheet_id": "x", "range": "A1:B:C"}, "is not a range in A1 notation"},
		{"header row", nil, map[string]any{"spreadsheet_id": "x", "header_row": int64(0)}, "header_row: must be 1 or more"},
		{"value render", nil, map[string]any{"spreadsheet_id": "x", "value_render": "raw"}, `value_render: "raw" is not one of formatted, unformatted`},
		{"unformatted export", nil, map[string]any{"spreadsheet_id": "x", "value_render": "unformatted"}, "value_render: unformatted needs the Sheets API"},
	}
	for _, c := range cases {
		s, err := gsheets.Connector().Open(ctx, config(c.src))
		if err == nil {
			_, err = s.Table(ctx, config(c.tbl))
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "models/sources.yml:7:9: gsheets: ") {
			t.Errorf("%s: err = %v\nwant %q", c.name, err, c.want)
		}
	}
}

// TestSpec checks the spec's levels and that every key read is in it.
func TestSpec(t *testing.T) {
	c := gsheets.Connector()
	if c.Name != "gsheets" || c.Open == nil {
		t.Fatalf("connector %q", c.Name)
	}
	levels := map[string]string{}
	for _, f := range c.Spec {
		levels[f.Name] = f.Level
	}
	want := map[string]string{
		"credentials_json": "source", "credentials_file": "source", "endpoint": "source", "export_url_base": "source",
		"retries": "source", "retry_wait": "source", "max_retry_wait": "source", "timeout": "source",
		"spreadsheet_id": "any", "sheet": "table", "gid": "table", "range": "table", "header_row": "any", "value_render": "any",
	}
	if !reflect.DeepEqual(levels, want) {
		t.Errorf("spec levels = %v\nwant %v", levels, want)
	}
}

// TestUnreachable: a host that refuses connections is retried, then named.
func TestUnreachable(t *testing.T) {
	f := newFake(t)
	f.set("x", &book{linkShared: true, sheets: []*sheet{{gid: 0, title: "T", rows: [][]string{{"id"}, {"1"}}}}})
	closed := newFake(t)
	closed.srv.Close()
	src := f.exportSource(map[string]any{"export_url_base": closed.srv.URL, "retries": int64(1)})
	_, err := readAll(t, openTable(t, src, map[string]any{"spreadsheet_id": "x"}))
	host := strings.TrimPrefix(closed.srv.URL, "http://")
	if err == nil || !strings.Contains(err.Error(), `gsheets: CSV export of spreadsheet "x": Get `+host) ||
		!strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "(gave up after 2 attempts)") {
		t.Errorf("err = %v", err)
	}
	// A refused export (403) is not retried and says what to do.
	f.setInject(func(w http.ResponseWriter, r *http.Request, kind string) bool {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return true
	})
	_, err = readAll(t, openTable(t, f.exportSource(nil), map[string]any{"spreadsheet_id": "x"}))
	if err == nil || !strings.Contains(err.Error(), `the CSV export of spreadsheet "x" was refused (403 Forbidden: Forbidden)`) || f.count("export") != 1 {
		t.Errorf("403: err = %v after %d requests", err, f.count("export"))
	}
}

// TestExportRowNumbers: blank lines (empty rows of a one-column tab) and
// line breaks inside cells do not throw off the row a bad record names.
func TestExportRowNumbers(t *testing.T) {
	f := newFake(t)
	f.set("x", &book{linkShared: true})
	f.setInject(func(w http.ResponseWriter, r *http.Request, kind string) bool {
		w.Header().Set("Content-Type", "text/csv")
		fmt.Fprint(w, "\xEF\xBB\xBFnote\r\nfirst\r\n\r\n\"two\r\nlines\"\r\nlast,stray\r\n")
		return true
	})
	batches, err := readAll(t, openTable(t, f.exportSource(nil), map[string]any{"spreadsheet_id": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rowsText(batches), []string{"first", "two\nlines"}; !reflect.DeepEqual(got, want) || batches[0].Columns[0] != "note" {
		t.Errorf("columns %q, rows %q, want %q", batches[0].Columns, got, want)
	}
	if bad := batches[len(batches)-1].Bad; len(bad) != 1 || bad[0].Where != "gid 0!row 5" {
		t.Errorf("bad records = %+v, want one at gid 0!row 5", bad)
	}
}
