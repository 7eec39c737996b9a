package files_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/files"
	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
)

var ctx = context.Background()

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, ingesttest.Compress(t, name, []byte(content)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func openTable(t *testing.T, dir string, cfg map[string]any) ingest.Table {
	t.Helper()
	src, err := files.Connector().Open(ctx, ingest.Config{Values: map[string]any{"path": dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	tbl, err := src.Table(ctx, ingest.Config{Values: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func TestConformanceCSV(t *testing.T) {
	ingesttest.Run(t, func(t *testing.T, step int) ingest.Table {
		dir := t.TempDir()
		write(t, dir, "items.csv", ingesttest.StepCSV(step))
		return openTable(t, dir, map[string]any{"path": "items.csv"})
	})
}

func TestConformanceJSONLinesZstd(t *testing.T) {
	ingesttest.Run(t, func(t *testing.T, step int) ingest.Table {
		dir := t.TempDir()
		write(t, dir, "items.jsonl.zst", ingesttest.StepJSONL(step))
		return openTable(t, dir, map[string]any{"path": "items.jsonl.zst"})
	})
}

func TestFormats(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "semi.csv", "id;name;note\n1;'a;b';NA\n2;'it''s';x\n")
	write(t, dir, "nohead.tsv.gz", "1\tone\n2\ttwo\n")
	write(t, dir, "doc.json", `{"meta": {"page": 1, "skip": [1, {"a": 2}]}, "data": {"total": 2, "items": [
		{"id": 1, "name": "a", "address": {"city": "Oslo"}},
		{"id": 2, "name": "b", "tags": ["x", "y"]}
	]}}`)
	write(t, dir, "top.json.gz", `[{"id": 1}, {"id": 2}]`)
	write(t, dir, "nested/2024/01/ev.jsonl", `{"id": 1, "ts": "2024-01-01T10:00:00.123456Z"}`+"\n\n")
	write(t, dir, "nested/2024/02/ev.jsonl.zst", `{"id": 2, "ts": "2024-02-01T10:00:00Z", "extra": true}`+"\n")
	write(t, dir, "nested/other.txt", "ignored")

	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dest := ingesttest.Rel(wh, "raw", "semi")
		ingesttest.Load(t, wh, dest, openTable(t, dir, map[string]any{"path": "semi.csv", "delimiter": ";", "quote": "'", "null_string": "NA"}), ingest.LoadOptions{})
		if got, want := ingesttest.Select(t, wh, dest, "id, name, note, _kiln_file"), "1|a;b|NULL|semi.csv 2|it's|x|semi.csv"; got != want {
			t.Errorf("csv options: %s, want %s", got, want)
		}

		dest = ingesttest.Rel(wh, "raw", "nohead")
		ingesttest.Load(t, wh, dest, openTable(t, dir, map[string]any{"path": "nohead.tsv.gz", "header": false}), ingest.LoadOptions{})
		if got, want := ingesttest.Select(t, wh, dest, "column_1, column_2"), "1|one 2|two"; got != want {
			t.Errorf("headerless gzip tsv: %s, want %s", got, want)
		}

		dest = ingesttest.Rel(wh, "raw", "doc")
		ingesttest.Load(t, wh, dest, openTable(t, dir, map[string]any{"path": "doc.json", "records": "data.items"}), ingest.LoadOptions{})
		if got := ingesttest.Select(t, wh, dest, "id, name, cast(address as text), cast(tags as text)"); !strings.Contains(got, `1|a|{"city`) || !strings.Contains(got, `2|b|NULL|["x`) {
			t.Errorf("json records path: %s", got)
		}

		dest = ingesttest.Rel(wh, "raw", "top")
		ingesttest.Load(t, wh, dest, openTable(t, dir, map[string]any{"path": "top.json.gz"}), ingest.LoadOptions{})
		if got := ingesttest.Select(t, wh, dest, "id"); got != "1 2" {
			t.Errorf("top-level json array: %s", got)
		}

		dest = ingesttest.Rel(wh, "raw", "events")
		ingesttest.Load(t, wh, dest, openTable(t, dir, map[string]any{"glob": "nested/**/*.jsonl*"}), ingest.LoadOptions{})
		if got, want := ingesttest.Select(t, wh, dest, "id, ts, extra, _kiln_file"), "1|2024-01-01 10:00:00.123456|NULL|nested/2024/01/ev.jsonl 2|2024-02-01 10:00:00|true|nested/2024/02/ev.jsonl.zst"; got != want {
			t.Errorf("glob: %s, want %s", got, want)
		}
		if typ := ingesttest.ColumnTypes(t, wh, dest)["ts"]; !strings.Contains(typ, "timestamp") {
			t.Errorf("ts typed %s, want timestamp", typ)
		}
	})
}

func TestNewFilesOnly(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dir := t.TempDir()
		dest := ingesttest.Rel(wh, "raw", "drops")
		opts := ingest.LoadOptions{Key: "raw.drops", Mode: ingest.ModeAppend}
		cfg := map[string]any{"glob": "drops/*.csv"} // the loader passes the mode
		write(t, dir, "drops/a.csv", "id\n1\n2\n")
		if res := ingesttest.Load(t, wh, dest, openTable(t, dir, cfg), opts); res.Inserted != 2 {
			t.Errorf("first run inserted %d, want 2", res.Inserted)
		}
		write(t, dir, "drops/b.csv", "id\n3\n")
		if res := ingesttest.Load(t, wh, dest, openTable(t, dir, cfg), opts); res.Inserted != 1 {
			t.Errorf("second run inserted %d, want 1 (only b.csv)", res.Inserted)
		}
		if res := ingesttest.Load(t, wh, dest, openTable(t, dir, cfg), opts); res.Inserted != 0 {
			t.Errorf("third run inserted %d, want 0", res.Inserted)
		}
		if got := ingesttest.Select(t, wh, dest, "id, _kiln_file"); got != "1|drops/a.csv 2|drops/a.csv 3|drops/b.csv" {
			t.Errorf("rows: %s", got)
		}
		st, _, _, err := ingest.ReadState(ctx, wh, "", "", "raw.drops")
		if err != nil || len(st["files"].([]any)) != 2 {
			t.Errorf("state %v (%v), want two files", st, err)
		}
		// A file that changed is read again.
		write(t, dir, "drops/b.csv", "id\n3\n4\n")
		if res := ingesttest.Load(t, wh, dest, openTable(t, dir, cfg), opts); res.Inserted != 2 {
			t.Errorf("changed file: inserted %d, want 2", res.Inserted)
		}
		// A full refresh reads every file again and replaces the table.
		opts.FullRefresh = true
		ingesttest.Load(t, wh, dest, openTable(t, dir, cfg), opts)
		if got := ingesttest.Select(t, wh, dest, "id"); got != "1 2 3 4" {
			t.Errorf("after a full refresh: %s, want 1 2 3 4", got)
		}
	})
}

func TestMalformed(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "bad.csv", "id,name\n1,a\n2,b,extra\n3,\"c\n")
	write(t, dir, "bad.jsonl", "{\"id\": 1}\n{\"id\": 2,\n[1]\n{\"id\": 4}\n")
	write(t, dir, "bad.json", `{"items": [{"id": 1}, 7, {"id": 3}]}`)
	cases := []struct {
		file, records string
		where         string
		good          string
		rejected      int64
	}{
		{"bad.csv", "", "bad.csv:3", "1", 2},
		{"bad.jsonl", "", "bad.jsonl:2", "1 4", 2},
		{"bad.json", "items", "bad.json record 2", "1 3", 1},
	}
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		for _, c := range cases {
			t.Run(c.file, func(t *testing.T) {
				dest := ingesttest.Rel(wh, "raw", strings.ReplaceAll(c.file, ".", "_"))
				cfg := map[string]any{"path": c.file, "records": c.records}
				_, err := ingest.Load(ctx, wh, dest, openTable(t, dir, cfg), ingest.LoadOptions{})
				var bad *ingest.BadRecordError
				if !errors.As(err, &bad) || !strings.HasSuffix(bad.Record.Where, c.where) {
					t.Fatalf("fail mode: %v, want a bad record at %s", err, c.where)
				}
				if info, _ := wh.Relation(ctx, dest); info != nil {
					t.Errorf("fail mode committed %s", dest.Identifier)
				}
				res := ingesttest.Load(t, wh, dest, openTable(t, dir, cfg), ingest.LoadOptions{OnBadRows: "skip"})
				if res.Rejected != c.rejected {
					t.Errorf("rejected %d, want %d", res.Rejected, c.rejected)
				}
				if got := ingesttest.Select(t, wh, dest, "id"); got != c.good {
					t.Errorf("good rows %s, want %s", got, c.good)
				}
				rej := dest
				rej.Identifier += ingest.RejectsSuffix
				if got := ingesttest.Select(t, wh, rej, `"where", reason`); !strings.Contains(got, c.where+"|") {
					t.Errorf("rejects %s, want one at %s", got, c.where)
				}
			})
		}
	})
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	src, err := files.Connector().Open(ctx, ingest.Config{Values: map[string]any{"path": dir}})
	if err != nil {
		t.Fatal(err)
	}
	pos := func(key string) string { return "sources.yml:7:5" }
	for _, c := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{}, "needs a path or a glob"},
		{map[string]any{"path": "a", "glob": "b"}, "not both"},
		{map[string]any{"path": "a", "format": "xml"}, `unknown format "xml"`},
		{map[string]any{"path": "a", "delimiter": ";;"}, "one character"},
		{map[string]any{"path": "a", "header": "yes"}, "true or false"},
	} {
		_, err := src.Table(ctx, ingest.Config{Values: c.cfg, Pos: pos})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "sources.yml:7:5: ") {
			t.Errorf("%v: err = %v, want %q with its position", c.cfg, err, c.want)
		}
	}
	tbl, _ := src.Table(ctx, ingest.Config{Values: map[string]any{"glob": "*.csv"}})
	if _, err := tbl.Read(ctx, ingest.ReadRequest{}, func(ingest.Batch) error { return nil }); err == nil || !strings.Contains(err.Error(), "no files match") {
		t.Errorf("no files: %v", err)
	}
	if _, err := files.Connector().Open(ctx, ingest.Config{Values: map[string]any{"path": filepath.Join(dir, "missing")}}); err == nil {
		t.Errorf("missing source folder: no error")
	}
}

