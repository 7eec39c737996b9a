package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/duckdb"
	"github.com/kilnhq/kiln/adapters/postgres"
)

// lockProject writes a project whose table model takes about a second on
// Postgres (sleepy) or runs at once (DuckDB has no sleep), and its profile.
func lockProject(t *testing.T, p adapters.Profile) string {
	t.Helper()
	dir := t.TempDir()
	model := "select g as x from generate_series(1, 1000) g"
	if p.Type == "postgres" {
		model += ", (select pg_sleep(1)) s"
	} else {
		model = "select range + 1 as x from range(1000)"
	}
	files := map[string]string{
		"dbt_project.yml":    "name: shop\nprofile: shop\nversion: \"1.0.0\"\nconfig-version: 2\n",
		"models/slow.sql":    "{{ config(materialized='table') }}\n" + model + "\n",
		"models/on_slow.sql": "{{ config(materialized='view') }}\nselect x from {{ ref('slow') }}\n",
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeProfiles(t, dir, p)
	return dir
}

// lockMessage checks stderr for the busy-target message naming this process.
func lockMessage(t *testing.T, stderr string) {
	t.Helper()
	host, _ := os.Hostname()
	want := fmt.Sprintf(`error: another kiln run holds the lock on target "ci" (pid %d on host %s since `, os.Getpid(), host)
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, "--lock-timeout") {
		t.Errorf("stderr does not name the holder:\n%s\nwant it to contain %q", stderr, want)
	}
}

// Two builds of one Postgres target at once: without --lock-timeout exactly
// one fails at once naming the other; with it both succeed, one after the
// other, and the relations are whole.
func TestLockConcurrentPostgresBuilds(t *testing.T) {
	p := adaptertest.Postgres(t)
	dirs := []string{lockProject(t, p), lockProject(t, p)}
	both := func(extra ...string) (codes [2]int, stderrs [2]string, elapsed time.Duration) {
		var wg sync.WaitGroup
		t0 := time.Now()
		for i, dir := range dirs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out, errb strings.Builder
				codes[i] = Run(context.Background(), append([]string{"build", "--project-dir", dir}, extra...), strings.NewReader(""), &out, &errb)
				stderrs[i] = errb.String()
			}()
		}
		wg.Wait()
		return codes, stderrs, time.Since(t0)
	}
	q := pgQuerier(p)

	codes, stderrs, _ := both()
	if codes[0]+codes[1] != ExitInvalid || codes[0]*codes[1] != 0 {
		t.Fatalf("exit codes %v, want one 0 and one %d\n%s\n%s", codes, ExitInvalid, stderrs[0], stderrs[1])
	}
	loser := 0
	if codes[1] != 0 {
		loser = 1
	}
	lockMessage(t, stderrs[loser])

	codes, stderrs, elapsed := both("--lock-timeout", "30s")
	if codes != [2]int{0, 0} {
		t.Fatalf("with --lock-timeout exit codes %v\n%s\n%s", codes, stderrs[0], stderrs[1])
	}
	if elapsed < 2*time.Second {
		t.Errorf("two builds each sleeping 1s finished in %s: they overlapped", elapsed)
	}
	for _, c := range []struct{ q, want string }{
		{"select count(*) from analytics.slow", "1000"},
		{"select sum(x) from analytics.on_slow", "500500"},
		{"select count(*) from information_schema.tables where table_name like '%kiln_%'", "0"},
		// Only this test's database: other packages' tests share the server.
		{"select count(*) from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())", "0"},
	} {
		if got := q(t, c.q); got != c.want {
			t.Errorf("%s = %s, want %s", c.q, got, c.want)
		}
	}
}

// A run that holds the lock blocks writing commands only: parse, compile
// and ls go ahead.
func TestLockHeldBlocksWritersOnly(t *testing.T) {
	p := adaptertest.Postgres(t)
	dir := lockProject(t, p)
	wh, err := postgres.Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	unlock, err := wh.Lock(context.Background(), p.Schema, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	for _, cmd := range []string{"run", "seed", "test", "build"} {
		code, _, errb := kiln(t, cmd, "--project-dir", dir)
		if code != ExitInvalid {
			t.Errorf("%s: exit %d, want %d", cmd, code, ExitInvalid)
		}
		lockMessage(t, errb)
	}
	for _, cmd := range []string{"parse", "compile", "ls"} {
		if code, out, errb := kiln(t, cmd, "--project-dir", dir); code != 0 {
			t.Errorf("%s: exit %d\n%s\n%s", cmd, code, out, errb)
		}
	}
	time.AfterFunc(500*time.Millisecond, unlock)
	if code, out, errb := kiln(t, "build", "--project-dir", dir, "--lock-timeout", "20s"); code != 0 {
		t.Errorf("build waiting for the lock: exit %d\n%s\n%s", code, out, errb)
	}
}

// On DuckDB the lock file is taken before the file is opened: a build waits
// for it or fails at once naming the holder.
func TestLockDuckDBFile(t *testing.T) {
	p := adaptertest.DuckDB(t)
	dir := lockProject(t, p)
	unlock, err := duckdb.LockFile(context.Background(), p.Path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	code, _, errb := kiln(t, "build", "--project-dir", dir)
	if code != ExitInvalid {
		t.Errorf("build with the file locked: exit %d, want %d", code, ExitInvalid)
	}
	lockMessage(t, errb)

	t0 := time.Now()
	code, _, errb = kiln(t, "build", "--project-dir", dir, "--lock-timeout", "700ms")
	if code != ExitInvalid || time.Since(t0) < 700*time.Millisecond {
		t.Errorf("build with --lock-timeout 700ms: exit %d after %s", code, time.Since(t0))
	}
	lockMessage(t, errb)

	// Reading commands do not take the lock.
	if code, out, errb := kiln(t, "compile", "--project-dir", dir); code != 0 {
		t.Errorf("compile: exit %d\n%s\n%s", code, out, errb)
	}
	time.AfterFunc(500*time.Millisecond, unlock)
	if code, out, errb := kiln(t, "build", "--project-dir", dir, "--lock-timeout", "20s"); code != 0 {
		t.Fatalf("build waiting for the lock: exit %d\n%s\n%s", code, out, errb)
	}
	if got := duckQuerier(p.Path)(t, "select sum(x) from main.on_slow"); got != "500500" {
		t.Errorf("sum = %s", got)
	}
	// The lock is free again after the run.
	again, err := duckdb.LockFile(context.Background(), p.Path, 0)
	if err != nil {
		t.Fatalf("lock after the run: %v", err)
	}
	again()
}

// Ctrl-C while waiting for the lock ends the command with exit 130.
func TestLockWaitCancelled(t *testing.T) {
	p := adaptertest.DuckDB(t)
	dir := lockProject(t, p)
	unlock, err := duckdb.LockFile(context.Background(), p.Path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out, errb strings.Builder
	t0 := time.Now()
	code := Run(ctx, []string{"build", "--project-dir", dir, "--lock-timeout", "1m"}, strings.NewReader(""), &out, &errb)
	if code != ExitCancel || time.Since(t0) > 10*time.Second {
		t.Errorf("exit %d after %s, want %d soon after the cancel\n%s", code, time.Since(t0), ExitCancel, errb.String())
	}
}
