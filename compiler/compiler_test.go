package compiler_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/compiler"
)

// writeProject writes files (path → content) into a temp dir.
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
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

func TestConfigPrecedenceAndNaming(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"dbt_project.yml": `name: p
models:
  p:
    +tags: [base]
    +materialized: view
    marts:
      +materialized: table
      +schema: marts
      +tags: [marts]
`,
		"models/marts/a.sql":  "{{ config(materialized='incremental', tags=['inline']) }}select 1 as x",
		"models/marts/b.sql":  "select * from {{ ref('a') }}",
		"models/c.sql":        "{{ config(enabled=false) }}select 1",
		"models/schema.yml":   "version: 2\nmodels:\n  - name: b\n    config:\n      alias: bee\n      materialized: ephemeral\n",
		"macros/override.sql": "{% macro generate_schema_name(custom, node) %}{{ 'x_' ~ (custom or 'none') }}{% endmacro %}",
	})
	c, _, err := loadAndCompile(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Node("model.p.a")
	if a.Type != compiler.Model {
		t.Fatalf("a is a %s", a.Type)
	}
	if a.Materialized() != "incremental" || strings.Join(a.Config.Tags(), ",") != "base,inline,marts" {
		t.Errorf("a: %s %v", a.Materialized(), a.Config.Tags())
	}
	if a.Schema != "x_marts" {
		t.Errorf("generate_schema_name override: schema %q", a.Schema)
	}
	b := c.Node("model.p.b")
	if b.Materialized() != "ephemeral" || b.Alias != "bee" {
		t.Errorf("b: %s %s", b.Materialized(), b.Alias)
	}
	if c.Node("model.p.c") != nil {
		t.Error("disabled model c is in the graph")
	}
}

func TestNestedEphemeralsInlineInOrder(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"dbt_project.yml":   "name: p\nmodels:\n  p:\n    eph:\n      +materialized: ephemeral\n",
		"models/eph/e1.sql": "select 1 as id",
		"models/eph/e2.sql": "select id from {{ ref('e1') }}",
		"models/final.sql":  "-- leading comment\nwith x as (select * from {{ ref('e2') }})\nselect * from x join {{ ref('e1') }} using (id)",
	})
	c, _, err := loadAndCompile(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Node("model.p.final").Compiled
	want := "-- leading comment\nwith __dbt__cte__e1 as (\nselect 1 as id\n), __dbt__cte__e2 as (\nselect id from __dbt__cte__e1\n), x as (select * from __dbt__cte__e2)\nselect * from x join __dbt__cte__e1 using (id)"
	if got != want {
		t.Errorf("compiled:\n%s\nwant:\n%s", got, want)
	}
	if deps := strings.Join(c.Node("model.p.final").DependsOn, ","); deps != "model.p.e1,model.p.e2" {
		t.Errorf("depends_on %s", deps)
	}
}

func TestVarsAndEnvVars(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"dbt_project.yml": "name: p\nvars:\n  g: global\n  p:\n    scoped: mine\n",
		"models/m.sql":    "select '{{ var('g') }}', '{{ var('scoped') }}', '{{ var('missing', 'dflt') }}', '{{ env_var('KILN_TEST_UNSET_X', 'e') }}', '{{ target.schema }}', {{ this }}",
	})
	c, _, err := loadAndCompile(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := `select 'global', 'mine', 'dflt', 'e', 'main', "warehouse"."main"."m"`
	if got := c.Node("model.p.m").Compiled; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}
