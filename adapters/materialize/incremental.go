package materialize

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kilnhq/kiln/adapters"
)

// Incremental strategies, as dbt spells them.
const (
	StrategyAppend       = "append"
	StrategyDeleteInsert = "delete+insert"
	StrategyMerge        = "merge"
)

// on_schema_change modes. SchemaFullRefresh is a kiln extension.
const (
	SchemaIgnore      = "ignore"
	SchemaFail        = "fail"
	SchemaAppendNew   = "append_new_columns"
	SchemaSyncAll     = "sync_all_columns"
	SchemaFullRefresh = "full_refresh"
)

// Aliases of the target and the staged rows in delete and merge statements,
// as dbt names them; incremental predicates refer to the target as
// DBT_INTERNAL_DEST.
const (
	destAlias   = "DBT_INTERNAL_DEST"
	sourceAlias = "DBT_INTERNAL_SOURCE"
)

// IncrementalOptions is an incremental model's configuration.
type IncrementalOptions struct {
	// Strategy is "append", "delete+insert" or "merge"; "" means
	// delete+insert when UniqueKey is set and append otherwise (dbt's
	// default). delete+insert and merge without a UniqueKey append.
	Strategy string
	// UniqueKey names the columns identifying a row. Rows whose key has a
	// NULL never match (as in dbt): they are appended, never replaced.
	UniqueKey []string
	// IncrementalPredicates are extra SQL conditions on the target, aliased
	// DBT_INTERNAL_DEST, that limit the rows delete+insert deletes and merge
	// matches.
	IncrementalPredicates []string
	// MergeUpdateColumns limits the columns a merge updates on matched rows;
	// MergeExcludeColumns names columns it leaves alone. At most one may be
	// set; with neither, every column is updated.
	MergeUpdateColumns  []string
	MergeExcludeColumns []string
	// OnSchemaChange is "ignore" (the default), "fail",
	// "append_new_columns", "sync_all_columns" or "full_refresh" (kiln:
	// rebuild in full when the columns differ).
	OnSchemaChange string
	// FullRefresh rebuilds the table in full.
	FullRefresh bool
	// FullSQL returns the model's SQL rendered with is_incremental() false.
	// OnSchemaChange "full_refresh" needs it to rebuild the table, since the
	// sql given to Incremental selects only the new rows.
	FullSQL func(ctx context.Context) (string, error)
}

// normalized fills in defaults and checks the options.
func (o IncrementalOptions) normalized() (IncrementalOptions, error) {
	if o.Strategy == "" {
		o.Strategy = StrategyAppend
		if len(o.UniqueKey) > 0 {
			o.Strategy = StrategyDeleteInsert
		}
	}
	switch o.Strategy {
	case StrategyAppend, StrategyDeleteInsert, StrategyMerge:
	default:
		return o, fmt.Errorf("unknown incremental_strategy %q (known: %s, %s, %s)", o.Strategy, StrategyAppend, StrategyDeleteInsert, StrategyMerge)
	}
	if o.OnSchemaChange == "" {
		o.OnSchemaChange = SchemaIgnore
	}
	switch o.OnSchemaChange {
	case SchemaIgnore, SchemaFail, SchemaAppendNew, SchemaSyncAll, SchemaFullRefresh:
	default:
		return o, fmt.Errorf("unknown on_schema_change %q (known: %s, %s, %s, %s, %s)", o.OnSchemaChange,
			SchemaIgnore, SchemaFail, SchemaAppendNew, SchemaSyncAll, SchemaFullRefresh)
	}
	if len(o.MergeUpdateColumns) > 0 && len(o.MergeExcludeColumns) > 0 {
		return o, errors.New("merge_update_columns and merge_exclude_columns cannot both be set")
	}
	for _, k := range o.UniqueKey {
		if strings.TrimSpace(k) == "" {
			return o, errors.New("unique_key has an empty column name")
		}
	}
	return o, nil
}

// IsIncrementalRun reports what a model's is_incremental() returns: rel
// exists as a table (not a view) and this is not a full refresh.
func IsIncrementalRun(ctx context.Context, wh adapters.Warehouse, rel adapters.Relation, fullRefresh bool) (bool, error) {
	if fullRefresh {
		return false, nil
	}
	info, err := wh.Relation(ctx, rel)
	if err != nil {
		return false, fmt.Errorf("looking up %s: %w", wh.Dialect().Render(rel), err)
	}
	return info != nil && info.Kind == adapters.KindTable, nil
}

