package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
)

// The testdata/tests/shop fixture has seeds with deliberate data problems.
// Its data tests, with what `kiln build` must report for each:
var shopTestOutcomes = []struct {
	name     string
	status   string // run_results status
	failures int64  // -1: none (skipped)
	yaml     string // the file declaring it
}{
	{"unique_customers_id", "fail", 1, "models/customers.yml"},                                    // id 2 twice
	{"not_null_customers_id", "pass", 0, "models/customers.yml"},                                  //
	{"not_null_customer_orders_customer_id", "skipped", -1, "models/customers.yml"},               // its model is skipped
	{"not_null_orders_order_id", "pass", 0, "models/orders.yml"},                                  //
	{"accepted_values_orders_status__placed__shipped__completed", "warn", 1, "models/orders.yml"}, // 'lost', severity warn
	{"relationships_orders_customer_id__id__ref_customers_", "fail", 1, "models/orders.yml"},      // customer 9; store_failures
	{"not_null_orders_customer_id", "pass", 0, "models/orders.yml"},                               // where: filters the NULL out
	{"unique_orders_customer_id", "fail", 1, "models/orders.yml"},                                 // 2 duplicates, limit: 1
	{"not_null_orders_coupon_code", "fail", 3, "models/orders.yml"},                               // 3 NULLs, error_if >1
	{"coupon_code_mostly_present", "warn", 3, "models/orders.yml"},                                // 3 NULLs, warn_if >1, error_if >5
	{"positive_orders_amount", "fail", 1, "models/orders.yml"},                                    // custom generic test: -5
	{"assert_no_future_orders", "pass", 0, "tests/assert_no_future_orders.sql"},                   // singular test
	{"not_null_product_prices_id", "pass", 0, "models/product_prices.yml"},                        //
	{"unique_product_prices_id", "pass", 0, "models/product_prices.yml"},                          //
	{"positive_product_prices_price", "pass", 0, "models/product_prices.yml"},                     // custom generic test
}

// dataTestsFixture copies testdata/tests/shop and points it at a fresh
// warehouse of the given type.
func dataTestsFixture(t *testing.T, wh string) (string, querier) {
	t.Helper()
	dir := copyFixture(t, "../../../testdata/tests/shop")
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
	return dir, q
}

// buildShopTests runs `kiln build` on the fixture, which must fail (exit 1).
func buildShopTests(t *testing.T, dir string) (string, string) {
	t.Helper()
	code, out, errb := kiln(t, "build", "--project-dir", dir)
	if code != 1 {
		t.Fatalf("build exit %d, want 1 (failing tests)\n%s\n%s", code, out, errb)
	}
	return out, errb
}

var dataTestWarehouses = []string{"duckdb", "postgres"}

