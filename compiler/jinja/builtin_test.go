package jinja_test

import (
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/kilnhq/kiln/compiler/jinja"
	"github.com/kilnhq/kiln/compiler/jinja/builtin"
)

var dialects = []string{"duckdb", "postgres"}

// testTarget is the `target` every render sees.
func testTarget(dialect string) map[string]any {
	return map[string]any{"name": "dev", "type": dialect, "schema": "analytics", "database": "warehouse"}
}

func builtinEnv(t *testing.T, files ...jinja.SourceFile) *jinja.Env {
	t.Helper()
	lib, err := builtin.Files()
	if err != nil {
		t.Fatal(err)
	}
	env, err := jinja.NewEnv("proj", lib, files)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func renderWith(t *testing.T, env *jinja.Env, dialect, src string, globals map[string]any) string {
	t.Helper()
	tpl, err := env.Parse("models/m.sql", src)
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]any{"target": testTarget(dialect)}
	for k, v := range globals {
		all[k] = v
	}
	res, err := env.Render(tpl, &jinja.Context{Dialect: dialect, Globals: all})
	if err != nil {
		t.Fatalf("rendering %q: %v", src, err)
	}
	return res.Output
}

var (
	dbOnce sync.Once
	dbs    = map[string]*sql.DB{}
	dbErrs = map[string]error{}
)

// openDB returns a live database for dialect: an in-memory DuckDB, or the
// Postgres at KILN_TEST_POSTGRES_URL (skipping when unset, outside CI).
func openDB(t *testing.T, dialect string) *sql.DB {
	t.Helper()
	dbOnce.Do(func() {
		if db, err := sql.Open("duckdb", ""); err != nil {
			dbErrs["duckdb"] = err
		} else {
			dbs["duckdb"] = db
		}
		if url := os.Getenv("KILN_TEST_POSTGRES_URL"); url != "" {
			db, err := sql.Open("pgx", url)
			if err == nil {
				err = db.Ping()
			}
			if err != nil {
				dbErrs["postgres"] = err
			} else {
				dbs["postgres"] = db
			}
		}
	})
	if err := dbErrs[dialect]; err != nil {
		t.Fatalf("opening %s: %v", dialect, err)
	}
	db := dbs[dialect]
	if db == nil {
		if os.Getenv("CI") != "" {
			t.Fatal("KILN_TEST_POSTGRES_URL must be set in CI")
		}
		t.Skip("KILN_TEST_POSTGRES_URL is not set")
	}
	return db
}

// queryText runs the rendered `select ... as v` and returns v as text, or
// "<null>".
func queryText(t *testing.T, db *sql.DB, rendered string) string {
	t.Helper()
	var v sql.NullString
	if err := db.QueryRow("select cast(v as text) from (" + rendered + ") as q").Scan(&v); err != nil {
		t.Fatalf("running\n%s\n: %v", rendered, err)
	}
	if !v.Valid {
		return "<null>"
	}
	return v.String
}

// valueCase is one template `select ... as v` and the text of v it must give.
type valueCase struct {
	tpl      string
	want     string
	duckdb   string // overrides want on DuckDB
	postgres string // overrides want on Postgres
	only     string // run on this dialect only
}

