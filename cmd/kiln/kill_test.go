package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/duckdb"
)

// kilnBin is the kiln binary TestMain builds once for the tests that run it
// as a process of its own.
var kilnBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kiln-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kilnBin = filepath.Join(dir, "kiln")
	build := exec.Command("go", "build", "-o", kilnBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building kiln:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// killRelations are the BI-facing relations of testdata/kill, each with an
// expression summed into its checksum. Adding a model to the fixture means
// adding it here.
var killRelations = []struct{ name, sum, where string }{
	{"base", "id * 7 + amount", ""},
	{"numbers", "n", ""},
	{"big", "id * 1000 + n * 3 + v", ""},
	{"big_summary", "rows_in_group * 5 + total", ""},
	{"big_view", "id * 1000 + n * 3 + v", ""},
	{"versioned_view", "id * 11 + a", ""},
	{"base_inc", "id * 13 + a", ""},
	// A snapshot's history depends on when it ran; its current rows do not.
	{"base_history", "id * 17 + a", "dbt_valid_to is null"},
}

// killTarget is one warehouse the kill test builds into.
type killTarget struct {
	profile adapters.Profile
	// query runs one query returning one text value.
	query func(t *testing.T, q string) (string, error)
	// settle waits until nothing of the killed process pid is left.
	settle func(t *testing.T, pid int)
}

// TestKillBuild kills `kiln build` at random points while it moves every
// relation of testdata/kill from version 1 to version 2, and checks after
// each kill that every relation is there and holds version 1 or version 2
// whole, and that the next run is not thrown by what the killed one left.
// KILN_KILL_RUNS sets the number of kills per warehouse (default 25).
func TestKillBuild(t *testing.T) {
	runs := 25
	if s := os.Getenv("KILN_KILL_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("KILN_KILL_RUNS=%q is not a positive number", s)
		}
		runs = n
	}
	t.Run("duckdb", func(t *testing.T) {
		killBuilds(t, runs, func(t *testing.T) killTarget {
			p := adaptertest.DuckDB(t)
			return killTarget{profile: p, query: duckQuery(p.Path), settle: func(*testing.T, int) {}}
		})
	})
	t.Run("postgres", func(t *testing.T) {
		killBuilds(t, runs, func(t *testing.T) killTarget {
			p := adaptertest.Postgres(t)
			return killTarget{profile: p, query: pgQuery(p), settle: pgSettle(p)}
		})
	})
}

