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

func TestSnapshotsParse(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"dbt_project.yml":   "name: p\nsnapshots:\n  p:\n    +target_schema: history\n",
		"models/orders.sql": "select 1 as id, now() as updated_at",
		"snapshots/orders_snapshot.sql": `-- history of orders
{% snapshot orders_snapshot %}
{{ config(unique_key='id', strategy='timestamp', updated_at='updated_at') }}
select * from {{ ref('orders') }}
{% endsnapshot %}
`,
		"snapshots/schema.yml": "version: 2\nsnapshots:\n  - name: orders_yaml\n    relation: ref('orders')\n    config:\n      unique_key: id\n      strategy: check\n      check_cols: all\n",
	})
	c, _, err := loadAndCompile(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Node("snapshot.p.orders_snapshot")
	if s == nil || s.Type != compiler.Snapshot || s.Schema != "history" || s.Alias != "orders_snapshot" {
		t.Fatalf("snapshot node %+v", s)
	}
	if err := c.Compile(context.Background(), []string{s.UniqueID, "snapshot.p.orders_yaml"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(s.Compiled); got != `select * from "warehouse"."main"."orders"` {
		t.Errorf("compiled %q", got)
	}
	if y := c.Node("snapshot.p.orders_yaml"); y == nil || strings.TrimSpace(y.Compiled) != `select * from "warehouse"."main"."orders"` || y.Config.String("strategy") != "check" {
		t.Errorf("yaml snapshot %+v", y)
	}
}

func TestSnapshotConfigErrors(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"dbt_project.yml":     "name: p\n",
		"snapshots/s.sql":     "\n{% snapshot s %}\n{{ config(unique_key='id', strategy='timestamp') }}\nselect 1 as id\n{% endsnapshot %}\n",
		"snapshots/other.sql": "{% snapshot o %}\n{{ config(strategy='check', check_cols=['a'], hard_deletes='purge') }}\nselect 1 as a\n{% endsnapshot %}\n",
	})
	_, _, err := loadAndCompile(context.Background(), dir)
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		"snapshots/s.sql:3:4: snapshot s: strategy timestamp needs `updated_at`",
		"snapshots/other.sql:1: snapshot o needs a `unique_key`",
		"hard_deletes must be ignore, invalidate or new_record",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}
