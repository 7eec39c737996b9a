package ingesttest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
)

// Scenarios every connector reading files from a server (sftp, ftp)
// passes. The server serves a Folder as its login folder; open opens a
// source on it whose path setting is dir.

// OpenAt opens a source on a file server with its path setting dir.
type OpenAt func(t *testing.T, dir string) ingest.Source

// OpenWith opens sources of c with the settings cfg and the path dir.
func OpenWith(c ingest.Connector, cfg map[string]any) OpenAt {
	return func(t *testing.T, dir string) ingest.Source {
		t.Helper()
		return OpenSource(t, c, With(cfg, "path", dir))
	}
}

// RunServer is Run on a file server serving f: each table reads a fresh
// folder confN (below the login folder) holding the step's file (StepFile,
// with the step's modification time: Touch); open opens the source on
// that folder, and table is the table's settings.
func RunServer(t *testing.T, f Folder, file string, open OpenAt, table map[string]any) {
	n := 0
	Run(t, func(t *testing.T, step int) ingest.Table {
		n++
		dir := fmt.Sprintf("conf%d", n)
		f.Write(t, dir+"/"+file, StepFile(t, file, step))
		f.Touch(t, dir+"/"+file, step)
		return OpenTable(t, open(t, dir), table)
	})
}

// ServerFormats reads CSV with options, a headerless gzipped TSV, JSON
// lines by a glob through folders, and a folder path.
func ServerFormats(t *testing.T, f Folder, open OpenAt) {
	f.Write(t, "landing/semi.csv", []byte("id;name;note\n1;'a;b';NA\n2;'it''s';x\n"))
	f.Write(t, "landing/nohead.tsv.gz", Gzip([]byte("1\tone\n2\ttwo\n")))
	f.Write(t, "landing/nested/2024/01/ev.jsonl", []byte(`{"id": 1, "ts": "2024-01-01T10:00:00.123456Z"}`+"\n"))
	f.Write(t, "landing/nested/2024/02/ev.jsonl.gz", Gzip([]byte(`{"id": 2, "ts": "2024-02-01T10:00:00Z", "extra": true}`+"\n")))
	f.Write(t, "landing/nested/other.txt", []byte("ignored"))
	src := open(t, "landing")
	EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dest := Rel(wh, "raw", "semi")
		Load(t, wh, dest, OpenTable(t, src, map[string]any{"path": "semi.csv", "delimiter": ";", "quote": "'", "null_string": "NA"}), ingest.LoadOptions{})
		if got, want := Select(t, wh, dest, "id, name, note, _kiln_file"), "1|a;b|NULL|semi.csv 2|it's|x|semi.csv"; got != want {
			t.Errorf("csv options: %s, want %s", got, want)
		}

		dest = Rel(wh, "raw", "nohead")
		Load(t, wh, dest, OpenTable(t, src, map[string]any{"path": "nohead.tsv.gz", "header": false}), ingest.LoadOptions{})
		if got, want := Select(t, wh, dest, "column_1, column_2"), "1|one 2|two"; got != want {
			t.Errorf("gzip tsv: %s, want %s", got, want)
		}

		dest = Rel(wh, "raw", "events")
		Load(t, wh, dest, OpenTable(t, src, map[string]any{"glob": "nested/**/*.jsonl*"}), ingest.LoadOptions{})
		if got, want := Select(t, wh, dest, "id, ts, extra, _kiln_file"), "1|2024-01-01 10:00:00.123456|NULL|nested/2024/01/ev.jsonl 2|2024-02-01 10:00:00|true|nested/2024/02/ev.jsonl.gz"; got != want {
			t.Errorf("glob: %s, want %s", got, want)
		}

		// A folder path reads every file below it.
		dest = Rel(wh, "raw", "jan")
		Load(t, wh, dest, OpenTable(t, src, map[string]any{"path": "nested/2024/01"}), ingest.LoadOptions{})
		if got := Select(t, wh, dest, "id"); got != "1" {
			t.Errorf("folder path: %s, want 1", got)
		}
	})
}