// Incremental builds rel from sql, a SELECT rendered with is_incremental()
// as IsIncrementalRun reported.
//
// When rel does not exist, is not a table, or opts.FullRefresh is set, it is
// built in full like Table. Otherwise the rows sql selects are staged in the
// table <name>__kiln_tmp, and one transaction adapts the target's columns to
// opts.OnSchemaChange (widening column types the staged rows need), applies
// the strategy and drops the staging table; on error it rolls back and the
// staging table is dropped, so the target is left as it was. A staging table
// left by a killed run is dropped first.
//
// Applied.Result reports the rows inserted ("INSERT") or merged ("MERGE").
// A fail on schema change is a *SchemaChangeError; warehouse errors stay
// reachable as *adapters.Error.
func Incremental(ctx context.Context, wh adapters.Warehouse, rel adapters.Relation, sql string, opts IncrementalOptions) (Applied, error) {
	d := wh.Dialect()
	opts, err := opts.normalized()
	if err != nil {
		return Applied{}, fmt.Errorf("building incremental model %s: %w", d.Render(rel), err)
	}
	if opts.FullRefresh {
		return Table(ctx, wh, rel, sql)
	}
	live, err := wh.Relation(ctx, rel)
	if err != nil {
		return Applied{}, fmt.Errorf("building incremental model %s: looking it up: %w", d.Render(rel), err)
	}
	if live == nil || live.Kind != adapters.KindTable {
		return Table(ctx, wh, rel, sql)
	}
	rec := &recorder{}
	if err := incremental(ctx, wh, rec, live, sql, opts); err != nil {
		return rec.applied, fmt.Errorf("building incremental model %s: %w", d.Render(rel), err)
	}
	return rec.applied, nil
}

func incremental(ctx context.Context, wh adapters.Warehouse, rec *recorder, live *adapters.RelationInfo, sql string, opts IncrementalOptions) (err error) {
	d := wh.Dialect()
	rel := live.Relation
	staging := rel.WithSuffix(TmpSuffix)
	if err := dropIfExists(ctx, wh, wh, rec, staging, false); err != nil {
		return err
	}
	stagingDropped := false
	defer func() {
		if stagingDropped {
			return
		}
		// The staging table must not survive a failure, even a cancelled one.
		if derr := drop(context.WithoutCancel(ctx), d, wh, rec, staging, adapters.KindTable, false); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	if _, err := rec.exec(ctx, wh, "create table "+d.Render(staging)+" as (\n"+body(sql)+"\n)"); err != nil {
		return fmt.Errorf("staging new rows in %s: %w", d.Render(staging), err)
	}
	staged, err := wh.Relation(ctx, staging)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", d.Render(staging), err)
	}
	if staged == nil {
		return fmt.Errorf("staging table %s vanished after it was created", d.Render(staging))
	}

	plan, err := planSchema(d, live, staged.Columns, opts.OnSchemaChange)
	if err != nil {
		return err
	}
	if plan.rebuild {
		if err := drop(ctx, d, wh, rec, staging, adapters.KindTable, false); err != nil {
			return err
		}
		stagingDropped = true
		return rebuild(ctx, wh, rec, rel, plan, opts)
	}
	keys, err := resolveKeys(plan.cols, opts.UniqueKey)
	if err != nil {
		return err
	}
	var stmts []statement
	switch {
	case opts.Strategy == StrategyMerge && len(keys) > 0:
		if err := checkMergeSupported(ctx, wh); err != nil {
			return err
		}
		m, err := mergeSQL(d, rel, staging, plan.cols, keys, opts)
		if err != nil {
			return err
		}
		stmts = []statement{{what: "merging new rows", sql: m, reported: true}}
	case opts.Strategy == StrategyDeleteInsert && len(keys) > 0:
		stmts = []statement{
			{what: "deleting the rows being replaced", sql: deleteSQL(d, rel, staging, keys, opts.IncrementalPredicates)},
			{what: "inserting new rows", sql: insertSQL(d, rel, staging, plan.cols), reported: true},
		}
	default:
		stmts = []statement{{what: "inserting new rows", sql: insertSQL(d, rel, staging, plan.cols), reported: true}}
	}

	tx, err := wh.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	rec.note("begin")
	if err := runHooks(ctx, tx, rec, false); err != nil {
		return err
	}
	if err := alterTarget(ctx, wh, tx, rec, rel, plan.alters); err != nil {
		return err
	}
	var res adapters.Result
	for _, s := range stmts {
		r, err := rec.exec(ctx, tx, s.sql)
		if err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
		if s.reported {
			res = r
		}
	}
	if err := drop(ctx, d, tx, rec, staging, adapters.KindTable, false); err != nil {
		return err
	}
	if err := runHooks(ctx, tx, rec, true); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	rec.note("commit")
	stagingDropped = true
	if res.Code == "" {
		res.Code = "INSERT"
		if opts.Strategy == StrategyMerge && len(keys) > 0 {
			res.Code = "MERGE"
		}
	}
	rec.applied.Result = res
	return nil
}