func (c valueCase) wantFor(dialect string) string {
	switch {
	case dialect == "duckdb" && c.duckdb != "":
		return c.duckdb
	case dialect == "postgres" && c.postgres != "":
		return c.postgres
	}
	return c.want
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

const letters = ` from (values ('b', 2), ('a', 1), ('c', 3)) as t(x, n)`

var valueCases = map[string][]valueCase{
	"date_trunc": {
		{tpl: `select {{ dbt.date_trunc('month', "cast('2024-05-17 13:45:00' as timestamp)") }} as v`, want: "2024-05-01 00:00:00"},
		{tpl: `select {{ dbt.date_trunc('week', "cast('2024-05-17 13:45:00' as timestamp)") }} as v`, want: "2024-05-13 00:00:00"},
		{tpl: `select {{ date_trunc('year', "cast('2024-05-17 13:45:00' as timestamp)") }} as v`, want: "2024-01-01 00:00:00"},
		{tpl: `select cast({{ dbt.date_trunc('quarter', "cast('2024-05-17' as date)") }} as date) as v`, want: "2024-04-01"},
	},
	"dateadd": {
		{tpl: `select {{ dbt.dateadd('month', 1, "cast('2024-01-31' as date)") }} as v`, want: "2024-02-29 00:00:00"},
		{tpl: `select {{ dbt.dateadd('quarter', -1, "cast('2024-05-17' as date)") }} as v`, want: "2024-02-17 00:00:00"},
		{tpl: `select {{ dbt.dateadd('day', '1 + 2', "cast('2024-05-17' as date)") }} as v`, want: "2024-05-20 00:00:00"},
		{tpl: `select {{ dbt.dateadd('week', 2, "cast('2024-05-17' as date)") }} as v`, want: "2024-05-31 00:00:00"},
		{tpl: `select {{ dateadd('hour', 5, "cast('2024-05-17 22:00:00' as timestamp)") }} as v`, want: "2024-05-18 03:00:00"},
		{tpl: `select {{ dbt.dateadd('year', 1, "cast('2024-02-29' as date)") }} as v`, want: "2025-02-28 00:00:00"},
	},
	"last_day": {
		{tpl: `select {{ dbt.last_day("cast('2024-02-10' as date)", 'month') }} as v`, want: "2024-02-29"},
		{tpl: `select {{ dbt.last_day("cast('2024-05-17' as date)", 'quarter') }} as v`, want: "2024-06-30"},
		{tpl: `select {{ last_day("cast('2023-05-17 08:00:00' as timestamp)", 'year') }} as v`, want: "2023-12-31"},
	},
	"current_timestamp": {
		{tpl: `select extract(year from {{ dbt.current_timestamp() }}) >= 2024 as v`, want: "true"},
	},
	"types": {
		{tpl: `select {{ typeof }}(cast(null as {{ dbt.type_string() }})) as v`, duckdb: "VARCHAR", postgres: "text"},
		{tpl: `select {{ typeof }}(cast(null as {{ dbt.type_int() }})) as v`, duckdb: "INTEGER", postgres: "integer"},
		{tpl: `select {{ typeof }}(cast(null as {{ dbt.type_bigint() }})) as v`, duckdb: "BIGINT", postgres: "bigint"},
		{tpl: `select {{ typeof }}(cast(null as {{ dbt.type_numeric() }})) as v`, duckdb: "DECIMAL(28,6)", postgres: "numeric"},
		{tpl: `select {{ typeof }}(cast(null as {{ dbt.type_float() }})) as v`, duckdb: "DOUBLE", postgres: "double precision"},
		{tpl: `select {{ typeof }}(cast(null as {{ dbt.type_timestamp() }})) as v`, duckdb: "TIMESTAMP", postgres: "timestamp without time zone"},
		{tpl: `select {{ typeof }}(cast(null as {{ dbt.type_boolean() }})) as v`, duckdb: "BOOLEAN", postgres: "boolean"},
		{tpl: `select cast('1.5' as {{ dbt.type_numeric() }}) as v`, want: "1.500000"},
		{tpl: `select cast('2.25' as {{ type_float() }}) as v`, want: "2.25"},
	},
	"safe_cast": {
		{tpl: `select {{ dbt.safe_cast("'42'", dbt.type_int()) }} + 1 as v`, want: "43"},
		{tpl: `select {{ dbt.safe_cast("'abc'", dbt.type_int()) }} as v`, want: "<null>", only: "duckdb"},
	},
	"cast_bool_to_text": {
		{tpl: `select {{ dbt.cast_bool_to_text('1 = 1') }} as v`, want: "true"},
		{tpl: `select {{ dbt.cast_bool_to_text('false') }} as v`, want: "false"},
	},
	"concat": {
		{tpl: `select {{ dbt.concat(["'a'", "cast(1 as text)", "null", "'c'"]) }} as v`, want: "a1c"},
	},
	"hash": {
		{tpl: `select {{ dbt.hash("'kiln'") }} as v`, want: md5Hex("kiln")},
		{tpl: `select {{ hash('42') }} as v`, want: md5Hex("42")},
	},
	"split_part": {
		{tpl: `select {{ dbt.split_part("'a,b,c'", "','", 2) }} as v`, want: "b"},
		{tpl: `select {{ dbt.split_part("'a,b,c'", "','", -1) }} as v`, want: "c"},
		{tpl: `select {{ dbt.split_part("'a,b,c'", "','", -3) }} as v`, want: "a"},
		{tpl: `select {{ dbt.split_part("'a,b,c'", "','", 5) }} as v`, want: ""},
	},
	"position": {
		{tpl: `select {{ dbt.position("'c'", "'abcdef'") }} as v`, want: "3"},
		{tpl: `select {{ dbt.position("'z'", "'abcdef'") }} as v`, want: "0"},
	},
	"length": {
		{tpl: `select {{ dbt.length("'kiln'") }} as v`, want: "4"},
	},
	"replace": {
		{tpl: `select {{ dbt.replace("'a-b-c'", "'-'", "'+'") }} as v`, want: "a+b+c"},
	},
	"right": {
		{tpl: `select {{ dbt.right("'abcdef'", 2) }} as v`, want: "ef"},
	},
	"escape_single_quotes": {
		{tpl: `select '{{ dbt.escape_single_quotes("it's") }}' as v`, want: "it's"},
	},
	"string_literal": {
		{tpl: `select {{ dbt.string_literal("O'Brien") }} as v`, want: "O'Brien"},
		{tpl: `select {{ string_literal(42) }} as v`, want: "42"},
	},
	"any_value": {
		{tpl: `select {{ dbt.any_value('x') }} as v from (values (7), (7)) as t(x)`, want: "7"},
	},
	"bool_or": {
		{tpl: `select {{ dbt.bool_or('x') }} as v from (values (false), (true)) as t(x)`, want: "true"},
		{tpl: `select {{ dbt.bool_or('x') }} as v from (values (false), (false)) as t(x)`, want: "false"},
	},
	"listagg": {
		{tpl: `select {{ dbt.listagg('x', "', '", 'order by n') }} as v` + letters, want: "a, b, c"},
		{tpl: `select {{ dbt.listagg('x', order_by_clause='order by n desc') }} as v` + letters, want: "c,b,a"},
		{tpl: `select {{ dbt.listagg('x', "'|'", 'order by n', 2) }} as v` + letters, want: "a|b"},
		{tpl: `select length({{ listagg('x') }}) as v` + letters, want: "5"},
	},
	"intersect": {
		{tpl: `select count(*) as v from (select x from (values (1), (2)) as t(x) {{ dbt.intersect() }} select 2) as s`, want: "1"},
	},
	"except": {
		{tpl: `select min(x) as v from (select x from (values (1), (2)) as t(x) {{ dbt.except() }} select 2) as s`, want: "1"},
	},
	"array_construct": {
		{tpl: `select ({{ dbt.array_construct(['1', '2', '3']) }})[2] as v`, want: "2"},
		{tpl: `select ({{ dbt.array_construct([]) }})[1] is null as v`, want: "true"},
		{tpl: `select {{ typeof }}(({{ dbt.array_construct([], dbt.type_string()) }})[1]) as v`, duckdb: "VARCHAR", postgres: "text"},
	},
	"generate_series": {
		{tpl: `select cast(count(*) as bigint) * 1000 + cast(sum(generated_number) as bigint) as v from ({{ dbt.generate_series(10) }}) as s`, want: "10055"},
	},
}

// datediffCases run through dbt.datediff and, to keep the portable
// implementation honest on both databases, dbt.default__datediff.
var datediffCases = []struct {
	first, second, part string
	want                string
}{
	{"'2024-01-31'", "'2024-03-01'", "month", "2"},
	{"'2024-03-01'", "'2024-01-31'", "month", "-2"},
	{"'2024-05-17'", "'2024-05-17'", "month", "0"},
	{"'2023-12-31'", "'2024-01-01'", "year", "1"},
	{"'2023-11-15'", "'2024-05-01'", "quarter", "2"},
	{"'2024-01-31'", "'2024-03-01'", "day", "30"},
	{"'2024-01-01 23:00:00'", "'2024-01-02 01:00:00'", "day", "1"},
	{"'2024-01-14'", "'2024-01-15'", "week", "1"},
	{"'2024-01-15'", "'2024-01-21'", "week", "0"},
	{"'2024-01-21'", "'2024-01-08'", "week", "-1"},
	{"'2024-01-31 10:59:00'", "'2024-01-31 11:00:00'", "hour", "1"},
	{"'2024-01-31 23:30:00'", "'2024-02-01 01:10:00'", "hour", "2"},
	{"'2024-01-31 10:00:59'", "'2024-01-31 10:01:00'", "minute", "1"},
	{"'2024-01-31 10:00:00.9'", "'2024-01-31 10:00:01.1'", "second", "1"},
	{"'2024-01-31 10:00:01.1'", "'2024-01-30 10:00:00.9'", "second", "-86401"},
	{"cast('2024-01-01' as date)", "cast('2025-01-01 00:00:00' as timestamp)", "DAY", "366"},
}

func TestBuiltinMacroValues(t *testing.T) {
	env := builtinEnv(t)
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			db := openDB(t, dialect)
			typeOf := map[string]string{"duckdb": "typeof", "postgres": "pg_typeof"}[dialect]
			globals := map[string]any{"typeof": typeOf}
			run := func(t *testing.T, tpl, want string) {
				t.Helper()
				rendered := renderWith(t, env, dialect, tpl, globals)
				if got := queryText(t, db, rendered); got != want {
					t.Errorf("%s\nrendered: %s\ngot  %q\nwant %q", tpl, rendered, got, want)
				}
			}
			for macro, cases := range valueCases {
				t.Run(macro, func(t *testing.T) {
					for _, c := range cases {
						if c.only != "" && c.only != dialect {
							continue
						}
						run(t, c.tpl, c.wantFor(dialect))
					}
				})
			}
			t.Run("datediff", func(t *testing.T) {
				for _, c := range datediffCases {
					for _, m := range []string{"dbt.datediff", "dbt.default__datediff"} {
						tpl := `select {{ ` + m + `("` + c.first + `", "` + c.second + `", '` + c.part + `') }} as v`
						run(t, tpl, c.want)
					}
				}
			})
		})
	}
}

