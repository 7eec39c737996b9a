// Package gen writes synthetic dbt projects for benchmarks and tests.
//
// The projects exercise the common parse-time features: ref() chains,
// source() and seed references, a project macro called with a keyword
// argument, {% for %} loops with loop.last, var(), config() calls, a
// folder-based models: config tree and per-folder schema.yml files.
// Output is deterministic for a given n.
package gen

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
)

// ProjectName is the name written to dbt_project.yml.
const ProjectName = "bench"

// ModelsPerFolder is how many models share one models/ subfolder.
const ModelsPerFolder = 100

// Roots is how many of the first models read a seed or a source instead of
// other models.
const Roots = 5

// ModelName is the name of model i.
func ModelName(i int) string { return fmt.Sprintf("model_%05d", i) }

// Folder is the models/ subfolder of model i.
func Folder(i int) string { return fmt.Sprintf("f%03d", i/ModelsPerFolder) }

// TableFolder reports whether the project file materializes folder f (by
// index) as tables.
func TableFolder(f int) bool { return f%3 == 1 }

// Parents returns the models model i refs, for the generator's seed. Roots
// return nil.
func Parents(n int) [][]int {
	r := rand.New(rand.NewSource(42))
	out := make([][]int, n)
	for i := Roots; i < n; i++ {
		k := 1 + r.Intn(3)
		seen := map[int]bool{}
		for len(out[i]) < k && len(seen) < i {
			p := r.Intn(i)
			// Prefer recent parents so the graph is deep, not a star.
			if i > 50 && r.Intn(2) == 0 {
				p = i - 1 - r.Intn(50)
			}
			if !seen[p] {
				seen[p] = true
				out[i] = append(out[i], p)
			}
		}
	}
	return out
}

// Project writes a project with n models into dir (created if needed).
func Project(dir string, n int) error {
	if n < 1 {
		return fmt.Errorf("gen: need at least one model, got %d", n)
	}
	folders := (n + ModelsPerFolder - 1) / ModelsPerFolder
	files := map[string]string{}

	var pf strings.Builder
	pf.WriteString("name: " + ProjectName + "\nversion: \"1.0.0\"\nconfig-version: 2\n\n")
	pf.WriteString("model-paths: [\"models\"]\nseed-paths: [\"seeds\"]\nmacro-paths: [\"macros\"]\ntarget-path: target\n\n")
	pf.WriteString("vars:\n  bench_columns: [col_a, col_b, col_c]\n  bench_limit: 1000\n\n")
	pf.WriteString("models:\n  " + ProjectName + ":\n    +materialized: view\n")
	for f := 0; f < folders; f++ {
		if TableFolder(f) {
			fmt.Fprintf(&pf, "    f%03d:\n      +materialized: table\n", f)
		}
	}
	files["dbt_project.yml"] = pf.String()

	files["seeds/raw_events.csv"] = "id,amount,col_a,col_b,col_c\n1,100,a,b,c\n2,250,d,e,f\n"
	files["macros/bench.sql"] = `{% macro scaled(column, factor=1) -%}
    ({{ column }} * {{ factor }})
{%- endmacro %}
`
	files["models/sources.yml"] = `version: 2

sources:
  - name: raw
    schema: raw
    tables:
      - name: events
        description: Raw events.
`

	r := rand.New(rand.NewSource(7))
	parents := Parents(n)
	schemas := make([]strings.Builder, folders)
	for f := range schemas {
		schemas[f].WriteString("version: 2\n\nmodels:\n")
	}
	for i := 0; i < n; i++ {
		var b strings.Builder
		if i%5 == 2 {
			b.WriteString("{{ config(materialized='table') }}\n")
		}
		b.WriteString("{% set cols = var('bench_columns') %}\n\nwith\n")
		if i < Roots {
			if i%2 == 0 {
				b.WriteString("p0 as (select * from {{ ref('raw_events') }})\n")
			} else {
				b.WriteString("p0 as (select * from {{ source('raw', 'events') }})\n")
			}
		} else {
			for j, p := range parents[i] {
				if j > 0 {
					b.WriteString(",\n")
				}
				fmt.Fprintf(&b, "p%d as (select * from {{ ref('%s') }})", j, ModelName(p))
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, `
select
    p0.id,
    {{ scaled('p0.amount', factor=%d) }} as amount,
    {%% for c in cols -%%}
    p0.{{ c }}{%% if not loop.last %%},{%% endif %%}
    {%% endfor %%}
from p0
`, 1+r.Intn(9))
		for j := 1; j < len(parents[i]); j++ {
			fmt.Fprintf(&b, "left join p%d on p%d.id = p0.id\n", j, j)
		}
		b.WriteString("where p0.id < {{ var('bench_limit') }}\n")
		files[filepath.ToSlash(filepath.Join("models", Folder(i), ModelName(i)+".sql"))] = b.String()

		s := &schemas[i/ModelsPerFolder]
		fmt.Fprintf(s, `  - name: %s
    description: Synthetic model %d.
    columns:
      - name: id
        description: Primary key.
        tests: [unique, not_null]
      - name: amount
        description: Scaled amount.
`, ModelName(i), i)
	}
	for f := range schemas {
		files[fmt.Sprintf("models/f%03d/schema.yml", f)] = schemas[f].String()
	}
	for name, src := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			return err
		}
	}
	return nil
}
