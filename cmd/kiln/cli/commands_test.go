package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
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

// TestInterruptCancelsPostgresQuery cancels a run during a long Postgres
// query: the query must stop on the server, not just in kiln, and kiln
// exits 130 having written run_results.json.
func TestInterruptCancelsPostgresQuery(t *testing.T) {
	p := adaptertest.Postgres(t)
	dir := t.TempDir()
	for name, body := range map[string]string{
		"dbt_project.yml": "name: shop\nprofile: shop\nmodels:\n  shop:\n    +materialized: table\n",
		"models/slow.sql": "select 1 as n, 'kiln-cancel-probe' as tag from (select pg_sleep(60)) s\n",
	} {
		path := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeProfiles(t, dir, p)
	q := pgQuerier(p)
	const running = "select count(*) from pg_stat_activity where state = 'active' and query like '%kiln-cancel-probe%' and pid <> pg_backend_pid()"
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the query is running on the server (polling from
		// this goroutine must not call t.Fatal, hence pgx directly).
		defer cancel()
		conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", p.User, p.Password, p.Host, p.Port, p.DBName))
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		for i := 0; i < 100; i++ {
			time.Sleep(100 * time.Millisecond)
			var n int64
			if conn.QueryRow(context.Background(), running).Scan(&n) == nil && n > 0 {
				return
			}
		}
	}()
	var out, errb bytes.Buffer
	start := time.Now()
	code := Run(ctx, []string{"run", "--project-dir", dir}, strings.NewReader(""), &out, &errb)
	if code != ExitCancel {
		t.Fatalf("exit %d, want 130\n%s\n%s", code, out.String(), errb.String())
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("cancel took %s", d)
	}
	// The server-side query is gone within a few seconds.
	deadline := time.Now().Add(5 * time.Second)
	for q(t, running) != "0" {
		if time.Now().After(deadline) {
			t.Fatal("the query is still running on the server after kiln was interrupted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "target", "run_results.json")); err != nil {
		t.Errorf("run_results.json not written: %v", err)
	}
}
