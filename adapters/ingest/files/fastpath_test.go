package files_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
)

// recordsOnly hides ReadCSV: the loader reads every record in kiln.
type recordsOnly struct{ ingest.Table }

// bigCSV writes a header and n rows of every kind the loader infers from
// text; extra, when set, replaces the last row.
func bigCSV(n int, extra string) string {
	var b strings.Builder
	b.WriteString("\ufeffid,amount,ok,day,at,name,note,empty\r\n")
	for i := 1; i <= n; i++ {
		if i == n && extra != "" {
			b.WriteString(extra + "\r\n")
			continue
		}
		ok := fmt.Sprint(i%2 == 0)
		if i%3 == 0 {
			ok = strings.ToUpper(ok)
		}
		sep := " "
		if i%5 == 0 {
			sep = "T"
		}
		fmt.Fprintf(&b, "%d,%d.%02d,%s,2024-02-%02d,2024-03-01%s12:%02d:%02d.%06d,\"name, \"\"%d\"\"\",%s,\r\n",
			i*1000, i, i%100, ok, i%29+1, sep, i%60, i%60, i, i, []string{"", "plain", "\"multi\nline\"", "  spaced out  "}[i%4])
	}
	return b.String()
}

// sameTables compares two loaded tables column by column as text, and
// their column types.
func sameTables(t *testing.T, wh adapters.Warehouse, a, b adapters.Relation) {
	t.Helper()
	typesA, typesB := ingesttest.ColumnTypes(t, wh, a), ingesttest.ColumnTypes(t, wh, b)
	if fmt.Sprint(typesA) != fmt.Sprint(typesB) {
		t.Errorf("column types differ:\n%v\n%v", typesA, typesB)
	}
	d := wh.Dialect()
	for col := range typesA {
		if col == ingest.LoadedAtColumn {
			continue
		}
		sel := "select cast(" + d.QuoteIdent(col) + " as text) from %s order by cast(id as text)"
		ra := ingesttest.Query(t, wh, fmt.Sprintf(sel, d.Render(a)))
		rb := ingesttest.Query(t, wh, fmt.Sprintf(sel, d.Render(b)))
		if fmt.Sprint(ra) != fmt.Sprint(rb) {
			t.Errorf("column %s differs", col)
		}
	}
}

// TestCSVFastPath loads CSV files past one batch into DuckDB and Postgres
// through the fast path (the warehouse's CSV reader) and record by record,
// and compares the tables; then files the fast path must hand back to the
// record-by-record path.
func TestCSVFastPath(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) { testCSVFastPath(t, wh) })
}

