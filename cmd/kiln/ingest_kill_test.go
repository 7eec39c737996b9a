package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
)

// ingestKillTables are the destination tables of testdata/ingestkill, in
// schema raw, each loading the source table events in its mode.
var ingestKillTables = []string{"events_full", "events_append", "events_merge"}

// Sizes of the source: the first load's rows, then the change before the
// kills (every ingestKillEvery-th row gets a later updated_at, and
// ingestKillNew rows are added).
const (
	ingestKillRows  = 150_000
	ingestKillNew   = 30_000
	ingestKillEvery = 5
)

// TestKillIngest kills `kiln ingest` at random points while it loads a
// changed Postgres source table in the modes replace, append (cursor) and
// merge (primary key and cursor), and checks after each kill that every
// destination table is there and holds the rows of the last committed load
// or of the new one, each source row once; then that a normal run leaves
// each table as the source says. KILN_KILL_RUNS sets the number of kills
// per warehouse (default 10).
func TestKillIngest(t *testing.T) {
	runs := 10
	if s := os.Getenv("KILN_KILL_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("KILN_KILL_RUNS=%q is not a positive number", s)
		}
		runs = n
	}
	t.Run("duckdb", func(t *testing.T) {
		p := adaptertest.DuckDB(t)
		killIngests(t, runs, killTarget{profile: p, query: duckQuery(p.Path), settle: func(*testing.T, int) {}})
	})
	t.Run("postgres", func(t *testing.T) {
		p := adaptertest.Postgres(t)
		killIngests(t, runs, killTarget{profile: p, query: pgQuery(p), settle: pgSettle(p)})
	})
}

