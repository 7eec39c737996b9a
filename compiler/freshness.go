package compiler

import (
	"fmt"
	"time"

	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/project"
)

// Freshness periods, as dbt spells them.
var freshnessPeriods = map[string]time.Duration{
	"minute": time.Minute,
	"hour":   time.Hour,
	"day":    24 * time.Hour,
}

// FreshnessThreshold is one of `warn_after` / `error_after`.
type FreshnessThreshold struct {
	Count  int64
	Period string // minute, hour or day
}

// Duration is the threshold as a duration.
func (t *FreshnessThreshold) Duration() time.Duration {
	return time.Duration(t.Count) * freshnessPeriods[t.Period]
}

// Exceeded reports whether age is past the threshold (strictly, as dbt
// compares). A nil threshold is never exceeded.
func (t *FreshnessThreshold) Exceeded(age time.Duration) bool {
	return t != nil && age > t.Duration()
}

// FreshnessRule is the merged freshness configuration of one source table.
type FreshnessRule struct {
	LoadedAtField string
	WarnAfter     *FreshnessThreshold // nil when unset
	ErrorAfter    *FreshnessThreshold // nil when unset
	Filter        string              // SQL condition, "" for none
}

// FreshnessStatus is a freshness outcome as sources.json spells it.
type FreshnessStatus string

// Freshness outcomes.
const (
	FreshnessPass  FreshnessStatus = "pass"
	FreshnessWarn  FreshnessStatus = "warn"
	FreshnessError FreshnessStatus = "error"
	// FreshnessRuntimeError is a query that failed (e.g. a missing table).
	FreshnessRuntimeError FreshnessStatus = "runtime error"
)

// Status classifies the age of the newest row: error_after wins over
// warn_after.
func (r *FreshnessRule) Status(age time.Duration) FreshnessStatus {
	switch {
	case r.ErrorAfter.Exceeded(age):
		return FreshnessError
	case r.WarnAfter.Exceeded(age):
		return FreshnessWarn
	}
	return FreshnessPass
}

// Freshness returns the freshness rule of source node id, or nil when the
// table has none (no `freshness:` anywhere, `freshness: null` on the table,
// or no thresholds left after merging). As in dbt, a table's `freshness:`
// overrides its source's key by key (and count/period within a threshold);
// a null key on the table removes the source's. Problems are reported with
// the file:line of the offending key; a rule without `loaded_at_field` is an
// error at the table's position.
func (c *Compiler) Freshness(id string) (*FreshnessRule, error) {
	n := c.Nodes[id]
	if n == nil || n.Type != Source || n.SourceTable == nil || n.SourceDef == nil {
		return nil, fmt.Errorf("freshness: %s is not a source table", id)
	}
	return freshnessRule(n.SourceDef, n.SourceTable)
}

