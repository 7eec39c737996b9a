package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
)

func TestJSONLogFormat(t *testing.T) {
	dir := copyFixture(t, "../../../testdata/shop")
	writeProfiles(t, dir, adapters.Profile{Type: "duckdb", Path: filepath.Join(dir, "shop.duckdb"), Schema: "analytics"})
	code, out, errb := kiln(t, "seed", "--project-dir", dir, "--log-format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	kinds := map[string]int{}
	for _, l := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		kinds[ev["event"].(string)]++
		if ev["event"] == "node_finish" && ev["status"] != "success" {
			t.Errorf("event %v", ev)
		}
	}
	if kinds["run_start"] != 1 || kinds["node_start"] != 2 || kinds["node_finish"] != 2 || kinds["run_end"] != 1 {
		t.Errorf("event counts %v", kinds)
	}
}

func TestLsAndClean(t *testing.T) {
	dir := copyFixture(t, "../../../testdata/shop")
	code, out, _ := kiln(t, "ls", "--project-dir", dir, "--output", "json", "-s", "tag:nightly")
	var row map[string]any
	if code != 0 || json.Unmarshal([]byte(strings.TrimSpace(out)), &row) != nil || row["unique_id"] != "model.shop.dim_customers" || row["materialized"] != "table" {
		t.Fatalf("ls json: %d %s", code, out)
	}
	code, out, _ = kiln(t, "ls", "--project-dir", dir, "--resource-type", "seed")
	if code != 0 || out != "shop.raw_customers\nshop.raw_orders\n" {
		t.Fatalf("ls seeds: %q", out)
	}
	if code, _, errb := kiln(t, "compile", "--project-dir", dir); code != 0 {
		t.Fatal(errb)
	}
	if code, out, _ = kiln(t, "clean", "--project-dir", dir); code != 0 || !strings.Contains(out, "Cleaned target") {
		t.Fatalf("clean: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "target")); !os.IsNotExist(err) {
		t.Fatalf("target still there: %v", err)
	}
}

func TestDebug(t *testing.T) {
	dir := copyFixture(t, "../../../testdata/shop")
	writeProfiles(t, dir, adapters.Profile{Type: "duckdb", Path: filepath.Join(dir, "shop.duckdb"), Schema: "analytics"})
	code, out, errb := kiln(t, "debug", "--project-dir", dir)
	if code != 0 || !strings.Contains(out, "target:   ci (type duckdb, schema analytics, threads 4)") || !strings.Contains(out, "connection: OK") {
		t.Fatalf("debug %d\n%s\n%s", code, out, errb)
	}
}

// TestInterruptExits130 cancels a run while a slow model executes: kiln
// stops the query, keeps the previous table and exits 130.
func TestInterruptExits130(t *testing.T) {
	dir := t.TempDir()
	must := func(name, body string) {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must("dbt_project.yml", "name: slow\nmodels:\n  slow:\n    +materialized: table\n")
	must("models/big.sql", "select 1 as n\n")
	if code, _, errb := kiln(t, "run", "--project-dir", dir); code != 0 {
		t.Fatal(errb)
	}
	must("models/big.sql", "select count(*) as n from range(100000) a, range(100000) b\n")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(700*time.Millisecond, cancel)
	var out, errb bytes.Buffer
	start := time.Now()
	code := Run(ctx, []string{"run", "--project-dir", dir}, strings.NewReader(""), &out, &errb)
	if code != ExitCancel {
		t.Fatalf("exit %d, want 130\n%s\n%s", code, out.String(), errb.String())
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("cancel took %s", d)
	}
	if got := duckQuerier(filepath.Join(dir, "warehouse.duckdb"))(t, "select n from main.big"); got != "1" {
		t.Errorf("big after interrupted rebuild = %s, want the previous 1", got)
	}
}
