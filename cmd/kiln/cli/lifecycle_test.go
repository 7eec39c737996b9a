package cli

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
)

// execer runs setup statements against the test warehouse.
type execer func(t *testing.T, stmts ...string)

func duckExecer(path string) execer {
	return func(t *testing.T, stmts ...string) {
		t.Helper()
		db, err := sql.Open("duckdb", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, s := range stmts {
			if _, err := db.Exec(s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
}

func pgExecer(p adapters.Profile) execer {
	return func(t *testing.T, stmts ...string) {
		t.Helper()
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", p.User, p.Password, p.Host, p.Port, p.DBName))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, s := range stmts {
			if _, err := conn.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
}

// TestIncrementalSnapshotHooksLifecycle drives an incremental model, a
// snapshot and hooks through three source changes with kiln build.
func TestIncrementalSnapshotHooksLifecycle(t *testing.T) {
	for _, wh := range []string{"duckdb", "postgres"} {
		t.Run(wh, func(t *testing.T) {
			dir := t.TempDir()
			var q querier
			var ex execer
			var p adapters.Profile
			if wh == "postgres" {
				p = adaptertest.Postgres(t)
				q, ex = pgQuerier(p), pgExecer(p)
			} else {
				p = adapters.Profile{Type: "duckdb", Path: filepath.Join(dir, "w.duckdb"), Schema: "analytics"}
				q, ex = duckQuerier(p.Path), duckExecer(p.Path)
			}
			grants := ""
			if wh == "postgres" {
				ex(t, "do $$ begin if not exists (select from pg_roles where rolname = 'kiln_reader') then create role kiln_reader; end if; end $$")
				grants = "\n      +grants:\n        select: [kiln_reader]"
			}
			files := map[string]string{
				"dbt_project.yml": `name: shop
profile: shop
on-run-start:
  - "create schema if not exists audit"
  - "create table if not exists audit.log (what varchar, n integer)"
on-run-end:
  - "insert into audit.log values ('run_end', {{ results | length }})"
models:
  shop:
    marts:
      +post-hook: "insert into audit.log values ('{{ this.name }}', 1)"` + grants + `
`,
				"models/sources.yml": "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: events\n",
				"models/marts/events_inc.sql": `{{ config(materialized='incremental', unique_key='id', incremental_strategy='merge') }}
select id, status, updated_at from {{ source('raw', 'events') }}
{% if is_incremental() %}
where updated_at > (select max(updated_at) from {{ this }})
{% endif %}
`,
				"models/marts/events_log.sql": `{{ config(materialized='incremental') }}
select id, status, updated_at from {{ source('raw', 'events') }}
{% if is_incremental() %}
where updated_at > (select max(updated_at) from {{ this }})
{% endif %}
`,
				"snapshots/events_snap.sql": `{% snapshot events_snap %}
{{ config(target_schema='history', unique_key='id', strategy='check', check_cols=['status'], hard_deletes='invalidate') }}
select id, status from {{ source('raw', 'events') }}
{% endsnapshot %}
`,
			}
			for name, body := range files {
				path := filepath.Join(dir, name)
				_ = os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			writeProfiles(t, dir, p)
			ex(t, "create schema raw",
				"create table raw.events (id integer, status varchar(20), updated_at timestamp)",
				"insert into raw.events values (1, 'new', '2024-01-01 10:00:00'), (2, 'new', '2024-01-01 11:00:00'), (3, 'new', '2024-01-01 12:00:00')")
			build := func(args ...string) string {
				t.Helper()
				code, out, errb := kiln(t, append([]string{"build", "--project-dir", dir}, args...)...)
				if code != 0 {
					t.Fatalf("build exit %d\n%s\n%s", code, out, errb)
				}
				return out
			}
			build()
			check := func(step, query, want string) {
				t.Helper()
				if got := q(t, query); got != want {
					t.Errorf("%s: %s = %s, want %s", step, query, got, want)
				}
			}
			check("first", "select count(*) from analytics.events_inc", "3")
			check("first", "select count(*) from history.events_snap where dbt_valid_to is null", "3")
			check("first", "select count(*) from audit.log where what = 'events_inc'", "1")
			check("first", "select count(*) from audit.log where what = 'run_end'", "1")

			ex(t, "update raw.events set status = 'paid', updated_at = '2024-01-02 09:00:00' where id = 2",
				"insert into raw.events values (4, 'new', '2024-01-02 10:00:00')",
				"delete from raw.events where id = 3")
			out := build()
			if !strings.Contains(out, "OK created sql incremental model analytics.events_inc") {
				t.Errorf("no incremental line:\n%s", out)
			}
			check("second", "select count(*) from analytics.events_inc", "4") // merge keeps deleted id 3
			check("second", "select status from analytics.events_inc where id = 2", "paid")
			check("second", "select count(*) from analytics.events_log", "5") // append: 3 + 2 new rows
			check("second", "select count(*) from history.events_snap where id = 2", "2")
			check("second", "select count(*) from history.events_snap where id = 3 and dbt_valid_to is not null", "1")
			check("second", "select count(*) from history.events_snap where dbt_valid_to is null", "3")

			build() // nothing changed: the snapshot adds nothing, the incrementals stay
			check("rerun", "select count(*) from history.events_snap", "5")
			check("rerun", "select count(*) from analytics.events_log", "5")
			check("rerun", "select count(*) from audit.log where what = 'events_inc'", "3")

			build("--full-refresh", "-s", "events_inc")
			check("full refresh", "select count(*) from analytics.events_inc", "3")
			if wh == "postgres" {
				check("grants", "select has_table_privilege('kiln_reader', 'analytics.events_inc', 'select')", "true")
				check("grants", "select has_table_privilege('kiln_reader', 'analytics.events_log', 'select')", "true")
				// Dropping the grant from the config revokes it on the next build.
				proj := filepath.Join(dir, "dbt_project.yml")
				b, _ := os.ReadFile(proj)
				_ = os.WriteFile(proj, []byte(strings.Replace(string(b), "select: [kiln_reader]", "select: []", 1)), 0o644)
				build("-s", "events_log")
				check("revoke", "select has_table_privilege('kiln_reader', 'analytics.events_log', 'select')", "false")
			}
		})
	}
}