func killIngests(t *testing.T, runs int, tg killTarget) {
	// The source: a second database on the test server (the test is
	// skipped without one, as the Postgres warehouse is).
	src := adaptertest.Postgres(t)
	srcURL := (&url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(src.User, src.Password),
		Host:     fmt.Sprintf("%s:%d", src.Host, src.Port),
		Path:     "/" + src.DBName,
		RawQuery: "sslmode=disable",
	}).String()
	srcExec := func(q string) {
		t.Helper()
		conn := pgConnect(t, src)
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatalf("source: %v\n%s", err, q)
		}
	}
	srcQuery := pgQuery(src)
	srcSum := func(from string) string {
		t.Helper()
		v, err := srcQuery(t, ingestChecksumSQL("postgres", from))
		if err != nil {
			t.Fatalf("source checksum of %s: %v", from, err)
		}
		return v
	}
	// Timestamps with microseconds, so a cursor or a copy that lost
	// precision shows.
	srcExec(fmt.Sprintf(`create table events (id bigint primary key, updated_at timestamp, payload text);
insert into events
select g, timestamp '2024-01-01' + g * interval '1 second' + (g %% 997) * interval '1 microsecond', md5(g::text)
from generate_series(1, %d) g;
analyze events`, ingestKillRows))

	dir := ingestKillProject(t, tg.profile)
	env := append(os.Environ(), "NO_COLOR=1", "KILN_KILL_SRC_URL="+srcURL)
	ingest := func(what string) string {
		t.Helper()
		cmd := exec.Command(kilnBin, "ingest", "--project-dir", dir, "--lock-timeout", "30s")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s kiln ingest: %v\n%s", what, err, out)
		}
		return string(out)
	}
	state := func(when string) map[string]string {
		t.Helper()
		return ingestKillState(t, tg, when)
	}

	t0 := time.Now()
	ingest("first")
	ingestTime := time.Since(t0)
	before := srcSum("events")
	// The source as it was, for what append keeps.
	srcExec("create table events_before as select * from events")
	got := state("after the first load")
	for _, name := range ingestKillTables {
		if got := got[name]; got != before {
			t.Fatalf("after the first load %s holds %s, the source %s", name, got, before)
		}
	}

	// A run with nothing new in the source: replace reloads everything,
	// append and merge read nothing, and nothing changes.
	ingest("second")
	got = state("after a load of an unchanged source")
	for _, name := range ingestKillTables {
		if got := got[name]; got != before {
			t.Fatalf("after a load of an unchanged source %s holds %s, the source %s", name, got, before)
		}
	}

	// The change: later updated_at on some rows, and new rows, all past
	// the stored cursors.
	srcExec(fmt.Sprintf(`update events set updated_at = timestamp '2025-01-01' + id * interval '1 second' + (id %% 991) * interval '1 microsecond' where id %% %d = 0;
insert into events
select g, timestamp '2025-06-01' + g * interval '1 second' + (g %% 983) * interval '1 microsecond', md5(g::text)
from generate_series(%d, %d) g;
analyze events`, ingestKillEvery, ingestKillRows+1, ingestKillRows+ingestKillNew))
	after := srcSum("events")
	appendAfter := srcSum("(select id, updated_at from events_before union all select id, updated_at from events where updated_at > (select max(updated_at) from events_before)) as u")
	want := map[string][2]string{
		"events_full":   {before, after},
		"events_append": {before, appendAfter},
		"events_merge":  {before, after},
	}
	// The first load, of every row into every table, is timed to choose
	// the kill delays: the loads of the change read fewer rows for append
	// and merge, more for replace.
	// The delays are random and taken shortest first: once a run has
	// committed a table, the runs after it find nothing new for append and
	// merge, so the kills that land in their loads are those before it.
	delays := make([]time.Duration, runs)
	for i := range delays {
		delays[i] = rand.N(ingestTime * 9 / 10)
	}
	slices.Sort(delays)
	t.Logf("the first load takes %s; killing %d loads of the change after random delays up to 90%% of that, shortest first", ingestTime.Round(time.Millisecond), runs)

	landed := 0
	points := map[string]int{}
	leftovers := 0
	// firstNew is, for each table, the first run after which it held the
	// change.
	firstNew := map[string]int{}
	// trail says for each run its delay, how far it got and which tables
	// held the change after it.
	var trail []string
	for i, delay := range delays {
		cmd := exec.Command(kilnBin, "ingest", "--project-dir", dir, "--lock-timeout", "30s")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		point := ingestKillPoint(stdout.String())
		switch {
		case ws.Signaled():
			landed++
			points[point]++
		case err != nil:
			t.Fatalf("run %d exited %v before the kill after %s\n%s\n%s", i, err, delay, stdout.String(), stderr.String())
		}
		tg.settle(t, cmd.Process.Pid)
		when := fmt.Sprintf("run %d killed after %s (%s)", i, delay, point)
		got := state(when)
		var changed []string
		for _, name := range ingestKillTables {
			if got[name] == want[name][1] {
				changed = append(changed, strings.TrimPrefix(name, "events_"))
			}
			if _, seen := firstNew[name]; !seen && got[name] == want[name][1] {
				firstNew[name] = i
			}
			if g := got[name]; g != want[name][0] && g != want[name][1] {
				t.Errorf("%s: %s holds %s (rows/sum of ids/sum of updated_at in µs); before the change it was %s, after it is %s",
					when, name, g, want[name][0], want[name][1])
			}
		}
		if !ws.Signaled() {
			point = "finished"
		}
		trail = append(trail, fmt.Sprintf("%s %s → new: %s", delay.Round(time.Millisecond), point, strings.Join(changed, ",")))
		if got[ingestLeftovers] != "0" {
			leftovers++
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d of %d kills landed while kiln was running; kill points: %v; %d left __kiln_ tables behind; first run after which each table held the change: %v\n%s", landed, runs, points, leftovers, firstNew, strings.Join(trail, "\n"))
	// Runs after the one that commits the change are short (append and
	// merge find nothing new), so the longest delays often land after the
	// end.
	if landed*3 < runs {
		t.Errorf("only %d of %d kills landed while kiln was running", landed, runs)
	}

	// A normal run goes through and leaves every table as the source says.
	ingest("final")
	got = state("after a normal run")
	for _, name := range ingestKillTables {
		if got[name] != want[name][1] {
			t.Errorf("after a normal run %s holds %s, want %s", name, got[name], want[name][1])
		}
	}
	if n := got[ingestLeftovers]; n != "0" {
		t.Errorf("a normal run left %s __kiln_ tables behind", n)
	}

	// events_append holds every current source row, each once, and the
	// rows of the first load: compared row by row, not only by checksum.
	have := ingestKillPairs(t, tg, "select id, "+ingestEpochUS(tg.profile.Type)+" from raw.events_append")
	srcPairs := ingestKillPairs(t, killTarget{profile: src, query: srcQuery}, "select id, "+ingestEpochUS("postgres")+" from events union all select id, "+ingestEpochUS("postgres")+" from events_before")
	for p, n := range have {
		if n > 1 {
			t.Errorf("events_append holds (id %d, updated_at %dµs) %d times", p[0], p[1], n)
		} else if srcPairs[p] == 0 {
			t.Errorf("events_append holds (id %d, updated_at %dµs), which the source never had", p[0], p[1])
		}
	}
	missing := 0
	for p := range srcPairs {
		if have[p] == 0 {
			if missing++; missing <= 5 {
				t.Errorf("events_append lacks (id %d, updated_at %dµs)", p[0], p[1])
			}
		}
	}
	if missing > 5 {
		t.Errorf("events_append lacks %d source rows in all", missing)
	}
}

// ingestEpochUS spells updated_at in microseconds since the epoch.
func ingestEpochUS(dialect string) string {
	if dialect == "duckdb" {
		return "epoch_us(updated_at)"
	}
	return "cast(date_part('epoch', updated_at) * 1000000 as bigint)"
}

// ingestChecksumSQL returns rows/sum of ids/sum of updated_at in
// microseconds of from.
func ingestChecksumSQL(dialect, from string) string {
	return fmt.Sprintf("select cast(count(*) as varchar) || '/' || cast(coalesce(sum(id), 0) as varchar) || '/' || cast(coalesce(sum(%s), 0) as varchar) from %s",
		ingestEpochUS(dialect), from)
}

// ingestLeftovers is the key of ingestKillState's count of __kiln_ tables.
const ingestLeftovers = "leftovers"

// ingestKillState returns the checksum of each destination table and, under
// ingestLeftovers, how many __kiln_ tables schema raw holds, all read in one
// query (DuckDB: one opening of the file). A missing table fails the test,
// and so does events_merge holding an id more than once or events_append an
// (id, updated_at) more than once.
func ingestKillState(t *testing.T, tg killTarget, when string) map[string]string {
	t.Helper()
	dups := func(table, key string) string {
		return fmt.Sprintf("(select cast(count(*) as varchar) from (select %s from raw.%s group by %s having count(*) > 1) as d)", key, table, key)
	}
	parts := []string{}
	for _, name := range ingestKillTables {
		parts = append(parts, "("+ingestChecksumSQL(tg.profile.Type, "raw."+name)+")")
	}
	parts = append(parts,
		dups("events_merge", "id"),
		dups("events_append", "id, updated_at"),
		`(select cast(count(*) as varchar) from information_schema.tables where table_schema = 'raw' and table_name like '%\_\_kiln\_%' escape '\')`)
	v, err := tg.query(t, "select "+strings.Join(parts, " || ' ' || "))
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	f := strings.Fields(v)
	if len(f) != len(parts) {
		t.Fatalf("%s: state %q", when, v)
	}
	out := map[string]string{}
	for i, name := range ingestKillTables {
		out[name] = f[i]
	}
	n := len(ingestKillTables)
	if f[n] != "0" {
		t.Errorf("%s: events_merge holds %s ids more than once", when, f[n])
	}
	if f[n+1] != "0" {
		t.Errorf("%s: events_append holds %s (id, updated_at) pairs more than once", when, f[n+1])
	}
	out[ingestLeftovers] = f[n+2]
	return out
}

// ingestKillPairs reads (id, updated_at µs) pairs with how often each
// occurs.
func ingestKillPairs(t *testing.T, tg killTarget, q string) map[[2]int64]int {
	t.Helper()
	out := map[[2]int64]int{}
	if tg.profile.Type == "duckdb" {
		db, err := sql.Open("duckdb", tg.profile.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var p [2]int64
			if err := rows.Scan(&p[0], &p[1]); err != nil {
				t.Fatal(err)
			}
			out[p]++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	conn := pgConnect(t, tg.profile)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var p [2]int64
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			t.Fatal(err)
		}
		out[p]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ingestKillPoint says how far a killed ingest had got, from its output.
func ingestKillPoint(stdout string) string {
	if !strings.Contains(stdout, " START ") {
		return "before loading"
	}
	return fmt.Sprintf("%d/%d loaded", strings.Count(stdout, " OK "), strings.Count(stdout, " START "))
}

// ingestKillProject copies testdata/ingestkill into a temp dir with a
// profiles.yml for p.
func ingestKillProject(t *testing.T, p adapters.Profile) string {
	t.Helper()
	return fixtureProject(t, "ingestkill", "ingestkill", p)
}
