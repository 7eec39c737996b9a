package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
)

// freshnessProject writes a project whose sources.yml is sourcesYML.
func freshnessProject(t *testing.T, sourcesYML string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"dbt_project.yml":    "name: fresh\nprofile: shop\nconfig-version: 2\n",
		"models/a.sql":       "select 1 as x",
		"models/sources.yml": sourcesYML,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// execSQL runs setup statements directly against the test warehouse.
func execSQL(t *testing.T, p adapters.Profile, stmts []string) {
	t.Helper()
	ctx := context.Background()
	if p.Type == "postgres" {
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", p.User, p.Password, p.Host, p.Port, p.DBName))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, s := range stmts {
			if _, err := conn.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		return
	}
	db, err := sql.Open("duckdb", p.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

const freshnessYML = `version: 2
sources:
  - name: raw
    loaded_at_field: loaded_at
    freshness:
      warn_after: {count: 2, period: hour}
      error_after: {count: 1, period: day}
    tables:
      - name: recent
        freshness:
          warn_after: {count: 1, period: hour}
      - name: hours
      - name: days
      - name: filtered
        freshness:
          filter: "kind = 'real'"
      - name: missing
      - name: unchecked
        freshness: null
`

type sourcesJSON struct {
	Metadata struct {
		SchemaVersion string `json:"dbt_schema_version"`
		InvocationID  string `json:"invocation_id"`
	} `json:"metadata"`
	Results []struct {
		UniqueID      string   `json:"unique_id"`
		Status        string   `json:"status"`
		MaxLoadedAt   string   `json:"max_loaded_at"`
		SnapshottedAt string   `json:"snapshotted_at"`
		AgeSeconds    *float64 `json:"max_loaded_at_time_ago_in_s"`
		Error         string   `json:"error"`
		ThreadID      string   `json:"thread_id"`
		Criteria      struct {
			WarnAfter struct {
				Count  *int64
				Period *string
			} `json:"warn_after"`
			ErrorAfter struct {
				Count  *int64
				Period *string
			} `json:"error_after"`
			Filter *string `json:"filter"`
		} `json:"criteria"`
		Timing []struct {
			Name string `json:"name"`
		} `json:"timing"`
	} `json:"results"`
	Elapsed *float64 `json:"elapsed_time"`
}

func readSources(t *testing.T, path string) sourcesJSON {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc sourcesJSON
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

func TestSourceFreshnessOnBothWarehouses(t *testing.T) {
	for _, wh := range []string{"duckdb", "postgres"} {
		t.Run(wh, func(t *testing.T) {
			dir := freshnessProject(t, freshnessYML)
			var p adapters.Profile
			if wh == "postgres" {
				p = adaptertest.Postgres(t)
			} else {
				p = adapters.Profile{Type: "duckdb", Path: filepath.Join(dir, "fresh.duckdb"), Schema: "analytics"}
			}
			writeProfiles(t, dir, p)

			// Naive timestamps hold UTC wall-clock times; timestamptz
			// values are written with a +05:00 offset to check that
			// instants are compared, not wall clocks.
			now := time.Now().UTC()
			naive := func(ago time.Duration) string {
				return "timestamp '" + now.Add(-ago).Format("2006-01-02 15:04:05") + "'"
			}
			tz := func(ago time.Duration) string {
				return "timestamptz '" + now.Add(-ago).In(time.FixedZone("", 5*3600)).Format("2006-01-02 15:04:05-07:00") + "'"
			}
			stmts := []string{
				"create schema raw",
				"create table raw.recent (id integer, loaded_at timestamp)",
				fmt.Sprintf("insert into raw.recent values (1, %s), (2, %s)", naive(2*time.Hour), naive(10*time.Minute)),
				"create table raw.hours (id integer, loaded_at timestamptz)",
				fmt.Sprintf("insert into raw.hours values (1, %s)", tz(3*time.Hour)),
				"create table raw.days (id integer, loaded_at timestamp)",
				fmt.Sprintf("insert into raw.days values (1, %s)", naive(72*time.Hour)),
				"create table raw.filtered (kind text, loaded_at timestamp)",
				fmt.Sprintf("insert into raw.filtered values ('junk', %s), ('real', %s)", naive(time.Minute), naive(5*time.Hour)),
				"create table raw.unchecked (loaded_at timestamp)",
			}
			if wh == "postgres" {
				// The session time zone must not matter.
				stmts = append(stmts, fmt.Sprintf("alter database %s set timezone to 'America/New_York'", p.DBName))
			}
			execSQL(t, p, stmts)

			code, out, errb := kiln(t, "source", "freshness", "--project-dir", dir)
			if code != ExitFailed {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitFailed, out, errb)
			}
			for _, want := range []string{
				"1 of 5 START freshness of raw.days",
				"1 of 5 ERROR STALE freshness of raw.days",
				"[ERROR STALE in ",
				"2 of 5 WARN freshness of raw.filtered",
				"3 of 5 WARN freshness of raw.hours",
				"4 of 5 ERROR freshness of raw.missing",
				"5 of 5 PASS freshness of raw.recent",
				"[PASS in ",
				"Done. PASS=1 WARN=2 ERROR=2 SKIP=0 TOTAL=5",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "unchecked") {
				t.Errorf("a table with freshness: null was checked:\n%s", out)
			}
			if !strings.Contains(errb, "raw.missing") || !strings.Contains(errb, "missing") {
				t.Errorf("stderr lacks the runtime error:\n%s", errb)
			}

			doc := readSources(t, filepath.Join(dir, "target", "sources.json"))
			if doc.Metadata.SchemaVersion != "https://schemas.getdbt.com/dbt/sources/v3.json" || doc.Metadata.InvocationID == "" || doc.Elapsed == nil {
				t.Errorf("metadata %+v elapsed %v", doc.Metadata, doc.Elapsed)
			}
			want := map[string]struct {
				status string
				age    time.Duration // -1: no age (runtime error)
			}{
				"source.fresh.raw.days":     {"error", 72 * time.Hour},
				"source.fresh.raw.filtered": {"warn", 5 * time.Hour},
				"source.fresh.raw.hours":    {"warn", 3 * time.Hour},
				"source.fresh.raw.missing":  {"runtime error", -1},
				"source.fresh.raw.recent":   {"pass", 10 * time.Minute},
			}
			if len(doc.Results) != len(want) {
				t.Fatalf("%d results, want %d: %+v", len(doc.Results), len(want), doc.Results)
			}
			for _, r := range doc.Results {
				w, ok := want[r.UniqueID]
				if !ok {
					t.Errorf("unexpected result %s", r.UniqueID)
					continue
				}
				if r.Status != w.status {
					t.Errorf("%s: status %q want %q", r.UniqueID, r.Status, w.status)
				}
				if w.age < 0 {
					if r.Error == "" || r.AgeSeconds != nil {
						t.Errorf("%s: runtime error entry %+v", r.UniqueID, r)
					}
					continue
				}
				if r.AgeSeconds == nil || math.Abs(*r.AgeSeconds-w.age.Seconds()) > 120 {
					t.Errorf("%s: max_loaded_at_time_ago_in_s %v, want about %v", r.UniqueID, r.AgeSeconds, w.age.Seconds())
				}
				if !strings.HasSuffix(r.MaxLoadedAt, "+00:00") || !strings.HasSuffix(r.SnapshottedAt, "+00:00") {
					t.Errorf("%s: times not in UTC: %s %s", r.UniqueID, r.MaxLoadedAt, r.SnapshottedAt)
				}
				if len(r.Timing) != 2 || !strings.HasPrefix(r.ThreadID, "Thread-") {
					t.Errorf("%s: timing %+v thread %q", r.UniqueID, r.Timing, r.ThreadID)
				}
				if r.Criteria.ErrorAfter.Count == nil || *r.Criteria.ErrorAfter.Count != 1 || *r.Criteria.ErrorAfter.Period != "day" {
					t.Errorf("%s: error_after %+v", r.UniqueID, r.Criteria.ErrorAfter)
				}
				wantWarn := int64(2)
				if r.UniqueID == "source.fresh.raw.recent" {
					wantWarn = 1
				}
				if r.Criteria.WarnAfter.Count == nil || *r.Criteria.WarnAfter.Count != wantWarn || *r.Criteria.WarnAfter.Period != "hour" {
					t.Errorf("%s: warn_after %+v", r.UniqueID, r.Criteria.WarnAfter)
				}
				if (r.Criteria.Filter != nil) != (r.UniqueID == "source.fresh.raw.filtered") {
					t.Errorf("%s: filter %v", r.UniqueID, r.Criteria.Filter)
				}
			}

			// Warnings alone exit 0; --output names the file.
			other := filepath.Join(t.TempDir(), "fresh.json")
			code, out, errb = kiln(t, "source", "freshness", "--project-dir", dir, "-s", "source:raw.recent", "-s", "source:raw.hours", "--output", other)
			if code != ExitOK {
				t.Fatalf("selected run: exit %d\n%s\n%s", code, out, errb)
			}
			if !strings.Contains(out, "Done. PASS=1 WARN=1 ERROR=0 SKIP=0 TOTAL=2") {
				t.Errorf("selected run summary:\n%s", out)
			}
			if got := readSources(t, other); len(got.Results) != 2 {
				t.Errorf("--output file has %d results", len(got.Results))
			}

			// JSON lines: one node_finish per table.
			code, out, errb = kiln(t, "source", "freshness", "--project-dir", dir, "-s", "source:raw", "--exclude", "source:raw.missing", "--log-format", "json")
			if code != ExitFailed {
				t.Fatalf("json run: exit %d\n%s\n%s", code, out, errb)
			}
			statuses := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				var ev map[string]any
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatalf("not a JSON line: %q", l)
				}
				if ev["event"] == "node_finish" {
					statuses[ev["unique_id"].(string)] = ev["status"].(string)
				}
			}
			if len(statuses) != 4 || statuses["source.fresh.raw.recent"] != "pass" || statuses["source.fresh.raw.days"] != "error" {
				t.Errorf("json statuses %v", statuses)
			}
		})
	}
}

func TestSourceFreshnessBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, yml, want string
	}{
		{"period", "version: 2\nsources:\n  - name: raw\n    loaded_at_field: loaded_at\n    tables:\n      - name: t\n        freshness:\n          warn_after:\n            count: 1\n            period: fortnight\n",
			"models/sources.yml:10:"},
		{"count", "version: 2\nsources:\n  - name: raw\n    loaded_at_field: loaded_at\n    freshness:\n      error_after: {count: -3, period: day}\n    tables:\n      - name: t\n      - name: u\n",
			"models/sources.yml:6:"},
		{"no loaded_at_field", "version: 2\nsources:\n  - name: raw\n    freshness:\n      error_after: {count: 1, period: day}\n    tables:\n      - name: t\n",
			"models/sources.yml:7:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := freshnessProject(t, tc.yml)
			p := adapters.Profile{Type: "duckdb", Path: filepath.Join(dir, "fresh.duckdb"), Schema: "analytics"}
			writeProfiles(t, dir, p)
			code, out, errb := kiln(t, "source", "freshness", "--project-dir", dir)
			if code != ExitInvalid {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, ExitInvalid, out, errb)
			}
			if !strings.Contains(errb, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, errb)
			}
			if n := strings.Count(errb, "error:"); n != 1 {
				t.Errorf("%d errors reported, want 1 (a source-level mistake once):\n%s", n, errb)
			}
			if _, err := os.Stat(p.Path); err == nil {
				t.Error("the warehouse was opened for an invalid project")
			}
			if _, err := os.Stat(filepath.Join(dir, "target", "sources.json")); err == nil {
				t.Error("sources.json written for an invalid project")
			}
		})
	}
}