func freshnessRule(src *project.Source, tbl *project.SourceTable) (*FreshnessRule, error) {
	var errs diag.List
	checkFreshnessNode(&errs, src.Freshness)
	if tbl.Freshness != nil && tbl.Freshness.IsNull() {
		// `freshness: null` on the table turns it off; the source-level
		// block is still checked so mistakes there are reported.
		return nil, errs.Err()
	}
	checkFreshnessNode(&errs, tbl.Freshness)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	r := &FreshnessRule{LoadedAtField: tbl.LoadedAtField}
	for _, key := range []string{"warn_after", "error_after", "filter"} {
		v := mergedKey(src.Freshness, tbl.Freshness, key)
		if v.IsNull() {
			continue
		}
		switch key {
		case "filter":
			r.Filter = v.String()
		case "warn_after":
			r.WarnAfter = threshold(&errs, key, v, src.Freshness.Get(key), tbl.Freshness.Get(key))
		case "error_after":
			r.ErrorAfter = threshold(&errs, key, v, src.Freshness.Get(key), tbl.Freshness.Get(key))
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if r.WarnAfter == nil && r.ErrorAfter == nil {
		return nil, nil
	}
	if r.LoadedAtField == "" {
		return nil, &diag.Diagnostic{
			Pos:  tbl.Pos,
			Msg:  fmt.Sprintf("source table %s.%s has a freshness rule but no loaded_at_field", src.Name, tbl.Name),
			Hint: "set `loaded_at_field:` to a timestamp column on the table or its source",
		}
	}
	return r, nil
}

// mergedKey is the table's value for key when the table sets it (even to
// null), else the source's.
func mergedKey(src, tbl *project.Node, key string) *project.Node {
	if tbl != nil && tbl.Kind == project.MapNode {
		if v, ok := tbl.Map[key]; ok {
			return v
		}
	}
	return src.Get(key)
}

// threshold merges a threshold's count and period (table over source) and
// checks that both are present. v is the winning node, used for positions.
func threshold(errs *diag.List, key string, v, src, tbl *project.Node) *FreshnessThreshold {
	count, period := mergedKey(src, tbl, "count"), mergedKey(src, tbl, "period")
	if count.IsNull() && period.IsNull() {
		return nil // an empty threshold is no threshold, as in dbt
	}
	if count.IsNull() || period.IsNull() {
		missing := "count"
		if period.IsNull() {
			missing = "period"
		}
		errs.Add(&diag.Diagnostic{Pos: v.Pos, Msg: fmt.Sprintf("freshness `%s` has no `%s`", key, missing), Hint: "write e.g. `" + key + ": {count: 12, period: hour}`"})
		return nil
	}
	return &FreshnessThreshold{Count: count.Scalar.(int64), Period: period.String()}
}

// checkFreshnessNode validates one `freshness:` block as written.
func checkFreshnessNode(errs *diag.List, f *project.Node) {
	if f.IsNull() {
		return
	}
	if f.Kind != project.MapNode {
		errs.Addf(f.Pos, "`freshness:` must be a mapping with `warn_after`, `error_after` and/or `filter`")
		return
	}
	for _, key := range f.Keys {
		v := f.Map[key]
		switch key {
		case "warn_after", "error_after":
			checkThresholdNode(errs, key, v)
		case "filter":
			if !v.IsNull() && (v.Kind != project.ScalarNode || v.String() == "") {
				errs.Addf(v.Pos, "freshness `filter` must be a SQL condition string")
			}
		default:
			errs.Add(&diag.Diagnostic{Pos: f.KeyPos[key], Msg: fmt.Sprintf("unknown freshness key %q", key), Hint: "known keys: warn_after, error_after, filter"})
		}
	}
}

func checkThresholdNode(errs *diag.List, key string, t *project.Node) {
	if t.IsNull() {
		return
	}
	if t.Kind != project.MapNode {
		errs.Addf(t.Pos, "freshness `%s` must be a mapping like `{count: 12, period: hour}`", key)
		return
	}
	for _, k := range t.Keys {
		v := t.Map[k]
		switch k {
		case "count":
			if v.IsNull() {
				continue
			}
			if n, ok := v.Scalar.(int64); !ok || n <= 0 || v.Kind != project.ScalarNode {
				errs.Addf(v.Pos, "freshness `%s.count` must be a positive integer, not %s", key, describeYAML(v))
			}
		case "period":
			if v.IsNull() {
				continue
			}
			if _, ok := freshnessPeriods[v.String()]; !ok || v.Kind != project.ScalarNode {
				errs.Add(&diag.Diagnostic{Pos: v.Pos, Msg: fmt.Sprintf("freshness `%s.period` must be minute, hour or day, not %s", key, describeYAML(v))})
			}
		default:
			errs.Add(&diag.Diagnostic{Pos: t.KeyPos[k], Msg: fmt.Sprintf("unknown key %q in freshness `%s`", k, key), Hint: "known keys: count, period"})
		}
	}
}

func describeYAML(v *project.Node) string {
	switch v.Kind {
	case project.MapNode:
		return "a mapping"
	case project.ListNode:
		return "a list"
	}
	if s, ok := v.Scalar.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v.Scalar)
}