func killBuilds(t *testing.T, runs int, newTarget func(t *testing.T) killTarget) {
	v2 := []string{"--vars", "{version: 2}"}

	// The reference: version 2 built from scratch on a target of its own,
	// timed to choose the kill delays.
	ref := newTarget(t)
	refDir := killProject(t, ref.profile)
	t0 := time.Now()
	mustBuild(t, refDir, v2...)
	buildTime := time.Since(t0)
	want2 := checksums(t, ref)

	tg := newTarget(t)
	dir := killProject(t, tg.profile)
	mustBuild(t, dir)
	want1 := checksums(t, tg)
	for _, r := range killRelations {
		if want1[r.name] == want2[r.name] && !strings.Contains(r.name, "base") && r.name != "numbers" {
			t.Fatalf("%s is the same in versions 1 and 2 (%s): the test could not tell them apart", r.name, want1[r.name])
		}
	}
	t.Logf("a build takes %s; killing %d builds after a random delay up to 90%% of that", buildTime.Round(time.Millisecond), runs)

	landed := 0
	points := map[string]int{}
	leftovers := 0
	for i := range runs {
		// Up to most of a build: a kill past its end lands nowhere.
		delay := rand.N(buildTime * 9 / 10)
		cmd := exec.Command(kilnBin, append([]string{"build", "--project-dir", dir, "--lock-timeout", "30s"}, v2...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			landed++
			points[killPoint(stdout.String())]++
		case err != nil:
			t.Fatalf("run %d exited %v before the kill after %s\n%s\n%s", i, err, delay, stdout.String(), stderr.String())
		}
		tg.settle(t, cmd.Process.Pid)
		got := checksums(t, tg)
		for _, r := range killRelations {
			if g := got[r.name]; g != want1[r.name] && g != want2[r.name] {
				t.Errorf("run %d killed after %s (%s): %s holds %s; version 1 is %s, version 2 is %s",
					i, delay, killPoint(stdout.String()), r.name, g, want1[r.name], want2[r.name])
			}
		}
		if n := tg.count(t); n > 0 {
			leftovers++
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d of %d kills landed while kiln was running; kill points: %v; %d left __kiln_ relations behind", landed, runs, points, leftovers)
	if landed*2 < runs {
		t.Errorf("only %d of %d kills landed while kiln was running", landed, runs)
	}

	// A normal run goes through and leaves version 2 and nothing else.
	mustBuild(t, dir, v2...)
	got := checksums(t, tg)
	for _, r := range killRelations {
		if got[r.name] != want2[r.name] {
			t.Errorf("after a normal run %s holds %s, want version 2 %s", r.name, got[r.name], want2[r.name])
		}
	}
	if n := tg.count(t); n > 0 {
		t.Errorf("a normal run left %d __kiln_ relations behind", n)
	}
}

// count returns how many __kiln_tmp/__kiln_backup relations the schema
// holds.
func (tg killTarget) count(t *testing.T) int {
	t.Helper()
	s, err := tg.query(t, fmt.Sprintf("select cast(count(*) as varchar) from information_schema.tables where table_schema = '%s' and table_name like '%%\\_\\_kiln\\_%%' escape '\\'", tg.profile.Schema))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(s)
	return n
}

// killPoint says how far a killed build had got, from its output.
func killPoint(stdout string) string {
	if !strings.Contains(stdout, "Running ") {
		return "before running"
	}
	done := strings.Count(stdout, " OK ")
	started := strings.Count(stdout, " START ")
	return fmt.Sprintf("%d/%d done", done, started)
}

func checksums(t *testing.T, tg killTarget) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range killRelations {
		q := fmt.Sprintf("select cast(count(*) as varchar) || '/' || cast(coalesce(sum(%s), 0) as varchar) from %s.%s", r.sum, tg.profile.Schema, r.name)
		if r.where != "" {
			q += " where " + r.where
		}
		v, err := tg.query(t, q)
		if err != nil {
			t.Errorf("%s: %v", r.name, err)
			continue
		}
		if strings.HasPrefix(v, "0/") {
			t.Errorf("%s is empty", r.name)
		}
		out[r.name] = v
	}
	return out
}

func mustBuild(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(kilnBin, append([]string{"build", "--project-dir", dir, "--lock-timeout", "30s"}, args...)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kiln build %v: %v\n%s", args, err, out)
	}
}

// killProject copies testdata/kill into a temp dir with a profiles.yml for p.
func killProject(t *testing.T, p adapters.Profile) string {
	t.Helper()
	return fixtureProject(t, "kill", "kill", p)
}

// fixtureProject copies testdata/<fixture> into a temp dir and writes a
// profiles.yml naming profile, with one target for p.
func fixtureProject(t *testing.T, fixture, profile string, p adapters.Profile) string {
	t.Helper()
	src := filepath.Join("..", "..", "testdata", fixture)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if d.Name() == "target" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if p.Type == "postgres" {
		out = fmt.Sprintf("type: postgres\n      host: %s\n      port: %d\n      user: %s\n      password: %q\n      dbname: %s\n      sslmode: disable", p.Host, p.Port, p.User, p.Password, p.DBName)
	} else {
		out = fmt.Sprintf("type: duckdb\n      path: %s", p.Path)
	}
	body := fmt.Sprintf("%s:\n  target: ci\n  outputs:\n    ci:\n      %s\n      schema: %s\n      threads: 4\n", profile, out, p.Schema)
	if err := os.WriteFile(filepath.Join(dst, "profiles.yml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// duckQuery opens the file for each query, as the next run would: a killed
// run may have left a WAL, which opening replays. It closes the file again
// so that kiln can open it.
func duckQuery(path string) func(t *testing.T, q string) (string, error) {
	return func(t *testing.T, q string) (string, error) {
		db, err := sql.Open("duckdb", path)
		if err != nil {
			return "", err
		}
		defer db.Close()
		var v string
		err = db.QueryRow(q).Scan(&v)
		return v, err
	}
}

func pgConnect(t *testing.T, p adapters.Profile) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", p.User, p.Password, p.Host, p.Port, p.DBName))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func pgQuery(p adapters.Profile) func(t *testing.T, q string) (string, error) {
	return func(t *testing.T, q string) (string, error) {
		conn := pgConnect(t, p)
		defer conn.Close(context.Background())
		var v string
		err := conn.QueryRow(context.Background(), q).Scan(&v)
		return v, err
	}
}

// pgSettle waits until the server has ended every session of process pid
// (they name it in application_name), so its transactions are rolled back
// and its run lock released.
func pgSettle(p adapters.Profile) func(t *testing.T, pid int) {
	return func(t *testing.T, pid int) {
		t.Helper()
		conn := pgConnect(t, p)
		defer conn.Close(context.Background())
		deadline := time.Now().Add(20 * time.Second)
		for {
			var n int
			err := conn.QueryRow(context.Background(), "select count(*) from pg_stat_activity where application_name like $1", fmt.Sprintf("kiln pid %d %%", pid)).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d sessions of killed kiln pid %d still open after 20s", n, pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestLockDuckDBAcrossProcesses holds a DuckDB target from this process, as
// a kiln run does (the lock file and the open database), and runs the kiln
// binary against it: DuckDB lets one process open the file, and every
// command must say who has it.
func TestLockDuckDBAcrossProcesses(t *testing.T) {
	p := adaptertest.DuckDB(t)
	dir := killProject(t, p)
	mustBuild(t, dir)
	kiln := func(args ...string) (int, string) {
		cmd := exec.Command(kilnBin, append(args, "--project-dir", dir)...)
		out, err := cmd.CombinedOutput()
		if err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	host, _ := os.Hostname()
	self := fmt.Sprintf("(pid %d on host %s since ", os.Getpid(), host)

	unlock, err := duckdb.LockFile(context.Background(), p.Path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	db, err := sql.Open("duckdb", p.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{{"build"}, {"show", "--inline", "select 1"}} {
		code, out := kiln(args...)
		if code != 2 || !strings.Contains(out, `error: another kiln run holds the lock on target "ci" `+self) {
			t.Errorf("kiln %v with the target held by a run: exit %d\n%s", args, code, out)
		}
	}

	// Another program (this test binary, without the lock file) has the
	// file open.
	unlock()
	code, out := kiln("build")
	if code != 2 || !strings.Contains(out, fmt.Sprintf(`error: another process holds the lock on target "ci" (pid %d, `, os.Getpid())) {
		t.Errorf("kiln build with the file open elsewhere: exit %d\n%s", code, out)
	}

	// Waiting: the file is let go after a second.
	time.AfterFunc(time.Second, func() { db.Close() })
	if code, out := kiln("build", "--lock-timeout", "30s"); code != 0 {
		t.Errorf("kiln build --lock-timeout 30s: exit %d\n%s", code, out)
	}
}