func TestBatchesAreBounded(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id\n")
	for i := 0; i < 25_000; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	write(t, dir, "big.csv", b.String())
	tbl := openTable(t, dir, map[string]any{"path": "big.csv"})
	var sizes []int
	if _, err := tbl.Read(ctx, ingest.ReadRequest{}, func(b ingest.Batch) error {
		sizes = append(sizes, len(b.Rows))
		if b.File != "big.csv" {
			t.Errorf("batch file %q", b.File)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sizes) != "[10000 10000 5000]" {
		t.Errorf("batch sizes %v", sizes)
	}
}

func mkdir(p string) error { return os.MkdirAll(p, 0o755) }

// TestPathForms reads a file, a folder, a glob in path and a glob key.
func TestPathForms(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "events/a.jsonl", `{"id": 1}`+"\n")
	write(t, dir, "events/b.jsonl", `{"id": 2}`+"\n")
	write(t, dir, "events/old/c.jsonl", `{"id": 3}`+"\n")
	write(t, dir, "events_x.jsonl", `{"id": 4}`+"\n")
	for _, c := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"path": "events/a.jsonl"}, "[events/a.jsonl]"},
		{map[string]any{"path": "events"}, "[events/a.jsonl events/b.jsonl events/old/c.jsonl]"},
		{map[string]any{"path": "events/*.jsonl"}, "[events/a.jsonl events/b.jsonl]"},
		{map[string]any{"glob": "**/*.jsonl"}, "[events/a.jsonl events/b.jsonl events/old/c.jsonl events_x.jsonl]"},
	} {
		tbl := openTable(t, dir, c.cfg)
		var got []string
		if _, err := tbl.Read(ctx, ingest.ReadRequest{}, func(b ingest.Batch) error {
			got = append(got, b.File)
			return nil
		}); err != nil {
			t.Fatalf("%v: %v", c.cfg, err)
		}
		if fmt.Sprint(got) != c.want {
			t.Errorf("%v read %v, want %s", c.cfg, got, c.want)
		}
	}
}

