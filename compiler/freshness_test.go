package compiler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/compiler"
)

const freshnessSources = `version: 2
sources:
  - name: shop
    loaded_at_field: _loaded_at
    freshness:
      warn_after: {count: 12, period: hour}
      error_after: {count: 1, period: day}
      filter: "_loaded_at > '2020-01-01'"
    tables:
      - name: inherits
      - name: count_only
        freshness:
          warn_after: {count: 2}
      - name: disabled
        freshness: null
      - name: no_error
        loaded_at_field: updated_at
        freshness:
          error_after: null
          filter: null
      - name: empty
        freshness:
          warn_after: null
          error_after: null
  - name: plain
    tables:
      - name: t
`

func TestFreshnessMergesTableOverSource(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"dbt_project.yml":    "name: p\n",
		"models/a.sql":       "select 1 as x",
		"models/sources.yml": freshnessSources,
	})
	c, _, err := loadAndCompile(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	rule := func(id string) *compiler.FreshnessRule {
		t.Helper()
		r, err := c.Freshness("source.p." + id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		return r
	}
	describe := func(r *compiler.FreshnessRule) string {
		if r == nil {
			return "none"
		}
		th := func(x *compiler.FreshnessThreshold) string {
			if x == nil {
				return "-"
			}
			return x.Duration().String()
		}
		return r.LoadedAtField + " warn=" + th(r.WarnAfter) + " error=" + th(r.ErrorAfter) + " filter=" + r.Filter
	}
	for _, tc := range []struct{ id, want string }{
		{"shop.inherits", "_loaded_at warn=12h0m0s error=24h0m0s filter=_loaded_at > '2020-01-01'"},
		{"shop.count_only", "_loaded_at warn=2h0m0s error=24h0m0s filter=_loaded_at > '2020-01-01'"},
		{"shop.disabled", "none"},
		{"shop.no_error", "updated_at warn=12h0m0s error=- filter="},
		{"shop.empty", "none"},
		{"plain.t", "none"},
	} {
		if got := describe(rule(tc.id)); got != tc.want {
			t.Errorf("%s: got %q want %q", tc.id, got, tc.want)
		}
	}
	if _, err := c.Freshness("model.p.a"); err == nil {
		t.Error("Freshness of a model did not fail")
	}
}

func TestFreshnessStatus(t *testing.T) {
	r := &compiler.FreshnessRule{
		WarnAfter:  &compiler.FreshnessThreshold{Count: 2, Period: "hour"},
		ErrorAfter: &compiler.FreshnessThreshold{Count: 1, Period: "day"},
	}
	for _, tc := range []struct {
		age  time.Duration
		want compiler.FreshnessStatus
	}{
		{-time.Hour, compiler.FreshnessPass}, // loaded "in the future": clock skew
		{10 * time.Minute, compiler.FreshnessPass},
		{2 * time.Hour, compiler.FreshnessPass}, // thresholds are strict, as in dbt
		{3 * time.Hour, compiler.FreshnessWarn},
		{25 * time.Hour, compiler.FreshnessError},
	} {
		if got := r.Status(tc.age); got != tc.want {
			t.Errorf("age %s: %s, want %s", tc.age, got, tc.want)
		}
	}
	errorOnly := &compiler.FreshnessRule{ErrorAfter: &compiler.FreshnessThreshold{Count: 30, Period: "minute"}}
	if got := errorOnly.Status(time.Hour); got != compiler.FreshnessError {
		t.Errorf("error-only rule: %s", got)
	}
}

func TestFreshnessErrorsPointAtTheKey(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"dbt_project.yml": "name: p\n",
		"models/a.sql":    "select 1 as x",
		"models/sources.yml": `version: 2
sources:
  - name: s
    loaded_at_field: _loaded_at
    tables:
      - name: bad_period
        freshness:
          warn_after: {count: 1, period: fortnight}
      - name: bad_count
        freshness:
          error_after:
            count: 0
            period: day
      - name: text_count
        freshness:
          error_after: {count: "many", period: day}
      - name: unknown_key
        freshness:
          warn_afte: {count: 1, period: day}
      - name: half
        freshness:
          warn_after: {period: day}
  - name: nofield
    freshness:
      warn_after: {count: 1, period: hour}
    tables:
      - name: t
`,
	})
	c, _, err := loadAndCompile(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ id, want string }{
		{"s.bad_period", "models/sources.yml:8:"},
		{"s.bad_period", "must be minute, hour or day, not \"fortnight\""},
		{"s.bad_count", "models/sources.yml:12:"},
		{"s.bad_count", "count` must be a positive integer, not 0"},
		{"s.text_count", "models/sources.yml:16:"},
		{"s.unknown_key", "models/sources.yml:19:"},
		{"s.unknown_key", `unknown freshness key "warn_afte"`},
		{"s.half", "models/sources.yml:22:"},
		{"s.half", "has no `count`"},
		{"nofield.t", "models/sources.yml:27:"},
		{"nofield.t", "no loaded_at_field"},
	} {
		_, err := c.Freshness("source.p." + tc.id)
		if err == nil {
			t.Errorf("%s: no error", tc.id)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not contain %q", tc.id, err, tc.want)
		}
	}
}
