package cli

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// TestBadInput runs kiln over every project in testdata/bad. Each case is a
// directory holding a small project and:
//
//   - expected.txt: substrings, one per line, that must all appear in stderr
//     (blank lines and lines starting with # are ignored);
//   - args.txt (optional): the arguments, one per line, with $DIR standing for
//     the copied project directory; default "build --project-dir $DIR".
//
// Every case must exit 2, must not panic, and must leave the warehouse empty.
func TestBadInput(t *testing.T) {
	root := filepath.Join("..", "..", "..", "testdata", "bad")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the user's profiles and environment out of the cases.
	t.Setenv("HOME", t.TempDir())
	for _, name := range []string{"KILN_BAD_UNSET_TABLE", "KILN_BAD_UNSET_PASSWORD"} {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(root, name)
			want := readLines(t, filepath.Join(src, "expected.txt"))
			if len(want) == 0 {
				t.Fatalf("%s/expected.txt lists no substrings", src)
			}
			dir := t.TempDir()
			copyProject(t, src, dir)
			args := []string{"build", "--project-dir", "$DIR"}
			if _, err := os.Stat(filepath.Join(src, "args.txt")); err == nil {
				args = readLines(t, filepath.Join(src, "args.txt"))
			}
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, "$DIR", dir)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := runNoPanic(t, ctx, args, &stdout, &stderr)
			errOut := stderr.String()
			if t.Failed() {
				return
			}
			if code != ExitInvalid {
				t.Errorf("exit code %d, want %d", code, ExitInvalid)
			}
			for _, w := range want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			if strings.Contains(errOut+stdout.String(), "goroutine ") {
				t.Errorf("output holds a stack trace")
			}
			if !strings.HasPrefix(errOut, "error: ") {
				t.Errorf("stderr does not start with \"error: \"")
			}
			t.Logf("args: %q\nstdout:\n%s\nstderr:\n%s", args, stdout.String(), errOut)
			checkWarehouseEmpty(t, filepath.Join(dir, "warehouse.duckdb"))
		})
	}
	if n == 0 {
		t.Fatalf("no cases in %s", root)
	}
}

// runNoPanic calls Run, turning a panic into a test failure.
func runNoPanic(t *testing.T, ctx context.Context, args []string, stdout, stderr *bytes.Buffer) (code int) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("kiln panicked: %v\nstderr:\n%s", r, stderr.String())
			code = -1
		}
	}()
	return Run(ctx, args, strings.NewReader(""), stdout, stderr)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// copyProject copies the case directory to dst, leaving out the test's own
// files.
func copyProject(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if rel == "expected.txt" || rel == "args.txt" {
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkWarehouseEmpty fails unless path is absent or a DuckDB database with
// no user tables or views.
func checkWarehouseEmpty(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return
	} else if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer db.Close()
	rows, err := db.Query(`select table_schema || '.' || table_name from information_schema.tables
		where table_schema not in ('information_schema', 'pg_catalog')`)
	if err != nil {
		t.Fatalf("listing tables in %s: %v", path, err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) > 0 {
		t.Errorf("warehouse %s was written to: %s", path, strings.Join(got, ", "))
	}
}
