package compiler_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/compiler"
	"github.com/kilnhq/kiln/compiler/internal/gen"
	"github.com/kilnhq/kiln/compiler/jinja/builtin"
	"github.com/kilnhq/kiln/compiler/project"
)

// loadAndCompile mirrors the CLI's load (cmd/kiln/cli/session.go) with the
// embedded DuckDB default target, then compiles every model in memory.
func loadAndCompile(ctx context.Context, dir string) (*compiler.Compiler, []string, error) {
	sr := &compiler.StringRenderer{}
	p, err := project.Load(dir, project.LoadOptions{Render: sr.Render})
	if err != nil {
		return nil, nil, err
	}
	sr.Vars = p.Vars
	t := &project.Target{Name: "default", Profile: adapters.Profile{
		Type: "duckdb", Path: filepath.Join(dir, "warehouse.duckdb"), Schema: "main", Threads: 4,
	}}
	files, err := builtin.Files()
	if err != nil {
		return nil, nil, err
	}
	c, err := compiler.Parse(ctx, p, compiler.Options{Target: t, Builtins: files, Command: "compile"})
	if err != nil {
		return nil, nil, err
	}
	var ids []string
	for _, id := range c.SortedIDs() {
		if c.Node(id).Type == compiler.Model {
			ids = append(ids, id)
		}
	}
	if err := c.Compile(ctx, ids, nil); err != nil {
		return nil, nil, err
	}
	return c, ids, nil
}

func TestGeneratedProjectCompiles(t *testing.T) {
	const n = 50
	dir := t.TempDir()
	if err := gen.Project(dir, n); err != nil {
		t.Fatal(err)
	}
	c, ids, err := loadAndCompile(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n {
		t.Fatalf("compiled %d models, want %d", len(ids), n)
	}
	parents := gen.Parents(n)
	for i := 0; i < n; i++ {
		name := gen.ModelName(i)
		id := "model." + gen.ProjectName + "." + name
		node := c.Node(id)
		if node == nil {
			t.Fatalf("no node %s", id)
		}
		sql := node.Compiled
		if sql == "" {
			t.Fatalf("%s: empty compiled SQL", name)
		}
		if strings.Contains(sql, "{{") || strings.Contains(sql, "{%") {
			t.Errorf("%s: Jinja left in compiled SQL:\n%s", name, sql)
		}
		for _, p := range parents[i] {
			want := fmt.Sprintf(`"warehouse"."main"."%s"`, gen.ModelName(p))
			if !strings.Contains(sql, want) {
				t.Errorf("%s: ref to %s did not resolve to %s:\n%s", name, gen.ModelName(p), want, sql)
			}
			if !contains(node.DependsOn, "model."+gen.ProjectName+"."+gen.ModelName(p)) {
				t.Errorf("%s: depends_on %v lacks %s", name, node.DependsOn, gen.ModelName(p))
			}
		}
		switch {
		case i < gen.Roots && i%2 == 0:
			if !strings.Contains(sql, `"warehouse"."main"."raw_events"`) {
				t.Errorf("%s: seed ref not resolved:\n%s", name, sql)
			}
		case i < gen.Roots:
			if !strings.Contains(sql, `"warehouse"."raw"."events"`) {
				t.Errorf("%s: source not resolved:\n%s", name, sql)
			}
		}
		if !strings.Contains(sql, "p0.col_a,\n") || !strings.Contains(sql, "p0.col_c\n") || strings.Contains(sql, "p0.col_c,") {
			t.Errorf("%s: for loop / loop.last rendered wrongly:\n%s", name, sql)
		}
		if !strings.Contains(sql, "(p0.amount * ") || !strings.Contains(sql, "where p0.id < 1000") {
			t.Errorf("%s: macro keyword argument or var() not rendered:\n%s", name, sql)
		}
		wantMat := "view"
		if i%5 == 2 || gen.TableFolder(i/gen.ModelsPerFolder) {
			wantMat = "table"
		}
		if got := node.Materialized(); got != wantMat {
			t.Errorf("%s: materialized %q, want %q", name, got, wantMat)
		}
		if node.Description == "" {
			t.Errorf("%s: schema.yml description not applied", name)
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// BenchmarkParseCompile measures project.Load + compiler.Parse + Compile of
// every model of a generated project (no files written). Besides -benchmem,
// it reports MB allocated per op and the Go heap obtained from the OS
// (heap-sys-MB, a lower bound of peak RSS for the process).
func BenchmarkParseCompile(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("models=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			if err := gen.Project(dir, n); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, ids, err := loadAndCompile(ctx, dir)
				if err != nil {
					b.Fatal(err)
				}
				if len(ids) != n {
					b.Fatalf("compiled %d models, want %d", len(ids), n)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "alloc-MB/op")
			b.ReportMetric(float64(after.HeapSys)/(1<<20), "heap-sys-MB")
		})
	}
}

// TestWriteGeneratedProject writes a generated project for measuring the
// CLI: KILN_GEN_DIR=/tmp/p KILN_GEN_N=10000 go test -run TestWriteGeneratedProject ./compiler/
func TestWriteGeneratedProject(t *testing.T) {
	dir := os.Getenv("KILN_GEN_DIR")
	if dir == "" {
		t.Skip("set KILN_GEN_DIR (and KILN_GEN_N) to write a generated project")
	}
	n, err := strconv.Atoi(os.Getenv("KILN_GEN_N"))
	if err != nil {
		n = 10000
	}
	if err := gen.Project(dir, n); err != nil {
		t.Fatal(err)
	}
}