// testLine matches a finished test's line: "N of M PASS name .... [PASS in 0.01s]".
func testLine(total, verb, name string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^\d+ of ` + total + ` ` + regexp.QuoteMeta(verb+" "+name) + ` \.{3,} \[` + regexp.QuoteMeta(verb) + ` in \d+\.\d\ds\]$`)
}

func statusVerb(status string, failures int64) string {
	switch status {
	case "pass":
		return "PASS"
	case "warn":
		return "WARN " + strconv.FormatInt(failures, 10)
	case "fail":
		return "FAIL " + strconv.FormatInt(failures, 10)
	}
	return ""
}

type runResult struct {
	UniqueID string `json:"unique_id"`
	Status   string `json:"status"`
	Failures *int64 `json:"failures"`
	Message  string `json:"message"`
}

// readRunResults returns target/run_results.json's results by unique id.
func readRunResults(t *testing.T, dir string) map[string]runResult {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "target", "run_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rr struct{ Results []runResult }
	if err := json.Unmarshal(b, &rr); err != nil {
		t.Fatal(err)
	}
	out := map[string]runResult{}
	for _, r := range rr.Results {
		out[r.UniqueID] = r
	}
	return out
}

// testResult finds a test's result by name: test.shop.<name>.<10 hex> for
// generic tests, test.shop.<name> for singular ones.
func testResult(t *testing.T, results map[string]runResult, name string) (runResult, bool) {
	t.Helper()
	re := regexp.MustCompile(`^test\.shop\.` + regexp.QuoteMeta(name) + `(\.[0-9a-f]{10})?$`)
	var found []runResult
	for id, r := range results {
		if re.MatchString(id) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		return runResult{}, false
	}
	return found[0], true
}

func TestDataTestsBuild(t *testing.T) {
	for _, wh := range dataTestWarehouses {
		t.Run(wh, func(t *testing.T) {
			dir, q := dataTestsFixture(t, wh)
			out, errb := buildShopTests(t, dir)

			// One line per test with its status and failure count.
			for _, tc := range shopTestOutcomes {
				if tc.status == "skipped" {
					continue
				}
				if re := testLine("22", statusVerb(tc.status, tc.failures), tc.name); !re.MatchString(out) {
					t.Errorf("stdout lacks %q", re)
				}
			}
			// The model downstream of the failing unique test and its own test
			// are skipped, naming the test that stopped them.
			reason := `\[SKIP: upstream test\.shop\.unique_customers_id\.[0-9a-f]{10} fail\]`
			for _, re := range []*regexp.Regexp{
				regexp.MustCompile(`(?m)^\d+ of 22 SKIP relation analytics\.customer_orders \.{3,} ` + reason + `$`),
				regexp.MustCompile(`(?m)^\d+ of 22 SKIP test not_null_customer_orders_customer_id \.{3,} ` + reason + `$`),
			} {
				if !re.MatchString(out) {
					t.Errorf("stdout lacks %q", re)
				}
			}
			if n := strings.Count(out, " SKIP "); n != 2 {
				t.Errorf("%d SKIP lines, want 2", n)
			}
			if strings.Contains(out, "START sql table model analytics.customer_orders") {
				t.Error("customer_orders was started although its parent's test failed")
			}
			// 3 seeds + 3 models + 7 passing tests; 2 warnings; 5 failures
			// (counted as errors, like dbt); customer_orders and its test.
			if !strings.Contains(out, "\nDone. PASS=13 WARN=2 ERROR=5 SKIP=2 TOTAL=22\n") {
				t.Errorf("summary:\n%s", out)
			}

			// stderr names each failing or warning test, its YAML file, the
			// message and the compiled SQL.
			for _, tc := range shopTestOutcomes {
				if tc.status != "fail" && tc.status != "warn" {
					continue
				}
				label := "Failure"
				if tc.status == "warn" {
					label = "Warning"
				}
				head := label + " in test " + tc.name + " (" + tc.yaml + ")\n"
				compiled := filepath.Join("target", "compiled", "shop", tc.yaml, tc.name+".sql")
				if !strings.Contains(errb, head) || !strings.Contains(errb, "compiled code at "+compiled+"\n") {
					t.Errorf("stderr lacks %q / %q:\n%s", head, compiled, errb)
				}
				if _, err := os.Stat(filepath.Join(dir, compiled)); err != nil {
					t.Errorf("compiled SQL of %s: %v", tc.name, err)
				}
			}
			for _, want := range []string{
				"Failure in test unique_customers_id (models/customers.yml)\n  Got 1 result, configured to fail if != 0\n  compiled code at target/compiled/shop/models/customers.yml/unique_customers_id.sql\n",
				"Failure in test not_null_orders_coupon_code (models/orders.yml)\n  Got 3 results, configured to fail if >1\n",
				"Warning in test coupon_code_mostly_present (models/orders.yml)\n  Got 3 results, configured to warn if >1\n",
				"Warning in test accepted_values_orders_status__placed__shipped__completed (models/orders.yml)\n  Got 1 result, configured to warn if != 0\n",
			} {
				if !strings.Contains(errb, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errb)
				}
			}
			for _, passing := range []string{"not_null_orders_customer_id", "assert_no_future_orders", "unique_product_prices_id"} {
				if strings.Contains(errb, " "+passing+" ") {
					t.Errorf("stderr mentions passing test %s:\n%s", passing, errb)
				}
			}

			// The where filter and the limit reach the SQL.
			if b, err := os.ReadFile(filepath.Join(dir, "target/compiled/shop/models/orders.yml/not_null_orders_customer_id.sql")); err != nil || !strings.Contains(string(b), "order_id <> 6") {
				t.Errorf("compiled not_null_orders_customer_id lacks the where filter: %q (%v)", b, err)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "target/run/shop/models/orders.yml/unique_orders_customer_id.sql")); err != nil || !strings.Contains(string(b), "limit 1") {
				t.Errorf("executed unique_orders_customer_id lacks limit 1: %q (%v)", b, err)
			}

			// run_results.json: a status and failure count per test.
			results := readRunResults(t, dir)
			if len(results) != 22 {
				t.Errorf("run_results has %d results, want 22", len(results))
			}
			for _, tc := range shopTestOutcomes {
				r, ok := testResult(t, results, tc.name)
				if !ok {
					t.Errorf("run_results: no single result for test %s", tc.name)
					continue
				}
				if r.Status != tc.status {
					t.Errorf("run_results %s: status %q, want %q", r.UniqueID, r.Status, tc.status)
				}
				switch {
				case tc.failures < 0 && r.Failures != nil:
					t.Errorf("run_results %s: failures %d, want null", r.UniqueID, *r.Failures)
				case tc.failures >= 0 && (r.Failures == nil || *r.Failures != tc.failures):
					t.Errorf("run_results %s: failures %v, want %d", r.UniqueID, r.Failures, tc.failures)
				}
			}
			if r, _ := testResult(t, results, "unique_customers_id"); r.Message != "Got 1 result, configured to fail if != 0" {
				t.Errorf("unique_customers_id message = %q", r.Message)
			}
			for id, want := range map[string]string{
				"seed.shop.raw_customers": "success", "seed.shop.raw_orders": "success", "seed.shop.products": "success",
				"model.shop.customers": "success", "model.shop.orders": "success", "model.shop.product_prices": "success",
				"model.shop.customer_orders": "skipped",
			} {
				if got := results[id].Status; got != want {
					t.Errorf("run_results %s: status %q, want %q", id, got, want)
				}
			}

			// The unrelated branch is built; the models under test too (dbt
			// tests a model after building it); the gated model is not.
			checks := []struct{ got, want string }{
				{q(t, "select count(*) from analytics.product_prices"), "3"},
				{q(t, "select name from analytics.product_prices where id = 3"), "teapot"},
				{q(t, "select count(*) from analytics.customers"), "4"},
				{q(t, "select count(*) from analytics.orders"), "7"},
				{q(t, "select count(*) from information_schema.tables where table_name = 'customer_orders'"), "0"},
			}
			for i, c := range checks {
				if c.got != c.want {
					t.Errorf("warehouse check %d: got %q want %q", i, c.got, c.want)
				}
			}
		})
	}
}

// TestDataTestsStoreFailures checks that store_failures keeps exactly the
// failing rows in <schema>_dbt_test__audit.<test name>, and only for the
// test configured so.
func TestDataTestsStoreFailures(t *testing.T) {
	for _, wh := range dataTestWarehouses {
		t.Run(wh, func(t *testing.T) {
			dir, q := dataTestsFixture(t, wh)
			buildShopTests(t, dir)
			audit := "analytics_dbt_test__audit.relationships_orders_customer_id__id__ref_customers_"
			checks := []struct{ got, want string }{
				{q(t, "select count(*) from "+audit), "1"},
				{q(t, "select from_field from "+audit), "9"},
				{q(t, "select count(*) from information_schema.columns where table_schema = 'analytics_dbt_test__audit' and table_name = 'relationships_orders_customer_id__id__ref_customers_'"), "1"},
				// No other test stores its failures.
				{q(t, "select count(*) from information_schema.tables where table_schema = 'analytics_dbt_test__audit'"), "1"},
			}
			for i, c := range checks {
				if c.got != c.want {
					t.Errorf("check %d: got %q want %q", i, c.got, c.want)
				}
			}
			// The executed SQL fills the audit table, then counts from it.
			b, err := os.ReadFile(filepath.Join(dir, "target/run/shop/models/orders.yml/relationships_orders_customer_id__id__ref_customers_.sql"))
			if err != nil || !strings.Contains(string(b), "dbt_test__audit") || !strings.Contains(string(b), "should_error") {
				t.Errorf("executed SQL: %q (%v)", b, err)
			}
			// A second run replaces the table rather than appending to it.
			if code, out, errb := kiln(t, "test", "--project-dir", dir, "-s", "relationships_orders_customer_id__id__ref_customers_"); code != 1 || !strings.Contains(out, "Done. PASS=0 WARN=0 ERROR=1 SKIP=0 TOTAL=1") {
				t.Fatalf("test exit %d\n%s\n%s", code, out, errb)
			}
			if got := q(t, "select count(*) from "+audit); got != "1" {
				t.Errorf("audit rows after a second run = %s, want 1", got)
			}
		})
	}
}

// TestDataTestsSelectModel checks `kiln test -s orders` runs only the tests
// that depend on orders (relationships to customers included, as dbt's eager
// indirect selection does) and builds nothing.
func TestDataTestsSelectModel(t *testing.T) {
	for _, wh := range dataTestWarehouses {
		t.Run(wh, func(t *testing.T) {
			dir, _ := dataTestsFixture(t, wh)
			buildShopTests(t, dir)
			code, out, errb := kiln(t, "test", "--project-dir", dir, "-s", "orders")
			if code != 1 {
				t.Fatalf("test exit %d, want 1\n%s\n%s", code, out, errb)
			}
			want := map[string]bool{}
			for _, tc := range shopTestOutcomes {
				if tc.yaml == "models/orders.yml" || tc.name == "assert_no_future_orders" {
					want[tc.name] = true
					if re := testLine("9", statusVerb(tc.status, tc.failures), tc.name); !re.MatchString(out) {
						t.Errorf("stdout lacks %q", re)
					}
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", out, errb)
			}
			if len(want) != 9 {
				t.Fatalf("fixture table has %d orders tests, want 9", len(want))
			}
			ran := regexp.MustCompile(`(?m)^\d+ of 9 START test (\S+) `).FindAllStringSubmatch(out, -1)
			var got []string
			for _, m := range ran {
				got = append(got, m[1])
				if !want[m[1]] {
					t.Errorf("ran %s, which does not depend on orders", m[1])
				}
			}
			if len(got) != 9 {
				t.Errorf("ran %d tests, want 9: %v", len(got), got)
			}
			if !strings.HasPrefix(out, "Running 9 nodes on "+wh+" target \"ci\"") {
				t.Errorf("header:\n%s", out)
			}
			if strings.Contains(out, "OK created") || strings.Contains(out, "OK loaded") {
				t.Errorf("kiln test built models or seeds:\n%s", out)
			}
			if !strings.Contains(out, "\nDone. PASS=3 WARN=2 ERROR=4 SKIP=0 TOTAL=9\n") {
				t.Errorf("summary:\n%s", out)
			}
			results := readRunResults(t, dir)
			if len(results) != 9 {
				t.Errorf("run_results has %d results, want 9", len(results))
			}
		})
	}
}

// TestDataTestsShow checks `kiln show -s <test>` previews the test's failing
// rows, as dbt show does.
func TestDataTestsShow(t *testing.T) {
	for _, wh := range dataTestWarehouses {
		t.Run(wh, func(t *testing.T) {
			dir, _ := dataTestsFixture(t, wh)
			buildShopTests(t, dir)
			cases := []struct{ test, want string }{
				{"unique_customers_id", "Previewing unique_customers_id:\n| unique_field | n_records |\n| ------------ | --------- |\n| 2            | 2         |\n"},
				{"relationships_orders_customer_id__id__ref_customers_", "Previewing relationships_orders_customer_id__id__ref_customers_:\n| from_field |\n| ---------- |\n| 9          |\n"},
				// The where config filters the only NULL out: no rows.
				{"not_null_orders_customer_id", "Previewing not_null_orders_customer_id:\n| customer_id |\n| ----------- |\n"},
			}
			for _, c := range cases {
				code, out, errb := kiln(t, "show", "--project-dir", dir, "-s", c.test)
				if code != 0 || out != c.want {
					t.Errorf("show -s %s: exit %d\n--- got\n%s\n--- want\n%s\n--- stderr\n%s", c.test, code, out, c.want, errb)
				}
			}
			// Three NULL coupons fail not_null; the custom test sees -5.
			code, out, errb := kiln(t, "show", "--project-dir", dir, "-s", "not_null_orders_coupon_code")
			if code != 0 || strings.Count(out, "| NULL ") != 3 {
				t.Errorf("show not_null_orders_coupon_code: exit %d\n%s\n%s", code, out, errb)
			}
			code, out, errb = kiln(t, "show", "--project-dir", dir, "-s", "positive_orders_amount")
			if code != 0 || !regexp.MustCompile(`(?m)^\| 7 +\| 3 +\| completed +\| -5`).MatchString(out) {
				t.Errorf("show positive_orders_amount: exit %d\n%s\n%s", code, out, errb)
			}
		})
	}
}

// TestDataTestsLs checks `kiln ls --resource-type test` lists dbt's test
// names.
func TestDataTestsLs(t *testing.T) {
	for _, wh := range dataTestWarehouses {
		t.Run(wh, func(t *testing.T) {
			dir, _ := dataTestsFixture(t, wh)
			code, out, errb := kiln(t, "ls", "--project-dir", dir, "--resource-type", "test", "--output", "name")
			if code != 0 {
				t.Fatalf("ls exit %d\n%s\n%s", code, out, errb)
			}
			var want []string
			for _, tc := range shopTestOutcomes {
				want = append(want, tc.name)
			}
			sort.Strings(want)
			got := strings.Split(strings.TrimSpace(out), "\n")
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("ls tests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// Selector output: the project, then the name (schema files at
			// the top of models/ add no folder).
			code, out, errb = kiln(t, "ls", "--project-dir", dir, "--resource-type", "test")
			for _, line := range []string{
				"shop.not_null_orders_order_id",
				"shop.accepted_values_orders_status__placed__shipped__completed",
				"shop.relationships_orders_customer_id__id__ref_customers_",
				"shop.coupon_code_mostly_present",
				"shop.assert_no_future_orders",
			} {
				if code != 0 || !strings.Contains("\n"+out, "\n"+line+"\n") {
					t.Errorf("ls lacks %s (exit %d):\n%s\n%s", line, code, out, errb)
				}
			}
			// JSON output: dbt's unique ids.
			code, out, errb = kiln(t, "ls", "--project-dir", dir, "--resource-type", "test", "--output", "json", "-s", "orders")
			if code != 0 {
				t.Fatalf("ls json exit %d\n%s", code, errb)
			}
			ids := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var v struct {
					UniqueID string `json:"unique_id"`
					Name     string
				}
				if err := json.Unmarshal([]byte(line), &v); err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				ids[v.Name] = v.UniqueID
			}
			if len(ids) != 9 {
				t.Errorf("ls -s orders lists %d tests, want 9: %v", len(ids), ids)
			}
			if !regexp.MustCompile(`^test\.shop\.not_null_orders_order_id\.[0-9a-f]{10}$`).MatchString(ids["not_null_orders_order_id"]) ||
				ids["assert_no_future_orders"] != "test.shop.assert_no_future_orders" {
				t.Errorf("unique ids: %v", ids)
			}
		})
	}
}

// TestDataTestsProjectConfig sets `+severity: warn` for the whole project
// under `data_tests: shop:` in dbt_project.yml, dbt's documented resource
// path. Every failing test then warns, warnings do not gate `build`, and a
// test whose warn_if is not met passes even though its error_if is (dbt
// skips error_if when severity is warn).
func TestDataTestsProjectConfig(t *testing.T) {
	for _, wh := range dataTestWarehouses {
		t.Run(wh, func(t *testing.T) {
			dir, q := dataTestsFixture(t, wh)
			f, err := os.OpenFile(filepath.Join(dir, "dbt_project.yml"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString("\ndata_tests:\n  shop:\n    +severity: warn\n"); err != nil {
				t.Fatal(err)
			}
			f.Close()
			code, out, errb := kiln(t, "build", "--project-dir", dir)
			if code != 0 {
				t.Errorf("build exit %d, want 0 (only warnings)\n%s\n%s", code, out, errb)
			}
			for name, verb := range map[string]string{
				"unique_customers_id": "WARN 1",
				"relationships_orders_customer_id__id__ref_customers_": "WARN 1",
				"unique_orders_customer_id":                            "WARN 1",
				"positive_orders_amount":                               "WARN 1",
				"coupon_code_mostly_present":                           "WARN 3",
				"not_null_orders_coupon_code":                          "PASS", // warn_if >5 not met
				"not_null_customer_orders_customer_id":                 "PASS",
			} {
				if re := testLine("22", verb, name); !re.MatchString(out) {
					t.Errorf("stdout lacks %q", re)
				}
			}
			if !strings.Contains(out, "\nDone. PASS=16 WARN=6 ERROR=0 SKIP=0 TOTAL=22\n") {
				t.Errorf("summary:\n%s", out)
			}
			if got := q(t, "select count(*) from information_schema.tables where table_name = 'customer_orders'"); got != "1" {
				t.Errorf("customer_orders not built (%s tables)", got)
			}
		})
	}
}

// TestSourceTests runs the tests of a source with `kiln test -s source:name`.
func TestSourceTests(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"dbt_project.yml":      "name: shop\n",
		"seeds/raw_orders.csv": "id,status\n1,placed\n2,\n2,shipped\n",
		"models/sources.yml": `version: 2
sources:
  - name: raw
    schema: main
    tables:
      - name: raw_orders
        columns:
          - name: id
            data_tests: [unique, not_null]
`,
		"models/orders.sql": "select * from {{ source('raw', 'raw_orders') }}\n",
	} {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, errb := kiln(t, "seed", "--project-dir", dir); code != 0 {
		t.Fatal(errb)
	}
	code, out, errb := kiln(t, "test", "--project-dir", dir, "-s", "source:raw")
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	for _, want := range []string{"FAIL 1 source_unique_raw_raw_orders_id", "PASS source_not_null_raw_raw_orders_id", "PASS=1 WARN=0 ERROR=1 SKIP=0 TOTAL=2"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}