// ServerNewFilesOnly: append loads read each file once across runs, and a
// changed file again.
func ServerNewFilesOnly(t *testing.T, f Folder, open OpenAt) {
	EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dir := "drops_" + strings.ReplaceAll(t.Name(), "/", "_")
		f.Write(t, dir+"/a.csv", []byte("id\n1\n2\n"))
		src := open(t, dir)
		dest := Rel(wh, "raw", "drops")
		opts := ingest.LoadOptions{Key: "raw.drops", Mode: ingest.ModeAppend}
		cfg := map[string]any{"glob": "*.csv"}
		if res := Load(t, wh, dest, OpenTable(t, src, cfg), opts); res.Inserted != 2 {
			t.Errorf("first run inserted %d, want 2", res.Inserted)
		}
		f.Write(t, dir+"/b.csv", []byte("id\n3\n"))
		if res := Load(t, wh, dest, OpenTable(t, src, cfg), opts); res.Inserted != 1 {
			t.Errorf("second run inserted %d, want 1 (only b.csv)", res.Inserted)
		}
		if res := Load(t, wh, dest, OpenTable(t, src, cfg), opts); res.Inserted != 0 {
			t.Errorf("third run inserted %d, want 0", res.Inserted)
		}
		if got, want := Select(t, wh, dest, "id, _kiln_file"), "1|a.csv 2|a.csv 3|b.csv"; got != want {
			t.Errorf("rows: %s, want %s", got, want)
		}
		// A changed file (another size) is read again.
		f.Write(t, dir+"/b.csv", []byte("id\n3\n4\n"))
		if res := Load(t, wh, dest, OpenTable(t, src, cfg), opts); res.Inserted != 2 {
			t.Errorf("changed file: inserted %d, want 2", res.Inserted)
		}
	})
}

// ServerMoveAfterLoad: files move into moveTo (after_load, a folder
// relative to the source path) only after their rows are committed; the
// next run reads only files that arrived since, and moveTo itself is never
// read.
func ServerMoveAfterLoad(t *testing.T, f Folder, open OpenAt, moveTo string) {
	done := strings.TrimSuffix(moveTo, "/")
	EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dir := "out_" + strings.ReplaceAll(t.Name(), "/", "_")
		f.Write(t, dir+"/a.csv", []byte("id\n1\n"))
		f.Write(t, dir+"/sub/b.csv", []byte("id\n2\n"))
		src := open(t, dir)
		cfg := map[string]any{"glob": "**/*.csv", "after_load": map[string]any{"move_to": moveTo}}
		dest := Rel(wh, "raw", "moved")
		opts := ingest.LoadOptions{Key: "raw.moved", Mode: ingest.ModeAppend}

		if res := Load(t, wh, dest, OpenTable(t, src, cfg), opts); res.Inserted != 2 {
			t.Errorf("first run inserted %d, want 2", res.Inserted)
		}
		for _, name := range []string{"a.csv", "sub/b.csv"} {
			if f.Exists(dir + "/" + name) {
				t.Errorf("%s was not moved", name)
			}
		}
		for _, name := range []string{done + "/a.csv", done + "/b.csv"} {
			if !f.Exists(dir + "/" + name) {
				t.Errorf("%s missing after the load", name)
			}
		}

		// A new file with the name of a moved one: loaded, and replaces it
		// in the done folder.
		f.Write(t, dir+"/a.csv", []byte("id\n3\n4\n"))
		if res := Load(t, wh, dest, OpenTable(t, src, cfg), opts); res.Inserted != 2 {
			t.Errorf("second run inserted %d, want 2 (only the new a.csv)", res.Inserted)
		}
		if b, _ := os.ReadFile(f.Path(dir + "/" + done + "/a.csv")); string(b) != "id\n3\n4\n" {
			t.Errorf("%s/a.csv = %q, want the second a.csv", done, b)
		}
		if got, want := Select(t, wh, dest, "id"), "1 2 3 4"; got != want {
			t.Errorf("rows %s, want %s", got, want)
		}

		// Nothing new: the glob matches only the done folder, which is
		// excluded.
		_, err := ingest.Load(context.Background(), wh, dest, OpenTable(t, src, cfg), opts)
		if err == nil || !strings.Contains(err.Error(), "no files match") {
			t.Errorf("third run: %v, want no files match", err)
		}
		if n := Count(t, wh, dest); n != 4 {
			t.Errorf("%d rows after the third run, want 4", n)
		}
	})
}

