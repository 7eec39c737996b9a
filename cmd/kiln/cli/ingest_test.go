package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIngestFilesThenModels loads a CSV and a JSON lines file with the files
// connector as part of kiln build, then builds a model on them; new rows in
// the JSON lines file are merged by the next ingest.
func TestIngestFilesThenModels(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"dbt_project.yml": "name: ing\n",
		"raw/orders.csv":  "id,name,amount\n1,a,2.5\n2,b,3\n",
		"raw/events.jsonl": `{"id": 1, "kind": "x", "meta": {"a": 1}}
{"id": 2, "kind": "y", "meta": {"a": 2}}
`,
		"models/sources.yml": `version: 2
sources:
  - name: raw
    schema: raw
    ingest:
      connector: files
      path: raw
    tables:
      - name: orders
        ingest: {path: orders.csv, mode: replace}
      - name: events
        ingest: {path: events.jsonl, mode: merge, primary_key: [id]}
`,
		"models/joined.sql": "select o.id, o.amount, e.kind from {{ source('raw', 'orders') }} o join {{ source('raw', 'events') }} e using (id)\n",
	})
	code, out, errb := kiln(t, "build", "--project-dir", dir)
	if code != 0 {
		t.Fatalf("build exit %d\n%s\n%s", code, out, errb)
	}
	for _, want := range []string{"OK load of source raw.orders into raw.orders", "[REPLACE 2, ", "[MERGE 2, ", "PASS=3 WARN=0 ERROR=0 SKIP=0 TOTAL=3"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	q := duckQuerier(filepath.Join(dir, "warehouse.duckdb"))
	if got := q(t, "select count(*) from main.joined"); got != "2" {
		t.Errorf("joined = %s rows", got)
	}
	if got := q(t, "select count(*) from raw.orders where _kiln_loaded_at is not null"); got != "2" {
		t.Errorf("_kiln_loaded_at missing: %s", got)
	}
	// A second load with no new file changes nothing and succeeds.
	code, out, errb = kiln(t, "ingest", "--project-dir", dir)
	if code != 0 || !strings.Contains(out, "[MERGE 0, ") {
		t.Fatalf("second ingest exit %d\n%s\n%s", code, out, errb)
	}
	if got := q(t, "select count(*) from raw.events"); got != "2" {
		t.Errorf("events after a no-op load = %s", got)
	}
}

func TestIngestBadConfig(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"dbt_project.yml": "name: ing\n",
		"models/sources.yml": `version: 2
sources:
  - name: raw
    ingest:
      connector: filez
    tables:
      - name: a
  - name: api
    ingest:
      connector: http
      base_url: http://127.0.0.1:1
    tables:
      - name: b
        ingest: {path: /b, pagination: {type: page}}
`,
	})
	code, out, errb := kiln(t, "ingest", "--project-dir", dir)
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s\n%s", code, out, errb)
	}
	for _, want := range []string{"models/sources.yml:5", "filez", "did you mean `files`?", "models/sources.yml:14", "unknown table setting `pagination` for the http connector", "did you mean `paginate`?"} {
		if !strings.Contains(errb, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb)
		}
	}
}

// TestIngestBadRows loads a CSV with a malformed record: by default the
// load fails at the record's file:line and nothing is written; with
// on_bad_rows: skip the good rows load and the bad one lands in
// <table>__kiln_rejects with its reason. JSON logs carry progress events.
func TestIngestBadRows(t *testing.T) {
	dir := t.TempDir()
	sources := func(onBad string) string {
		return `version: 2
sources:
  - name: raw
    schema: raw
    ingest:
      connector: files
      path: raw
    tables:
      - name: orders
        ingest: {path: orders.csv` + onBad + `}
`
	}
	writeFiles(t, dir, map[string]string{
		"dbt_project.yml":    "name: ing\n",
		"raw/orders.csv":     "id,name\n1,a\n2,b,extra\n3,c\n",
		"models/sources.yml": sources(""),
	})
	code, out, errb := kiln(t, "ingest", "--project-dir", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errb)
	}
	for _, want := range []string{"models/sources.yml:9", "raw/orders.csv:3", "expected 2 fields, found 3"} {
		if !strings.Contains(errb, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb)
		}
	}
	q := duckQuerier(filepath.Join(dir, "warehouse.duckdb"))
	if got := q(t, "select count(*) from information_schema.tables where table_schema = 'raw'"); got != "0" {
		t.Errorf("a failed load left %s tables in raw", got)
	}

	writeFiles(t, dir, map[string]string{"models/sources.yml": sources(", on_bad_rows: skip")})
	code, out, errb = kiln(t, "ingest", "--project-dir", dir, "--log-format", "json")
	if code != 0 {
		t.Fatalf("skip: exit %d\n%s\n%s", code, out, errb)
	}
	var progress, finish map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		switch ev["event"] {
		case "node_progress":
			progress = ev
		case "node_finish":
			finish = ev
		}
	}
	if progress == nil || progress["unique_id"] != "source.ing.raw.orders" || progress["rows"].(float64) != 2 {
		t.Errorf("progress event = %v, want 2 rows of source.ing.raw.orders", progress)
	}
	if finish == nil || finish["message"] != "REPLACE 2, 1 rejected" || finish["bytes"].(float64) <= 0 {
		t.Errorf("finish event = %v", finish)
	}
	if got := q(t, "select string_agg(cast(id as varchar), ',' order by id) from raw.orders"); got != "1,3" {
		t.Errorf("orders ids = %s, want 1,3", got)
	}
	if got := q(t, `select "where" || ' ' || reason || ' ' || raw from raw.orders__kiln_rejects`); !strings.HasSuffix(got, "/raw/orders.csv:3 expected 2 fields, found 3 2,b,extra") {
		t.Errorf("rejects = %q", got)
	}
}

// TestIngestFallbackSaysWhy loads a CSV whose fast path gives up after the
// first batch: the summary line says the table was read record by record
// and why.
func TestIngestFallbackSaysWhy(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id\n")
	for i := 1; i <= 10_001; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	b.WriteString("x\n")
	writeFiles(t, dir, map[string]string{
		"dbt_project.yml": "name: ing\n",
		"raw/ids.csv":     b.String(),
		"models/sources.yml": `version: 2
sources:
  - name: raw
    schema: raw
    ingest: {connector: files, path: raw}
    tables:
      - name: ids
        ingest: {path: ids.csv}
`,
	})
	code, out, errb := kiln(t, "ingest", "--project-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(out, `[REPLACE 10002, read record by record: ids.csv: "x" does not keep its column's type integer`) {
		t.Errorf("stdout:\n%s", out)
	}
}
