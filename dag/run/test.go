package run

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/materialize"
	"github.com/kilnhq/kiln/compiler"
)

// testConfig is a data test's effective configuration with dbt's defaults.
type testConfig struct {
	severity      string // "error" or "warn"
	warnIf        string
	errorIf       string
	failCalc      string
	limit         int64 // 0: none
	storeFailures bool
}

func configOf(n *compiler.Node) testConfig {
	c := testConfig{severity: "error", warnIf: "!= 0", errorIf: "!= 0", failCalc: "count(*)"}
	if s := strings.ToLower(n.Config.String("severity")); s != "" {
		c.severity = s
	}
	if s := n.Config.String("warn_if"); s != "" {
		c.warnIf = s
	}
	if s := n.Config.String("error_if"); s != "" {
		c.errorIf = s
	}
	if s := n.Config.String("fail_calc"); s != "" {
		c.failCalc = s
	}
	if l, err := strconv.ParseInt(n.Config.String("limit"), 10, 64); err == nil && l > 0 {
		c.limit = l
	}
	c.storeFailures = n.Config.Bool("store_failures", false)
	return c
}

// TestQuery wraps a test's SQL (the failing rows) in dbt's counting query.
func TestQuery(n *compiler.Node, from string) string {
	c := configOf(n)
	return fmt.Sprintf("select\n    %s as failures,\n    %s %s as should_warn,\n    %s %s as should_error\nfrom (\n%s\n) dbt_internal_test",
		c.failCalc, c.failCalc, c.warnIf, c.failCalc, c.errorIf, from)
}

// runTest runs one data test and grades it.
func (b *Builder) runTest(ctx context.Context, n *compiler.Node) Outcome {
	c := configOf(n)
	inner := strings.TrimRight(strings.TrimSpace(n.Compiled), ";")
	if c.limit > 0 {
		inner += fmt.Sprintf("\nlimit %d", c.limit)
	}
	var executed []string
	if c.storeFailures {
		audit := adapters.Relation{Database: n.Database, Schema: n.Schema, Identifier: n.Alias}
		applied, err := materialize.Table(ctx, b.Warehouse, audit, inner)
		executed = append(executed, applied.SQL...)
		if err != nil {
			return Outcome{Status: StatusError, Err: b.explain(n, err), Message: b.explain(n, err).Error()}
		}
		inner = "select * from " + b.Warehouse.Dialect().Render(audit)
	}
	q := TestQuery(n, inner)
	executed = append(executed, q)
	if err := b.Compiler.WriteRun(n, strings.Join(executed, ";\n\n")+";"); err != nil {
		return Outcome{Status: StatusError, Err: err, Message: err.Error()}
	}
	failures, warn, fail, err := b.grade(ctx, q)
	if err != nil {
		return Outcome{Status: StatusError, Err: b.explain(n, err), Message: b.explain(n, err).Error()}
	}
	out := Outcome{Status: StatusPass, Failures: failures, Message: "PASS"}
	switch {
	case c.severity == "error" && fail:
		out.Status = StatusFail
		out.Message = fmt.Sprintf("Got %d result%s, configured to fail if %s", failures, plural(failures), c.errorIf)
	case warn:
		out.Status = StatusWarn
		out.Message = fmt.Sprintf("Got %d result%s, configured to warn if %s", failures, plural(failures), c.warnIf)
	}
	return out
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// grade runs the counting query and reads its single row.
func (b *Builder) grade(ctx context.Context, q string) (failures int64, warn, fail bool, err error) {
	rows, err := b.Warehouse.Query(ctx, q)
	if err != nil {
		return 0, false, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, false, false, err
		}
		return 0, false, false, fmt.Errorf("test query returned no row")
	}
	v, err := rows.Values()
	if err != nil {
		return 0, false, false, err
	}
	if len(v) != 3 {
		return 0, false, false, fmt.Errorf("test query returned %d columns, want 3", len(v))
	}
	return toInt(v[0]), toBool(v[1]), toBool(v[2]), rows.Err()
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case float64:
		return int64(x)
	case string:
		i, _ := strconv.ParseInt(x, 10, 64)
		return i
	}
	i, _ := strconv.ParseInt(fmt.Sprint(v), 10, 64)
	return i
}

func toBool(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case nil:
		return false
	}
	return toInt(v) != 0
}
