package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/compiler"
	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/internal/pool"
)

// sourceCommand builds `kiln source` and its `freshness` subcommand.
func (a *app) sourceCommand() *cobra.Command {
	src := &cobra.Command{Use: "source", Short: "commands about sources", Args: cobra.NoArgs}
	var output string
	fresh := &cobra.Command{
		Use:   "freshness",
		Short: "check how recently source tables were loaded; writes target/sources.json",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return a.freshness(output) },
	}
	fresh.Flags().StringArrayVarP(&a.f.selects, "select", "s", nil, "sources to check (source:name, source:name.table, tag:x, ...)")
	fresh.Flags().StringArrayVar(&a.f.excludes, "exclude", nil, "sources to leave out")
	fresh.Flags().StringVarP(&output, "output", "o", "", "file to write the results to (default <target-path>/sources.json)")
	src.AddCommand(fresh)
	return src
}

// freshnessCheck is one source table to check and, after the run, its
// outcome.
type freshnessCheck struct {
	node *compiler.Node
	rule *compiler.FreshnessRule

	ran           bool // false when cancelled before it started
	status        compiler.FreshnessStatus
	maxLoadedAt   time.Time
	snapshottedAt time.Time
	age           time.Duration
	err           error
	started       time.Time
	elapsed       time.Duration
	thread        int
}

func (c *freshnessCheck) name() string { return c.node.SourceName + "." + c.node.Name }

// freshness runs `kiln source freshness`.
func (a *app) freshness(output string) error {
	s, err := a.load("freshness")
	if err != nil {
		return err
	}
	ids, err := s.selectNodes(a, compiler.Source)
	if err != nil {
		return err
	}
	checks, err := freshnessChecks(s.compiler, ids)
	if err != nil {
		return invalid(err)
	}
	if len(checks) == 0 {
		fmt.Fprintln(a.stdout, "Nothing to do: no selected source table has a freshness rule (warn_after or error_after).")
		return nil
	}
	wh, err := s.open(a.ctx)
	if err != nil {
		return err
	}
	defer wh.Close()

	out := a.newPrinter(s)
	workers := max(s.target.Profile.Threads, 1)
	if out.json {
		out.emitJSON(map[string]any{"event": "run_start", "command": "source freshness", "total": len(checks), "target": s.target.Name, "adapter": s.target.Profile.Type})
	} else {
		fmt.Fprintf(a.stdout, "Checking freshness of %d source tables on %s target %q with %d threads\n", len(checks), s.target.Profile.Type, s.target.Name, workers)
	}
	threads := make(chan int, workers)
	for i := 1; i <= workers; i++ {
		threads <- i
	}
	t0 := time.Now()
	pool.Each(a.ctx, len(checks), workers, func(i int) {
		c := checks[i]
		c.thread = <-threads
		defer func() { threads <- c.thread }()
		freshnessStart(out, i+1, len(checks), c)
		checkFreshness(a.ctx, wh, c)
		freshnessFinish(out, i+1, len(checks), c)
	})
	elapsed := time.Since(t0)
	failed := freshnessSummary(out, checks, elapsed)
	path := output
	if path == "" {
		path = filepath.Join(s.targetDir(), "sources.json")
	}
	if err := writeSources(path, s, checks, elapsed); err != nil {
		return err
	}
	if a.ctx.Err() != nil {
		return &exitError{code: ExitCancel, err: errors.New("interrupted: source freshness cancelled")}
	}
	if failed {
		return &exitError{code: ExitFailed}
	}
	return nil
}

// freshnessChecks resolves the rules of the selected source tables. Tables
// without a rule are left out; invalid rules are collected (once each, as
// a source-level mistake shows up for every table).
func freshnessChecks(c *compiler.Compiler, ids []string) ([]*freshnessCheck, error) {
	var checks []*freshnessCheck
	var errs diag.List
	seen := map[string]bool{}
	for _, id := range ids {
		rule, err := c.Freshness(id)
		if err != nil {
			var l diag.List
			l.Add(err)
			for _, d := range l {
				if !seen[d.Error()] {
					seen[d.Error()] = true
					errs = append(errs, d)
				}
			}
			continue
		}
		if rule != nil {
			checks = append(checks, &freshnessCheck{node: c.Node(id), rule: rule})
		}
	}
	return checks, errs.Err()
}