func TestBuiltinDatediffRejectsUnknownPart(t *testing.T) {
	env := builtinEnv(t)
	tpl, err := env.Parse("models/m.sql", `select {{ dbt.default__datediff("'2024-01-01'", "'2024-02-01'", 'fortnight') }}`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Render(tpl, &jinja.Context{Dialect: "postgres"})
	if err == nil || !strings.Contains(err.Error(), "unsupported datepart 'fortnight'") {
		t.Fatalf("err = %v", err)
	}
}

func TestBuiltinMacrosAreDispatched(t *testing.T) {
	env := builtinEnv(t)
	for _, name := range []string{
		"date_trunc", "dateadd", "datediff", "last_day", "current_timestamp",
		"type_string", "type_int", "type_bigint", "type_numeric", "type_float", "type_timestamp", "type_boolean",
		"safe_cast", "cast_bool_to_text", "concat", "hash", "split_part", "position", "length", "replace", "right",
		"escape_single_quotes", "string_literal", "any_value", "bool_or", "listagg", "intersect", "except",
		"array_construct", "generate_series",
		"generate_schema_name", "generate_alias_name", "generate_database_name",
	} {
		for _, n := range []string{name, "default__" + name} {
			if m, ok := env.Macro(n); !ok || m.Package != "dbt" {
				t.Errorf("built-in macro %s missing", n)
			} else if m.Execute {
				t.Errorf("built-in macro %s is marked execute-time", n)
			}
		}
	}
}

func TestBuiltinFilesPaths(t *testing.T) {
	files, err := builtin.Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no built-in files")
	}
	for _, f := range files {
		if !strings.HasPrefix(f.Path, "kiln/builtin/") || !strings.HasSuffix(f.Path, ".sql") || f.Source == "" {
			t.Errorf("bad built-in file %q", f.Path)
		}
	}
}