// ServerMalformedNotMoved: a malformed file fails the load; nothing is
// committed and no file moves, the good one included. then, unless nil,
// goes on with the source and the table settings of the last failed load
// (glob *.csv*, after_load move_to done).
func ServerMalformedNotMoved(t *testing.T, f Folder, open OpenAt, then func(t *testing.T, wh adapters.Warehouse, dest adapters.Relation, src ingest.Source, cfg map[string]any)) {
	ctx := context.Background()
	EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dir := "bad_" + strings.ReplaceAll(t.Name(), "/", "_")
		f.Write(t, dir+"/a_good.csv", []byte("id,name\n1,a\n"))
		f.Write(t, dir+"/b_bad.csv", []byte("id,name\n2,b\n3,c,extra\n"))
		f.Write(t, dir+"/c_corrupt.csv.gz", []byte("not gzip at all"))
		src := open(t, dir)
		dest := Rel(wh, "raw", "bad")
		cfg := map[string]any{"glob": "*.csv", "after_load": map[string]any{"move_to": "done"}}
		opts := ingest.LoadOptions{Key: "raw.bad", Mode: ingest.ModeAppend}

		_, err := ingest.Load(ctx, wh, dest, OpenTable(t, src, cfg), opts)
		var bad *ingest.BadRecordError
		if !errors.As(err, &bad) || !strings.HasSuffix(bad.Record.Where, "b_bad.csv:3") {
			t.Fatalf("malformed csv: %v, want a bad record at b_bad.csv:3", err)
		}
		checkNothing(t, wh, dest, f, dir, "a_good.csv", "b_bad.csv")

		cfg["glob"] = "*.csv*"
		_, err = ingest.Load(ctx, wh, dest, OpenTable(t, src, cfg), ingest.LoadOptions{Key: "raw.bad", Mode: ingest.ModeAppend, OnBadRows: "skip"})
		if err == nil || !strings.Contains(err.Error(), "c_corrupt.csv.gz") {
			t.Fatalf("corrupt gzip: %v, want an error naming the file", err)
		}
		checkNothing(t, wh, dest, f, dir, "a_good.csv", "b_bad.csv", "c_corrupt.csv.gz")

		if then != nil {
			then(t, wh, dest, src, cfg)
		}
	})
}

// checkNothing checks that a failed load of raw.bad into dest committed no
// rows nor state and moved none of the files still (in dir) into done.
func checkNothing(t *testing.T, wh adapters.Warehouse, dest adapters.Relation, f Folder, dir string, still ...string) {
	t.Helper()
	ctx := context.Background()
	if info, _ := wh.Relation(ctx, dest); info != nil {
		t.Errorf("a failed load committed %s", dest.Identifier)
	}
	if st, _, found, _ := ingest.ReadState(ctx, wh, "", "", "raw.bad"); found {
		t.Errorf("a failed load stored state %v", st)
	}
	for _, name := range still {
		if !f.Exists(dir + "/" + name) {
			t.Errorf("%s moved by a failed load", name)
		}
	}
	if f.Exists(dir + "/done") {
		t.Errorf("done/ created by a failed load")
	}
}
