package ingesttest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
)

// StepCSV spells Steps[step] as a CSV file with a header line: NULL as an
// empty field, times in UTC with microseconds.
func StepCSV(step int) string {
	s := Steps[step]
	var b strings.Builder
	b.WriteString(strings.Join(s.Columns, ",") + "\n")
	for _, r := range s.Rows {
		var f []string
		for _, v := range r {
			switch x := v.(type) {
			case nil:
				f = append(f, "")
			case time.Time:
				f = append(f, x.Format("2006-01-02T15:04:05.999999Z"))
			default:
				f = append(f, fmt.Sprint(x))
			}
		}
		b.WriteString(strings.Join(f, ",") + "\n")
	}
	return b.String()
}

// StepJSONL spells Steps[step] as JSON lines, one object a row: NULL as
// null, times in RFC 3339 with nanoseconds.
func StepJSONL(step int) string {
	s := Steps[step]
	var b strings.Builder
	for _, r := range s.Rows {
		var f []string
		for i, v := range r {
			var enc string
			switch x := v.(type) {
			case nil:
				enc = "null"
			case string:
				enc = fmt.Sprintf("%q", x)
			case time.Time:
				enc = `"` + x.Format(time.RFC3339Nano) + `"`
			default:
				enc = fmt.Sprint(x)
			}
			f = append(f, fmt.Sprintf("%q: %s", s.Columns[i], enc))
		}
		b.WriteString("{" + strings.Join(f, ", ") + "}\n")
	}
	return b.String()
}

// StepFile is Steps[step] as the content of the file name: StepCSV or
// StepJSONL by its extension (.csv, .jsonl), compressed by Compress (.gz,
// .zst).
func StepFile(t testing.TB, name string, step int) []byte {
	t.Helper()
	var s string
	switch base := strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".zst"); {
	case strings.HasSuffix(base, ".csv"):
		s = StepCSV(step)
	case strings.HasSuffix(base, ".jsonl"):
		s = StepJSONL(step)
	default:
		t.Fatalf("StepFile: %s is neither .csv nor .jsonl", name)
	}
	return Compress(t, name, []byte(s))
}

// Gzip compresses data with gzip.
func Gzip(data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write(data)
	_ = w.Close()
	return b.Bytes()
}

// Compress compresses data as a file called name is by its extension:
// gzip for .gz, zstd for .zst, none otherwise.
func Compress(t testing.TB, name string, data []byte) []byte {
	t.Helper()
	switch {
	case strings.HasSuffix(name, ".gz"):
		return Gzip(data)
	case strings.HasSuffix(name, ".zst"):
		w, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		return w.EncodeAll(data, nil)
	}
	return data
}

// With returns a copy of cfg with the settings kv (key, value, ...) added
// or replaced.
func With(cfg map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range cfg {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// OpenSource opens a source of c with the source-level settings cfg; the
// test closes it at its end.
func OpenSource(t testing.TB, c ingest.Connector, cfg map[string]any) ingest.Source {
	t.Helper()
	src, err := c.Open(context.Background(), ingest.Config{Values: cfg})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// OpenTable prepares a table of src with the table-level settings cfg.
func OpenTable(t testing.TB, src ingest.Source, cfg map[string]any) ingest.Table {
	t.Helper()
	tbl, err := src.Table(context.Background(), ingest.Config{Values: cfg})
	if err != nil {
		t.Fatalf("table: %v", err)
	}
	return tbl
}

// Load loads tbl into dest, failing the test on an error.
func Load(t testing.TB, wh adapters.Warehouse, dest adapters.Relation, tbl ingest.Table, opts ingest.LoadOptions) ingest.Result {
	t.Helper()
	res, err := ingest.Load(context.Background(), wh, dest, tbl, opts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return res
}

// Select returns the columns sel of every row of r ordered by the first:
// values joined by "|", rows by " " ("1|a 2|b").
func Select(t testing.TB, wh adapters.Warehouse, r adapters.Relation, sel string) string {
	t.Helper()
	var out []string
	for _, row := range Query(t, wh, "select "+sel+" from "+wh.Dialect().Render(r)+" order by 1") {
		out = append(out, strings.Join(row, "|"))
	}
	return strings.Join(out, " ")
}

// Names lists the id and name columns of r as "1:alpha 2:beta", ordered by
// id and name.
func Names(t testing.TB, wh adapters.Warehouse, r adapters.Relation) string {
	t.Helper()
	var out []string
	for _, row := range Query(t, wh, "select cast(id as bigint), name from "+wh.Dialect().Render(r)+" order by 1, 2") {
		out = append(out, row[0]+":"+row[1])
	}
	return strings.Join(out, " ")
}