// statement is one step of applying the staged rows; reported marks the
// one whose result Applied reports.
type statement struct {
	what     string
	sql      string
	reported bool
	// detachesViews marks an alter that Postgres refuses while a view reads
	// the column (changing its type, dropping it).
	detachesViews bool
}

// rebuild builds rel in full with the model's full SQL (on_schema_change
// full_refresh).
func rebuild(ctx context.Context, wh adapters.Warehouse, rec *recorder, rel adapters.Relation, plan schemaPlan, opts IncrementalOptions) error {
	if opts.FullSQL == nil {
		return fmt.Errorf("on_schema_change full_refresh: the columns changed (%s) but no full SQL was given to rebuild with", plan.describe())
	}
	sql, err := opts.FullSQL(ctx)
	if err != nil {
		return fmt.Errorf("on_schema_change full_refresh: rendering the full model: %w", err)
	}
	rec.note("-- on_schema_change full_refresh: " + plan.describe())
	applied, err := Table(ctx, wh, rel, sql)
	rec.applied.SQL = append(rec.applied.SQL, applied.SQL...)
	rec.applied.Result = applied.Result
	return err
}

// resolveKeys finds the unique key columns among the columns being applied.
func resolveKeys(cols []colPair, names []string) ([]colPair, error) {
	keys := make([]colPair, 0, len(names))
	for _, name := range names {
		p, ok := findPair(cols, name)
		if !ok {
			return nil, fmt.Errorf("unique_key column %q is not a column of both the target and the model's new rows", name)
		}
		keys = append(keys, p)
	}
	return keys, nil
}

func findPair(cols []colPair, name string) (colPair, bool) {
	for _, p := range cols {
		if strings.EqualFold(p.target, name) {
			return p, true
		}
	}
	return colPair{}, false
}

// checkMergeSupported refuses MERGE on Postgres before 15, which lacks it.
func checkMergeSupported(ctx context.Context, wh adapters.Warehouse) error {
	if wh.Dialect().Name() != "postgres" {
		return nil
	}
	rows, err := wh.Query(ctx, "select current_setting('server_version_num')")
	if err != nil {
		return fmt.Errorf("checking the server version for merge: %w", err)
	}
	defer rows.Close()
	var version string
	if rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return fmt.Errorf("checking the server version for merge: %w", err)
		}
		version = fmt.Sprint(vals[0])
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("checking the server version for merge: %w", err)
	}
	if n, err := strconv.Atoi(version); err == nil && n < 150000 {
		return fmt.Errorf("incremental_strategy merge needs Postgres 15 or later (server_version_num %s); use delete+insert", version)
	}
	return nil
}

// alterTarget runs the schema changes. On warehouses whose views bind to
// columns by identity (Postgres) a view reading the target blocks changing a
// column's type or dropping it, so the dependent views are dropped first and
// created again afterwards, as a swap does; their grants and comments are
// not carried over.
func alterTarget(ctx context.Context, wh adapters.Warehouse, tx adapters.Tx, rec *recorder, rel adapters.Relation, alters []statement) error {
	d := wh.Dialect()
	detach := false
	for _, a := range alters {
		detach = detach || a.detachesViews
	}
	var dependents []adapters.ViewDefinition
	if vd, ok := wh.(adapters.ViewDependents); ok && detach {
		var err error
		if dependents, err = vd.DependentViews(ctx, tx, rel); err != nil {
			return fmt.Errorf("listing the views that read %s: %w", d.Render(rel), err)
		}
		// Dependents come after the views they read: drop in reverse.
		for i := len(dependents) - 1; i >= 0; i-- {
			v := dependents[i]
			kind := adapters.KindView
			if v.Materialized {
				kind = adapters.KindMaterializedView
			}
			if err := drop(ctx, d, tx, rec, v.Relation, kind, false); err != nil {
				return err
			}
		}
	}
	for _, a := range alters {
		if _, err := rec.exec(ctx, tx, a.sql); err != nil {
			return fmt.Errorf("%s: %w", a.what, err)
		}
	}
	for _, v := range dependents {
		if _, err := rec.exec(ctx, tx, v.CreateSQL(d)); err != nil {
			return fmt.Errorf("recreating view %s that reads %s after changing its columns: %w", d.Render(v.Relation), d.Render(rel), err)
		}
	}
	return nil
}