// TestHeaderOnly loads a CSV holding only its header: the table gets the
// header's columns (text, no rows), and a later file with values types
// them as usual.
func TestHeaderOnly(t *testing.T) {
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dir := t.TempDir()
		write(t, dir, "a.csv", "id,name\n")
		dest := ingesttest.Rel(wh, "raw", "header_only")
		ingesttest.Load(t, wh, dest, openTable(t, dir, map[string]any{"path": "a.csv"}), ingest.LoadOptions{})
		types := ingesttest.ColumnTypes(t, wh, dest)
		for _, col := range []string{"id", "name"} {
			if !strings.Contains(strings.ToLower(types[col]), "text") && !strings.Contains(strings.ToLower(types[col]), "varchar") {
				t.Errorf("column %s: %q, want text", col, types[col])
			}
		}
		if n := ingesttest.Count(t, wh, dest); n != 0 {
			t.Errorf("%d rows, want 0", n)
		}
		write(t, dir, "b.csv", "id,name\n")
		write(t, dir, "c.csv", "id,name\n7,x\n")
		ingesttest.Load(t, wh, dest, openTable(t, dir, map[string]any{"glob": "*.csv"}), ingest.LoadOptions{})
		if typ := ingesttest.ColumnTypes(t, wh, dest)["id"]; !strings.Contains(strings.ToLower(typ), "int") {
			t.Errorf("id after values: %q, want an integer type", typ)
		}
		if got := ingesttest.Query(t, wh, "select cast(id as text) || name from "+wh.Dialect().Render(dest)); fmt.Sprint(got) != "[[7x]]" {
			t.Errorf("rows = %v", got)
		}
	})
}