// freshnessSQL is dbt's collect_freshness query.
func freshnessSQL(n *compiler.Node, r *compiler.FreshnessRule) string {
	q := fmt.Sprintf("select\n  max(%s) as max_loaded_at,\n  current_timestamp as snapshotted_at\nfrom %s", r.LoadedAtField, n.RelationName())
	if r.Filter != "" {
		q += "\nwhere " + r.Filter
	}
	return q
}

// checkFreshness queries one table and classifies its age. Times are
// compared as instants; a `timestamp without time zone` is taken as UTC,
// as dbt does.
func checkFreshness(ctx context.Context, wh adapters.Warehouse, c *freshnessCheck) {
	c.ran = true
	c.started = time.Now()
	defer func() { c.elapsed = time.Since(c.started) }()
	fail := func(err error) {
		c.status, c.err = compiler.FreshnessRuntimeError, err
	}
	rows, err := wh.Query(ctx, freshnessSQL(c.node, c.rule))
	if err != nil {
		fail(err)
		return
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			fail(err)
		} else {
			fail(errors.New("the freshness query returned no row"))
		}
		return
	}
	vals, err := rows.Values()
	if err != nil {
		fail(err)
		return
	}
	if vals[0] == nil {
		fail(fmt.Errorf("max(%s) is null: %s has no rows (matching the filter) with a loaded_at_field value", c.rule.LoadedAtField, c.node.RelationName()))
		return
	}
	if c.maxLoadedAt, err = asUTC(vals[0]); err != nil {
		fail(fmt.Errorf("loaded_at_field %s: %w", c.rule.LoadedAtField, err))
		return
	}
	if c.snapshottedAt, err = asUTC(vals[1]); err != nil {
		fail(fmt.Errorf("current_timestamp: %w", err))
		return
	}
	c.age = c.snapshottedAt.Sub(c.maxLoadedAt)
	c.status = c.rule.Status(c.age)
}

// asUTC converts a warehouse value to a UTC time. Drivers return
// timestamps without time zone as UTC wall-clock times, which is the
// assumption dbt makes too.
func asUTC(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("%q is not a timestamp", x)
	}
	return time.Time{}, fmt.Errorf("expected a timestamp, got %v (%T)", v, v)
}

func freshnessStart(p *printer, index, total int, c *freshnessCheck) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		p.emitJSON(map[string]any{"event": "node_start", "unique_id": c.node.UniqueID, "index": index, "total": total, "name": c.name(), "resource_type": "source"})
		return
	}
	fmt.Fprintln(p.a.stdout, dots(fmt.Sprintf("%d of %d START freshness of %s", index, total, c.name()), "[RUN]"))
}

func freshnessFinish(p *printer, index, total int, c *freshnessCheck) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		v := map[string]any{"event": "node_finish", "unique_id": c.node.UniqueID, "index": index, "total": total, "name": c.name(), "resource_type": "source", "status": c.status, "execution_time": c.elapsed.Seconds()}
		if c.err != nil {
			v["error"] = c.err.Error()
		} else {
			v["max_loaded_at"] = isoTime(c.maxLoadedAt)
			v["snapshotted_at"] = isoTime(c.snapshottedAt)
			v["max_loaded_at_time_ago_in_s"] = c.age.Seconds()
		}
		p.emitJSON(v)
		return
	}
	var colour, verb, tag string
	switch c.status {
	case compiler.FreshnessPass:
		colour, verb, tag = "32", "PASS", "PASS"
	case compiler.FreshnessWarn:
		colour, verb, tag = "33", "WARN", "WARN"
	case compiler.FreshnessError:
		colour, verb, tag = "31", "ERROR STALE", "ERROR STALE"
	default:
		colour, verb, tag = "31", "ERROR", "ERROR"
	}
	left := fmt.Sprintf("%d of %d %s", index, total, p.paint(colour, verb+" freshness of "+c.name()))
	fmt.Fprintln(p.a.stdout, dots(left, fmt.Sprintf("[%s in %.2fs]", tag, c.elapsed.Seconds())))
}