const namingTpl = `{{ generate_schema_name(none, node) }}|{{ generate_schema_name('  marts ', node) }}|` +
	`{{ dbt.generate_schema_name('staging') }}|{{ generate_alias_name(none, node) }}|` +
	`{{ generate_alias_name(' custom ', node) }}|{{ generate_database_name() }}|{{ dbt.generate_database_name('other', node) }}`

func TestBuiltinNamingMacros(t *testing.T) {
	env := builtinEnv(t)
	for _, dialect := range dialects {
		got := renderWith(t, env, dialect, namingTpl, map[string]any{"node": map[string]any{"name": "orders"}})
		want := "analytics|analytics_marts|analytics_staging|orders|custom|warehouse|other"
		if got != want {
			t.Errorf("%s: got %q want %q", dialect, got, want)
		}
	}
	versioned := map[string]any{"node": map[string]any{"name": "orders", "version": 2}}
	if got := renderWith(t, env, "duckdb", `{{ generate_alias_name(none, node) }}`, versioned); got != "orders_v2" {
		t.Errorf("versioned alias = %q", got)
	}
}

func TestBuiltinAliasNeedsNode(t *testing.T) {
	env := builtinEnv(t)
	tpl, err := env.Parse("models/m.sql", `{{ generate_alias_name() }}`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Render(tpl, &jinja.Context{Dialect: "duckdb"})
	if err == nil || !strings.Contains(err.Error(), "no node to take the name from") {
		t.Fatalf("err = %v", err)
	}
}

func TestBuiltinNamingOverride(t *testing.T) {
	env := builtinEnv(t, jinja.SourceFile{Path: "macros/schema.sql", Source: `
{% macro default__generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
`})
	got := renderWith(t, env, "postgres", `{{ generate_schema_name('marts', node) }}|{{ dbt.generate_schema_name(none, node) }}|{{ generate_alias_name(none, node) }}`,
		map[string]any{"node": map[string]any{"name": "orders"}})
	if want := "marts|analytics|orders"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}