func testCSVFastPath(t *testing.T, wh adapters.Warehouse) {
	load := func(t *testing.T, tbl ingest.Table, name string, opts ingest.LoadOptions) (ingest.Result, adapters.Relation) {
		t.Helper()
		dest := ingesttest.Rel(wh, "fast", name)
		res, err := ingest.Load(ctx, wh, dest, tbl, opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return res, dest
	}

	t.Run("same_as_record_by_record", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "a.csv", bigCSV(25_000, ""))
		write(t, dir, "b.csv.gz", bigCSV(12_000, ""))
		fast, fastRel := load(t, openTable(t, dir, map[string]any{"glob": "*"}), "fast", ingest.LoadOptions{})
		slow, slowRel := load(t, recordsOnly{openTable(t, dir, map[string]any{"glob": "*"})}, "slow", ingest.LoadOptions{})
		if !fast.PassThrough || fast.Fallback != "" || slow.PassThrough {
			t.Fatalf("fast: PassThrough %v Fallback %q; slow: PassThrough %v", fast.PassThrough, fast.Fallback, slow.PassThrough)
		}
		if fast.Inserted != 37_000 || slow.Inserted != 37_000 {
			t.Errorf("inserted %d and %d, want 37000", fast.Inserted, slow.Inserted)
		}
		sameTables(t, wh, fastRel, slowRel)
		types := ingesttest.ColumnTypes(t, wh, fastRel)
		for col, want := range map[string]string{"id": "int", "amount": "numeric|double", "ok": "bool", "day": "date", "at": "timestamp", "name": "text|varchar", "note": "text|varchar", "empty": "text|varchar", ingest.FileColumn: "text|varchar"} {
			if !slices.ContainsFunc(strings.Split(want, "|"), func(w string) bool { return strings.Contains(strings.ToLower(types[col]), w) }) {
				t.Errorf("column %s: type %s, want %s", col, types[col], want)
			}
		}
		got := ingesttest.Query(t, wh, "select name, note, "+ingest.FileColumn+" from "+wh.Dialect().Render(fastRel)+" where id = 20002000")
		if fmt.Sprint(got) != "[[name, \"20002\" multi\nline a.csv]]" {
			t.Errorf("row 20002 = %q", got)
		}
		if n := ingesttest.Query(t, wh, "select count(*) from "+wh.Dialect().Render(fastRel)+" where "+ingest.LoadedAtColumn+" is null"); n[0][0] != "0" {
			t.Errorf("%s rows without %s", n[0][0], ingest.LoadedAtColumn)
		}
	})

	// Each of these ends in a row the fast path must not take: the load
	// falls back, and gives what the record-by-record path gives.
	for _, c := range []struct{ name, last, reason string }{
		{"widens", "x1,1.5,true,2024-02-01,2024-03-01 12:00:00,n,,", "does not keep its column's type integer"},
		{"zoned", "5,1.5,true,2024-02-01,2024-03-01 12:00:00+02:00,n,,", "does not keep its column's type timestamp"},
		{"bare_quote", "5,1.5,true,2024-02-01,2024-03-01 12:00:00,n\"q,,", "a quote inside an unquoted field"},
		{"fields", "5,1.5,true", "a record with 3 fields, not 8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "a.csv", bigCSV(10_500, c.last))
			opts := ingest.LoadOptions{OnBadRows: "skip"}
			fast, fastRel := load(t, openTable(t, dir, map[string]any{"path": "a.csv"}), c.name+"_fast", opts)
			slow, slowRel := load(t, recordsOnly{openTable(t, dir, map[string]any{"path": "a.csv"})}, c.name+"_slow", opts)
			if fast.PassThrough || !strings.Contains(fast.Fallback, c.reason) {
				t.Errorf("PassThrough %v, Fallback %q; want a fallback for %q", fast.PassThrough, fast.Fallback, c.reason)
			}
			if fast.Inserted != slow.Inserted || fast.Rejected != slow.Rejected {
				t.Errorf("fast inserted %d rejected %d; slow %d and %d", fast.Inserted, fast.Rejected, slow.Inserted, slow.Rejected)
			}
			sameTables(t, wh, fastRel, slowRel)
		})
	}
}

// TestCSVFastPathDialects covers a tab-separated file and a null string
// other than the empty one (empty fields are then empty strings).
func TestCSVFastPathDialects(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dir := t.TempDir()
		var b strings.Builder
		b.WriteString("id\tlabel\tqty\n")
		for i := 1; i <= 12_000; i++ {
			label := []string{"", "NA", "x y", `"NA"`, `""`}[i%5]
			qty := fmt.Sprint(i)
			if i%7 == 0 {
				qty = "NA"
			}
			fmt.Fprintf(&b, "%d\t%s\t%s\n", i, label, qty)
		}
		write(t, dir, "d.tsv", b.String())
		cfg := map[string]any{"path": "d.tsv", "null_string": "NA"}
		fast, err := ingest.Load(ctx, wh, ingesttest.Rel(wh, "fast", "tsv_fast"), openTable(t, dir, cfg), ingest.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		slow, err := ingest.Load(ctx, wh, ingesttest.Rel(wh, "fast", "tsv_slow"), recordsOnly{openTable(t, dir, cfg)}, ingest.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !fast.PassThrough || fast.Fallback != "" || slow.PassThrough {
			t.Errorf("fast: PassThrough %v, Fallback %q; slow: PassThrough %v", fast.PassThrough, fast.Fallback, slow.PassThrough)
		}
		sameTables(t, wh, ingesttest.Rel(wh, "fast", "tsv_fast"), ingesttest.Rel(wh, "fast", "tsv_slow"))
		got := ingesttest.Query(t, wh, "select count(*), count(label), count(qty) from "+wh.Dialect().Render(ingesttest.Rel(wh, "fast", "tsv_fast")))
		// label NULL for "NA" and quoted "NA" (2 of 5); qty NULL every 7th.
		if fmt.Sprint(got) != "[[12000 7200 10286]]" {
			t.Errorf("counts = %v", got)
		}
	})
}