// freshnessSummary prints totals and runtime errors; it reports whether
// any table is stale past error_after or could not be checked.
func freshnessSummary(p *printer, checks []*freshnessCheck, elapsed time.Duration) bool {
	var pass, warn, errs, skip int
	for _, c := range checks {
		switch {
		case !c.ran:
			skip++
		case c.status == compiler.FreshnessPass:
			pass++
		case c.status == compiler.FreshnessWarn:
			warn++
		default:
			errs++
		}
	}
	if p.json {
		p.emitJSON(map[string]any{"event": "run_end", "pass": pass, "warn": warn, "error": errs, "skip": skip, "total": len(checks), "elapsed": elapsed.Seconds()})
		return errs > 0
	}
	fmt.Fprintf(p.a.stdout, "\nFinished checking %d source tables in %.2fs.\n", len(checks), elapsed.Seconds())
	for _, c := range checks {
		switch {
		case c.err != nil:
			fmt.Fprintf(p.a.stderr, "\n%s in source %s (%s)\n  %s\n", p.paint("31", "Runtime Error"), c.name(), c.node.OriginalFilePath, strings.ReplaceAll(c.err.Error(), "\n", "\n  "))
		case c.ran && c.status == compiler.FreshnessError:
			fmt.Fprintf(p.a.stdout, "\n%s source %s was last loaded %s ago (error_after %s)\n", p.paint("31", "Stale:"), c.name(), c.age.Round(time.Second), c.rule.ErrorAfter.Duration())
		}
	}
	fmt.Fprintf(p.a.stdout, "\nDone. PASS=%d WARN=%d ERROR=%d SKIP=%d TOTAL=%d\n", pass, warn, errs, skip, len(checks))
	return errs > 0
}

// isoTime formats like Python's datetime.isoformat() on a UTC time, as
// dbt's artifacts do.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.999999-07:00") }

func thresholdJSON(t *compiler.FreshnessThreshold) map[string]any {
	if t == nil {
		return map[string]any{"count": nil, "period": nil}
	}
	return map[string]any{"count": t.Count, "period": t.Period}
}

// writeSources writes sources.json in dbt's shape (schema sources/v3).
func writeSources(path string, s *session, checks []*freshnessCheck, elapsed time.Duration) error {
	results := []any{}
	sorted := append([]*freshnessCheck(nil), checks...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].node.UniqueID < sorted[j].node.UniqueID })
	for _, c := range sorted {
		if !c.ran {
			continue
		}
		if c.err != nil {
			// dbt's SourceFreshnessRuntimeError has just these three fields.
			results = append(results, map[string]any{"unique_id": c.node.UniqueID, "error": c.err.Error(), "status": string(c.status)})
			continue
		}
		var filter any
		if c.rule.Filter != "" {
			filter = c.rule.Filter
		}
		start, end := c.started.UTC().Format(time.RFC3339Nano), c.started.Add(c.elapsed).UTC().Format(time.RFC3339Nano)
		results = append(results, map[string]any{
			"unique_id":                   c.node.UniqueID,
			"max_loaded_at":               isoTime(c.maxLoadedAt),
			"snapshotted_at":              isoTime(c.snapshottedAt),
			"max_loaded_at_time_ago_in_s": c.age.Seconds(),
			"status":                      string(c.status),
			"criteria":                    map[string]any{"warn_after": thresholdJSON(c.rule.WarnAfter), "error_after": thresholdJSON(c.rule.ErrorAfter), "filter": filter},
			"adapter_response":            map[string]any{"_message": "SELECT 1", "code": "SELECT", "rows_affected": 1},
			"timing": []any{
				map[string]any{"name": "compile", "started_at": start, "completed_at": start},
				map[string]any{"name": "execute", "started_at": start, "completed_at": end},
			},
			"thread_id":      fmt.Sprintf("Thread-%d", c.thread),
			"execution_time": c.elapsed.Seconds(),
		})
	}
	m := s.meta()
	doc := map[string]any{
		"metadata": map[string]any{
			"dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json",
			"dbt_version":        m.Version,
			"generated_at":       m.GeneratedAt.Format(time.RFC3339Nano),
			"invocation_id":      m.InvocationID,
			"adapter_type":       m.AdapterType,
			"env":                map[string]any{},
		},
		"results":      results,
		"elapsed_time": elapsed.Seconds(),
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
