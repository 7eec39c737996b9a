package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// kiln runs the CLI in-process and returns exit code, stdout and stderr.
func kiln(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// copyFixture copies a testdata project into a temp dir.
func copyFixture(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if d.Name() == "golden" || d.Name() == "target" {
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
	return dst
}

func writeProfiles(t *testing.T, dir string, p adapters.Profile) {
	t.Helper()
	var body string
	switch p.Type {
	case "postgres":
		body = fmt.Sprintf("shop:\n  target: ci\n  outputs:\n    ci:\n      type: postgres\n      host: %s\n      port: %d\n      user: %s\n      password: \"%s\"\n      dbname: %s\n      schema: %s\n      threads: 4\n      sslmode: disable\n", p.Host, p.Port, p.User, p.Password, p.DBName, p.Schema)
	default:
		body = fmt.Sprintf("shop:\n  target: ci\n  outputs:\n    ci:\n      type: duckdb\n      path: %s\n      schema: %s\n      threads: 4\n", p.Path, p.Schema)
	}
	if err := os.WriteFile(filepath.Join(dir, "profiles.yml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// querier runs one-value queries against the test warehouse.
type querier func(t *testing.T, q string) string

func duckQuerier(path string) querier {
	return func(t *testing.T, q string) string {
		t.Helper()
		db, err := sql.Open("duckdb", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var v any
		if err := db.QueryRow(q).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return fmt.Sprint(v)
	}
}

func pgQuerier(p adapters.Profile) querier {
	return func(t *testing.T, q string) string {
		t.Helper()
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", p.User, p.Password, p.Host, p.Port, p.DBName))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var v any
		if err := conn.QueryRow(ctx, q).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return fmt.Sprint(v)
	}
}

func TestShopOnBothWarehouses(t *testing.T) {
	for _, wh := range []string{"duckdb", "postgres"} {
		t.Run(wh, func(t *testing.T) {
			dir := copyFixture(t, "../../../testdata/shop")
			var p adapters.Profile
			var q querier
			if wh == "postgres" {
				p = adaptertest.Postgres(t)
				q = pgQuerier(p)
			} else {
				p = adapters.Profile{Type: "duckdb", Path: filepath.Join(dir, "shop.duckdb"), Schema: "analytics"}
				q = duckQuerier(p.Path)
			}
			writeProfiles(t, dir, p)
			if code, out, errb := kiln(t, "seed", "--project-dir", dir); code != 0 {
				t.Fatalf("seed exit %d\n%s\n%s", code, out, errb)
			}
			code, out, errb := kiln(t, "run", "--project-dir", dir)
			if code != 0 {
				t.Fatalf("run exit %d\n%s\n%s", code, out, errb)
			}
			if !strings.Contains(out, "Done. PASS=5 WARN=0 ERROR=0 SKIP=0 TOTAL=5") {
				t.Errorf("summary missing:\n%s", out)
			}
			kind := func(schema, name string) string {
				return q(t, fmt.Sprintf("select table_type from information_schema.tables where table_schema = '%s' and table_name = '%s'", schema, name))
			}
			checks := []struct{ got, want string }{
				{q(t, "select count(*) from analytics.raw_orders"), "4"},
				{kind("analytics", "stg_orders"), "VIEW"},
				{kind("analytics", "orders"), "BASE TABLE"},          // alias of fct_orders
				{kind("analytics_finance", "revenue"), "BASE TABLE"}, // custom schema
				{q(t, "select count(*) from analytics.orders"), "4"},
				{q(t, "select count(*) from analytics.dim_customers"), "3"},
				{q(t, "select cast(revenue * 10 as integer) from analytics_finance.revenue where customer_id = 1"), "355"},
				{q(t, "select zip from analytics.raw_customers where id = 1"), "01234"}, // column_types kept text
				{q(t, "select count(*) from information_schema.tables where table_name like '%int_order_status%'"), "0"},
				{q(t, "select count(*) from information_schema.tables where table_name like '%kiln_%'"), "0"},
			}
			for i, c := range checks {
				if c.got != c.want {
					t.Errorf("check %d: got %q want %q", i, c.got, c.want)
				}
			}
			// A rebuild leaves everything in place and succeeds again.
			if code, out, errb := kiln(t, "build", "--project-dir", dir, "-s", "+dim_customers"); code != 0 {
				t.Fatalf("build exit %d\n%s\n%s", code, out, errb)
			}
			checkRunResults(t, filepath.Join(dir, "target", "run_results.json"), 7)
		})
	}
}

// TestShopGolden compiles the shop fixture and compares target/compiled with
// testdata/shop/golden (go test -run TestShopGolden -update rewrites it).
func TestShopGolden(t *testing.T) {
	dir := copyFixture(t, "../../../testdata/shop")
	writeProfiles(t, dir, adapters.Profile{Type: "duckdb", Path: filepath.Join(dir, "shop.duckdb"), Schema: "analytics"})
	if code, out, errb := kiln(t, "compile", "--project-dir", dir); code != 0 {
		t.Fatalf("compile exit %d\n%s\n%s", code, out, errb)
	}
	compiled := filepath.Join(dir, "target", "compiled", "shop")
	golden := "../../../testdata/shop/golden"
	if *update {
		_ = os.RemoveAll(golden)
	}
	var n int
	err := filepath.WalkDir(compiled, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(compiled, path)
		got, _ := os.ReadFile(path)
		want := filepath.Join(golden, rel)
		if *update {
			_ = os.MkdirAll(filepath.Dir(want), 0o755)
			return os.WriteFile(want, got, 0o644)
		}
		exp, err := os.ReadFile(want)
		if err != nil {
			t.Errorf("no golden file for %s (run with -update)", rel)
			return nil
		}
		if string(exp) != string(got) {
			t.Errorf("%s differs from golden:\n--- got\n%s\n--- want\n%s", rel, got, exp)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 7 {
		t.Errorf("compiled %d files, want 7 (6 models with the ephemeral + 1 analysis)", n)
	}
	checkManifest(t, filepath.Join(dir, "target", "manifest.json"))
}

// checkManifest asserts the dbt fields tools read from manifest.json.
func checkManifest(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Nodes map[string]struct {
			UniqueID         string `json:"unique_id"`
			ResourceType     string `json:"resource_type"`
			OriginalFilePath string `json:"original_file_path"`
			Path             string `json:"path"`
			RelationName     string `json:"relation_name"`
			CompiledCode     string `json:"compiled_code"`
			Config           map[string]any
			DependsOn        struct{ Nodes []string } `json:"depends_on"`
			Checksum         struct{ Checksum string }
		}
		Sources   map[string]any
		ParentMap map[string][]string `json:"parent_map"`
		ChildMap  map[string][]string `json:"child_map"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	fct, ok := m.Nodes["model.shop.fct_orders"]
	if !ok {
		t.Fatalf("model.shop.fct_orders missing; nodes: %d", len(m.Nodes))
	}
	if fct.ResourceType != "model" || fct.OriginalFilePath != "models/marts/fct_orders.sql" || fct.Path != "marts/fct_orders.sql" ||
		fct.RelationName != `"shop"."analytics"."orders"` || fct.Config["materialized"] != "table" || len(fct.Checksum.Checksum) != 64 ||
		!strings.Contains(fct.CompiledCode, "__dbt__cte__int_order_status as (") {
		t.Errorf("fct_orders entry: %+v", fct)
	}
	if got := strings.Join(fct.DependsOn.Nodes, ","); got != "model.shop.int_order_status,model.shop.stg_orders" {
		t.Errorf("fct_orders depends_on = %s", got)
	}
	if got := strings.Join(m.ChildMap["seed.shop.raw_orders"], ","); got != "model.shop.stg_orders" {
		t.Errorf("child_map of raw_orders = %s", got)
	}
	if got := strings.Join(m.ParentMap["model.shop.revenue"], ","); got != "model.shop.fct_orders" {
		t.Errorf("parent_map of revenue = %s", got)
	}
	if _, ok := m.Nodes["seed.shop.raw_customers"]; !ok {
		t.Error("seed missing from manifest")
	}
}

func TestInitThenBuild(t *testing.T) {
	parent := t.TempDir()
	if code, out, errb := kiln(t, "init", "demo", "--project-dir", parent); code != 0 {
		t.Fatalf("init exit %d\n%s\n%s", code, out, errb)
	}
	dir := filepath.Join(parent, "demo")
	for _, cmd := range []string{"seed", "ingest", "run"} {
		if code, out, errb := kiln(t, cmd, "--project-dir", dir); code != 0 {
			t.Fatalf("%s exit %d\n%s\n%s", cmd, code, out, errb)
		}
	}
	q := duckQuerier(filepath.Join(dir, "warehouse.duckdb"))
	if got := q(t, "select count(*) from main.customers"); got != "5" {
		t.Errorf("customers = %s", got)
	}
	if got := q(t, "select table_type from information_schema.tables where table_name = 'stg_orders'"); got != "VIEW" {
		t.Errorf("stg_orders is %s", got)
	}
	code, out, _ := kiln(t, "ls", "--project-dir", dir, "-s", "+customers", "--output", "name")
	if code != 0 || !strings.Contains(out, "stg_orders\n") || strings.Contains(out, "raw_payments\n") != true {
		t.Errorf("ls +customers:\n%s", out)
	}
	checkTestInManifest(t, filepath.Join(dir, "target", "manifest.json"))
	code, out, _ = kiln(t, "show", "--project-dir", dir, "-s", "orders", "--limit", "2")
	if code != 0 || !strings.Contains(out, "| order_id") || strings.Count(out, "\n") != 5 {
		t.Errorf("show:\n%s", out)
	}
}

func TestFailureSkipsDescendants(t *testing.T) {
	dir := copyFixture(t, "../../../testdata/shop")
	writeProfiles(t, dir, adapters.Profile{Type: "duckdb", Path: filepath.Join(dir, "shop.duckdb"), Schema: "analytics"})
	if code, _, errb := kiln(t, "build", "--project-dir", dir); code != 0 {
		t.Fatalf("first build failed: %s", errb)
	}
	// Break fct_orders at run time (a column that does not exist).
	bad := "select o.*, no_such_column from {{ ref('stg_orders') }} as o\n"
	if err := os.WriteFile(filepath.Join(dir, "models/marts/fct_orders.sql"), []byte("{{ config(alias='orders') }}\n"+bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errb := kiln(t, "build", "--project-dir", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(out, "ERROR=1 SKIP=2") || !strings.Contains(errb, "models/marts/fct_orders.sql") || !strings.Contains(errb, "no_such_column") {
		t.Errorf("output:\n%s\n%s", out, errb)
	}
	// The previous version of the table is still there and whole.
	if got := duckQuerier(filepath.Join(dir, "shop.duckdb"))(t, "select count(*) from analytics.orders"); got != "4" {
		t.Errorf("orders after failed rebuild = %s", got)
	}
}

// checkRunResults asserts run_results.json has n successful results with
// dbt's fields.
func checkRunResults(t *testing.T, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rr struct {
		Results []struct {
			UniqueID        string  `json:"unique_id"`
			Status          string  `json:"status"`
			ExecutionTime   float64 `json:"execution_time"`
			AdapterResponse struct {
				RowsAffected int64 `json:"rows_affected"`
			} `json:"adapter_response"`
			Timing []any `json:"timing"`
		}
		ElapsedTime float64 `json:"elapsed_time"`
	}
	if err := json.Unmarshal(b, &rr); err != nil {
		t.Fatal(err)
	}
	if len(rr.Results) != n {
		t.Fatalf("%d results, want %d", len(rr.Results), n)
	}
	for _, r := range rr.Results {
		if r.Status != "success" || len(r.Timing) != 2 {
			t.Errorf("result %+v", r)
		}
		if r.UniqueID == "model.shop.dim_customers" && r.AdapterResponse.RowsAffected != 3 {
			t.Errorf("dim_customers rows_affected = %d", r.AdapterResponse.RowsAffected)
		}
	}
}

// TestExecuteTimeIntrospection builds, on an empty warehouse, a model whose
// SQL comes from introspecting its parent: it must be compiled after the
// parent exists, as dbt does.
func TestExecuteTimeIntrospection(t *testing.T) {
	for _, wh := range []string{"duckdb", "postgres"} {
		t.Run(wh, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{
				"dbt_project.yml":      "name: shop\nprofile: shop\n",
				"seeds/raw_things.csv": "id,label,weight\n1,a,2.5\n2,b,4\n3,c,1\n",
				"models/wide.sql": `{%- set cols = adapter.get_columns_in_relation(ref('raw_things')) -%}
{%- set q %}select count(*) as n from {{ ref('raw_things') }}{% endset -%}
{%- set res = run_query(q) -%}
{%- if execute %}{% set n = res.columns[0].values()[0] %}{% else %}{% set n = -1 %}{% endif -%}
{%- call statement('answer', fetch_result=True) %}select 42 as v{% endcall -%}
{%- set answer = load_result('answer')['data'][0][0] -%}
select {% for c in cols %}{{ c.name }}{% if not loop.last %}, {% endif %}{% endfor %}, {{ n }} as total, {{ answer }} as answer
from {{ ref('raw_things') }}
`,
			}
			for name, body := range files {
				path := filepath.Join(dir, name)
				_ = os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var q querier
			if wh == "postgres" {
				p := adaptertest.Postgres(t)
				writeProfiles(t, dir, p)
				q = pgQuerier(p)
			} else {
				p := adapters.Profile{Type: "duckdb", Path: filepath.Join(dir, "w.duckdb"), Schema: "analytics"}
				writeProfiles(t, dir, p)
				q = duckQuerier(p.Path)
			}
			if code, out, errb := kiln(t, "build", "--project-dir", dir); code != 0 {
				t.Fatalf("build exit %d\n%s\n%s", code, out, errb)
			}
			if got := q(t, "select total * 100 + answer from analytics.wide where id = 2"); got != "342" {
				t.Errorf("total/answer = %s, want 342", got)
			}
			if got := q(t, "select count(*) from information_schema.columns where table_name = 'wide'"); got != "5" {
				t.Errorf("wide has %s columns, want 5 (id, label, weight, total, answer)", got)
			}
			compiled, err := os.ReadFile(filepath.Join(dir, "target/compiled/shop/models/wide.sql"))
			if err != nil || !strings.Contains(string(compiled), "select id, label, weight, 3 as total, 42 as answer") {
				t.Errorf("compiled wide.sql = %q (%v)", compiled, err)
			}
		})
	}
}

// TestPostgresErrorShownWhole checks a warehouse error keeps its SQLSTATE,
// message and hint, names the model file and maps the position to a line of
// the compiled SQL.
func TestPostgresErrorShownWhole(t *testing.T) {
	p := adaptertest.Postgres(t)
	dir := t.TempDir()
	for name, body := range map[string]string{
		"dbt_project.yml": "name: shop\nprofile: shop\nmodels:\n  shop:\n    +materialized: table\n",
		"models/good.sql": "select 1 as id, 'x' as label\n",
		"models/bad.sql":  "select\n    id,\n    labl\nfrom {{ ref('good') }}\n",
	} {
		path := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeProfiles(t, dir, p)
	code, out, errb := kiln(t, "run", "--project-dir", dir)
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	for _, want := range []string{"models/bad.sql", "42703", `column "labl" does not exist`, "hint: Perhaps you meant to reference the column", "at line 3 of compiled SQL"} {
		if !strings.Contains(errb, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb)
		}
	}
	if !strings.Contains(out, "PASS=1 WARN=0 ERROR=1 SKIP=0") {
		t.Errorf("summary:\n%s", out)
	}
}

// checkTestInManifest asserts the dbt fields of a generic test entry.
func checkTestInManifest(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Nodes map[string]struct {
			ResourceType string `json:"resource_type"`
			ColumnName   string `json:"column_name"`
			AttachedNode string `json:"attached_node"`
			TestMetadata struct {
				Name   string
				Kwargs map[string]any
			} `json:"test_metadata"`
			DependsOn struct{ Nodes []string } `json:"depends_on"`
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var found int
	for id, n := range m.Nodes {
		if !strings.HasPrefix(id, "test.demo.relationships_stg_orders_customer_id__customer_id__ref_stg_customers_.") {
			continue
		}
		found++
		if n.ResourceType != "test" || n.ColumnName != "customer_id" || n.AttachedNode != "model.demo.stg_orders" ||
			n.TestMetadata.Name != "relationships" || n.TestMetadata.Kwargs["to"] != "ref('stg_customers')" ||
			strings.Join(n.DependsOn.Nodes, ",") != "model.demo.stg_customers,model.demo.stg_orders" {
			t.Errorf("%s: %+v", id, n)
		}
	}
	if found != 1 {
		t.Errorf("relationships test found %d times in manifest", found)
	}
}
