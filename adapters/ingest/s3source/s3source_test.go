package s3source_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/duckdb"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
	"github.com/kilnhq/kiln/adapters/ingest/s3source"
)

var ctx = context.Background()

// sourceValues is the source-level config of bucket (below prefix) on f,
// with explicit keys; extra adds or overrides settings (key, value, ...).
func sourceValues(f *fakeS3, bucket, prefix string, extra ...any) map[string]any {
	m := map[string]any{
		"bucket":            bucket,
		"endpoint":          f.URL,
		"region":            "us-east-1",
		"access_key_id":     keyID,
		"secret_access_key": secret,
	}
	if prefix != "" {
		m["prefix"] = prefix
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == nil {
			delete(m, extra[i].(string))
			continue
		}
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func openSource(t *testing.T, values map[string]any) ingest.Source {
	t.Helper()
	return ingesttest.OpenSource(t, s3source.Connector(), values)
}

func openTable(t *testing.T, values map[string]any, table map[string]any) ingest.Table {
	t.Helper()
	return ingesttest.OpenTable(t, openSource(t, values), table)
}

// encode compresses content by the name's extension (.gz, .zst).
func encode(t *testing.T, name, content string) []byte {
	t.Helper()
	return ingesttest.Compress(t, name, []byte(content))
}

// putText puts content, compressed by the key's extension.
func (f *fakeS3) putText(t *testing.T, bucket, key, content string) {
	t.Helper()
	f.put(t, bucket, key, encode(t, key, content))
}

// Each step is one CSV object, rewritten in place between steps (so its
// ETag changes).
func TestConformanceCSV(t *testing.T) {
	f := newFakeS3(t)
	f.bucket(t, "conformance")
	ingesttest.Run(t, func(t *testing.T, step int) ingest.Table {
		f.putText(t, "conformance", "landing/items.csv", ingesttest.StepCSV(step))
		return openTable(t, sourceValues(f, "conformance", "landing"), map[string]any{"path": "items.csv"})
	})
}

func TestConformanceJSONLinesGzip(t *testing.T) {
	f := newFakeS3(t)
	f.bucket(t, "conformance")
	ingesttest.Run(t, func(t *testing.T, step int) ingest.Table {
		f.putText(t, "conformance", "items.jsonl.gz", ingesttest.StepJSONL(step))
		return openTable(t, sourceValues(f, "conformance", ""), map[string]any{"glob": "*.jsonl.gz"})
	})
}

// parquetFixture has DuckDB write a Parquet file and returns its bytes.
func parquetFixture(t *testing.T) []byte {
	t.Helper()
	writer, err := duckdb.Open(ctx, adaptertest.DuckDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	out := filepath.Join(t.TempDir(), "orders.parquet")
	if _, err := writer.Exec(ctx, `copy (
		select * from (values
			(1, 'a', timestamp '2024-01-01 10:00:00.123456', 12.34::decimal(10,2)),
			(2, null, null, null)
		) v(id, name, ts, price)
	) to '`+out+`' (format parquet, row_group_size 1)`); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFormats(t *testing.T) {
	// Two keys a page: every listing below goes through several pages.
	t.Cleanup(s3source.SetListPageSize(2))
	f := newFakeS3(t)
	f.bucket(t, "formats")
	f.putText(t, "formats", "exports/semi.csv", "id;name;note\n1;'a;b';NA\n2;'it''s';x\n")
	f.putText(t, "formats", "exports/gz/orders.csv.gz", "id,name\n1,one\n2,two\n")
	f.putText(t, "formats", "exports/events/2024/01/ev.jsonl.zst", `{"id": 1, "ts": "2024-01-01T10:00:00.123456Z"}`+"\n\n")
	f.putText(t, "formats", "exports/events/2024/02/ev.jsonl.zst", `{"id": 2, "ts": "2024-02-01T10:00:00Z", "extra": true}`+"\n")
	f.putText(t, "formats", "exports/events/2024/02/notes.txt", "not matched by the glob")
	f.putText(t, "formats", "exports/doc.json", `{"meta": {"page": 1}, "data": {"total": 2, "items": [
		{"id": 1, "name": "a", "address": {"city": "Oslo"}},
		{"id": 2, "name": "b", "tags": ["x", "y"]}
	]}}`)
	f.put(t, "formats", "exports/parquet/orders.parquet", parquetFixture(t))
	// Outside the prefix: never read.
	f.putText(t, "formats", "gz/orders.csv.gz", "id,name\n9,outside\n")
	f.putText(t, "formats", "exports_old/gz/orders.csv.gz", "id,name\n8,sibling\n")
	f.putText(t, "formats", "exports/gz_old/orders.csv.gz", "id,name\n7,sibling folder\n")
	src := sourceValues(f, "formats", "/exports/")

	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dest := ingesttest.Rel(wh, "raw", "semi")
		ingesttest.Load(t, wh, dest, openTable(t, src, map[string]any{"path": "semi.csv", "delimiter": ";", "quote": "'", "null_string": "NA"}), ingest.LoadOptions{})
		if got, want := ingesttest.Select(t, wh, dest, "id, name, note, _kiln_file"), "1|a;b|NULL|semi.csv 2|it's|x|semi.csv"; got != want {
			t.Errorf("csv options: %s, want %s", got, want)
		}

		dest = ingesttest.Rel(wh, "raw", "orders_gz")
		ingesttest.Load(t, wh, dest, openTable(t, src, map[string]any{"path": "gz"}), ingest.LoadOptions{})
		if got, want := ingesttest.Select(t, wh, dest, "id, name, _kiln_file"), "1|one|gz/orders.csv.gz 2|two|gz/orders.csv.gz"; got != want {
			t.Errorf("gzip csv folder: %s, want %s", got, want)
		}

		dest = ingesttest.Rel(wh, "raw", "events")
		ingesttest.Load(t, wh, dest, openTable(t, src, map[string]any{"glob": "events/**/*.jsonl.zst"}), ingest.LoadOptions{})
		if got, want := ingesttest.Select(t, wh, dest, "id, ts, extra, _kiln_file"), "1|2024-01-01 10:00:00.123456|NULL|events/2024/01/ev.jsonl.zst 2|2024-02-01 10:00:00|true|events/2024/02/ev.jsonl.zst"; got != want {
			t.Errorf("zstd json lines glob: %s, want %s", got, want)
		}
		if typ := ingesttest.ColumnTypes(t, wh, dest)["ts"]; !strings.Contains(typ, "timestamp") {
			t.Errorf("ts typed %s, want timestamp", typ)
		}

		dest = ingesttest.Rel(wh, "raw", "doc")
		ingesttest.Load(t, wh, dest, openTable(t, src, map[string]any{"path": "doc.json", "records": "data.items"}), ingest.LoadOptions{})
		if got := ingesttest.Select(t, wh, dest, "id, name, cast(address as text), cast(tags as text)"); !strings.Contains(got, `1|a|{"city`) || !strings.Contains(got, `2|b|NULL|["x`) {
			t.Errorf("json records path: %s", got)
		}

		dest = ingesttest.Rel(wh, "raw", "parquet")
		ingesttest.Load(t, wh, dest, openTable(t, src, map[string]any{"glob": "**/*.parquet"}), ingest.LoadOptions{})
		if got, want := ingesttest.Select(t, wh, dest, "id, name, ts, price, _kiln_file"),
			"1|a|2024-01-01 10:00:00.123456|12.34|parquet/orders.parquet 2|NULL|NULL|NULL|parquet/orders.parquet"; got != want {
			t.Errorf("parquet: %s, want %s", got, want)
		}
		if typ := ingesttest.ColumnTypes(t, wh, dest)["ts"]; !strings.Contains(typ, "timestamp") {
			t.Errorf("parquet ts typed %s, want timestamp", typ)
		}

		// A glob over the whole prefix reads only the prefix's CSVs.
		dest = ingesttest.Rel(wh, "raw", "all_gz")
		ingesttest.Load(t, wh, dest, openTable(t, src, map[string]any{"glob": "**/orders.csv.gz"}), ingest.LoadOptions{})
		if got, want := ingesttest.Select(t, wh, dest, "id, _kiln_file"), "1|gz/orders.csv.gz 2|gz/orders.csv.gz 7|gz_old/orders.csv.gz"; got != want {
			t.Errorf("glob below the prefix: %s, want %s", got, want)
		}
	})
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func stateFiles(t *testing.T, wh adapters.Warehouse, key string) []map[string]any {
	t.Helper()
	st, _, _, err := ingest.ReadState(ctx, wh, "", "", key)
	if err != nil {
		t.Fatalf("reading state: %v", err)
	}
	list, _ := st["files"].([]any)
	var out []map[string]any
	for _, e := range list {
		out = append(out, e.(map[string]any))
	}
	return out
}

func TestNewObjectsOnly(t *testing.T) {
	t.Cleanup(s3source.SetListPageSize(2))
	f := newFakeS3(t)
	f.bucket(t, "drops")
	table := map[string]any{"glob": "orders/*.csv"} // the loader passes the mode
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		src := sourceValues(f, "drops", "landing/"+wh.Dialect().Name())
		dest := ingesttest.Rel(wh, "raw", "orders")
		opts := ingest.LoadOptions{Key: "raw.orders", Mode: ingest.ModeAppend}
		put := func(name, content string) {
			f.putText(t, "drops", "landing/"+wh.Dialect().Name()+"/orders/"+name, content)
		}
		a, b := "id,name\n1,a\n2,b\n", "id,name\n3,c\n"
		put("a.csv", a)
		if res := ingesttest.Load(t, wh, dest, openTable(t, src, table), opts); res.Inserted != 2 {
			t.Errorf("first run inserted %d, want 2", res.Inserted)
		}
		put("b.csv", b)
		put("c.json", `{"not": "matched"}`)
		if res := ingesttest.Load(t, wh, dest, openTable(t, src, table), opts); res.Inserted != 1 {
			t.Errorf("second run inserted %d, want 1 (only b.csv)", res.Inserted)
		}
		if res := ingesttest.Load(t, wh, dest, openTable(t, src, table), opts); res.Inserted != 0 {
			t.Errorf("third run inserted %d, want 0", res.Inserted)
		}
		if got, want := ingesttest.Select(t, wh, dest, "id, _kiln_file"), "1|orders/a.csv 2|orders/a.csv 3|orders/b.csv"; got != want {
			t.Errorf("rows %s, want %s", got, want)
		}
		// The state keeps each object's key and ETag (S3's, without its
		// quotes: the MD5 of the contents), not its modification time.
		st := stateFiles(t, wh, "raw.orders")
		if len(st) != 2 || st[0]["path"] != "orders/a.csv" || st[0]["etag"] != md5hex(a) ||
			st[1]["path"] != "orders/b.csv" || st[1]["etag"] != md5hex(b) {
			t.Errorf("state files %v, want a.csv and b.csv with their MD5 ETags", st)
		}
		for _, e := range st {
			if _, ok := e["mtime"]; ok {
				t.Errorf("state %v keeps the modification time", e)
			}
		}

		// An identical re-upload (new LastModified, same ETag) is not new.
		time.Sleep(1100 * time.Millisecond) // LastModified may have second precision
		put("a.csv", a)
		if res := ingesttest.Load(t, wh, dest, openTable(t, src, table), opts); res.Inserted != 0 {
			t.Errorf("identical re-upload: inserted %d, want 0", res.Inserted)
		}
		// A rewrite of the same size with other contents has a new ETag
		// and is read again, once.
		b2 := "id,name\n4,d\n"
		put("b.csv", b2)
		if res := ingesttest.Load(t, wh, dest, openTable(t, src, table), opts); res.Inserted != 1 {
			t.Errorf("rewritten object: inserted %d, want 1", res.Inserted)
		}
		if res := ingesttest.Load(t, wh, dest, openTable(t, src, table), opts); res.Inserted != 0 {
			t.Errorf("after the rewrite: inserted %d, want 0", res.Inserted)
		}
		if got, want := ingesttest.Select(t, wh, dest, "id"), "1 2 3 4"; got != want {
			t.Errorf("rows %s, want %s", got, want)
		}
		if st := stateFiles(t, wh, "raw.orders"); len(st) != 2 || st[1]["etag"] != md5hex(b2) {
			t.Errorf("state after the rewrite %v, want b.csv's new ETag", st)
		}

		// A full refresh reads every object again and replaces the table.
		full := opts
		full.FullRefresh = true
		ingesttest.Load(t, wh, dest, openTable(t, src, table), full)
		if got, want := ingesttest.Select(t, wh, dest, "id"), "1 2 4"; got != want {
			t.Errorf("after a full refresh: %s, want %s", got, want)
		}
	})
}

func TestMalformedContentsCommitNothing(t *testing.T) {
	f := newFakeS3(t)
	f.bucket(t, "bad")
	cases := []struct {
		name  string
		data  []byte
		want  string // the bad record's place, or a text of the error
		fixed string // good contents, compressed by the name
	}{
		{"b.csv", []byte("id,name\n3,c\n4,d,extra\n"), "b.csv:3", "id,name\n3,c\n"},
		{"b.jsonl.zst", encode(t, ".zst", "{\"id\": 3}\n{\"id\": 4,\n"), "b.jsonl.zst:2", `{"id": 3, "name": "c"}` + "\n"},
		{"b.csv.gz", []byte("id,name\n3,c\n"), "gzip", "id,name\n3,c\n"}, // not gzip at all
	}
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				prefix := fmt.Sprintf("landing/%s/%d", wh.Dialect().Name(), i)
				src := sourceValues(f, "bad", prefix)
				table := map[string]any{"glob": "drops/*"}
				dest := ingesttest.Rel(wh, "raw", fmt.Sprintf("drops_%d", i))
				key := fmt.Sprintf("raw.drops_%d", i)
				opts := ingest.LoadOptions{Key: key, Mode: ingest.ModeAppend}
				f.putText(t, "bad", prefix+"/drops/a.csv", "id,name\n1,a\n2,b\n")
				ingesttest.Load(t, wh, dest, openTable(t, src, table), opts)

				object := prefix + "/drops/" + c.name
				f.put(t, "bad", object, c.data)
				_, err := ingest.Load(ctx, wh, dest, openTable(t, src, table), opts)
				var bad *ingest.BadRecordError
				switch {
				case err == nil:
					t.Fatalf("load of a malformed object succeeded")
				case c.want == "gzip":
					if !strings.Contains(err.Error(), "s3://bad/"+object) || !strings.Contains(err.Error(), "gzip") {
						t.Errorf("%v, want a gzip error naming s3://bad/%s", err, object)
					}
				case !errors.As(err, &bad) || bad.Record.Where != "s3://bad/"+prefix+"/drops/"+c.want:
					t.Errorf("%v, want a bad record at s3://bad/%s/drops/%s", err, prefix, c.want)
				}
				// Nothing committed: the rows and the state are the first load's.
				if got := ingesttest.Select(t, wh, dest, "id"); got != "1 2" {
					t.Errorf("rows %s after a failed load, want 1 2", got)
				}
				if st := stateFiles(t, wh, key); len(st) != 1 || st[0]["path"] != "drops/a.csv" {
					t.Errorf("state %v after a failed load, want only drops/a.csv", st)
				}
				// Replaced by good contents, the object loads, once.
				f.putText(t, "bad", object, c.fixed)
				if res := ingesttest.Load(t, wh, dest, openTable(t, src, table), opts); res.Inserted != 1 {
					t.Errorf("fixed object inserted %d, want 1", res.Inserted)
				}
				if res := ingesttest.Load(t, wh, dest, openTable(t, src, table), opts); res.Inserted != 0 {
					t.Errorf("next run inserted %d, want 0", res.Inserted)
				}
				if got := ingesttest.Select(t, wh, dest, "id, name"); got != "1|a 2|b 3|c" {
					t.Errorf("rows %s, want 1|a 2|b 3|c", got)
				}
			})
		}
	})
}
