package materialize

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kilnhq/kiln/adapters"
)

// Snapshot strategies (SnapshotOptions.Strategy).
const (
	SnapshotTimestamp = "timestamp"
	SnapshotCheck     = "check"
)

// Hard-delete modes (SnapshotOptions.HardDeletes).
const (
	HardDeletesIgnore     = "ignore"
	HardDeletesInvalidate = "invalidate"
	HardDeletesNewRecord  = "new_record"
)

// Columns a snapshot adds to the rows of its select, as dbt names them.
const (
	snapSCDID     = "dbt_scd_id"
	snapUpdatedAt = "dbt_updated_at"
	snapValidFrom = "dbt_valid_from"
	snapValidTo   = "dbt_valid_to"
	snapIsDeleted = "dbt_is_deleted"
	snapChange    = "dbt_change_type" // staging only
)

// SnapshotOptions configure a snapshot as dbt's snapshot config does.
type SnapshotOptions struct {
	// Strategy is "timestamp" or "check".
	Strategy string
	// UniqueKey names the column or columns identifying a record.
	UniqueKey []string
	// UpdatedAt is the source column holding when a record last changed;
	// required by the timestamp strategy. With the check strategy it is
	// optional and, when set, replaces Now as the time of a new version.
	UpdatedAt string
	// CheckCols are the columns the check strategy compares, or ["all"] for
	// every source column except the unique key(s).
	CheckCols []string
	// HardDeletes is what happens to records whose key left the source:
	// "ignore" (the default) keeps them current; "invalidate" ends their
	// current version; "new_record" also inserts a version with
	// dbt_is_deleted = 'True'.
	HardDeletes string
	// ValidToCurrent is a SQL expression stored in dbt_valid_to of current
	// versions (dbt's dbt_valid_to_current); "" stores NULL.
	ValidToCurrent string
	// Now is a SQL expression for the time of this run; "" means the
	// warehouse's current timestamp without time zone.
	Now string
}

// normalized validates o and fills in defaults.
func (o SnapshotOptions) normalized() (SnapshotOptions, error) {
	var errs []error
	o.Strategy = strings.ToLower(strings.TrimSpace(o.Strategy))
	o.HardDeletes = strings.ToLower(strings.TrimSpace(o.HardDeletes))
	if o.HardDeletes == "" {
		o.HardDeletes = HardDeletesIgnore
	}
	switch o.Strategy {
	case SnapshotTimestamp:
		if o.UpdatedAt == "" {
			errs = append(errs, errors.New("the timestamp strategy needs updated_at"))
		}
	case SnapshotCheck:
		if len(o.CheckCols) == 0 {
			errs = append(errs, errors.New("the check strategy needs check_cols"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown snapshot strategy %q (known: %s, %s)", o.Strategy, SnapshotTimestamp, SnapshotCheck))
	}
	if len(o.UniqueKey) == 0 {
		errs = append(errs, errors.New("a snapshot needs unique_key"))
	}
	switch o.HardDeletes {
	case HardDeletesIgnore, HardDeletesInvalidate, HardDeletesNewRecord:
	default:
		errs = append(errs, fmt.Errorf("unknown hard_deletes %q (known: %s, %s, %s)", o.HardDeletes, HardDeletesIgnore, HardDeletesInvalidate, HardDeletesNewRecord))
	}
	return o, errors.Join(errs...)
}

// Snapshot applies sql, the snapshot's select, to the snapshot table rel as
// dbt does (slowly changing dimension type 2).
//
// When rel does not exist it is built aside and swapped in like Table, as
// the select's rows plus dbt_scd_id, dbt_updated_at, dbt_valid_from and
// dbt_valid_to (and dbt_is_deleted = 'False' with hard_deletes
// new_record). Otherwise, in one transaction: columns the select gained are
// added to rel; the changes are staged in <rel>__kiln_tmp; the current
// versions of changed (and, per HardDeletes, vanished) records get their
// dbt_valid_to; new records and new versions are inserted; the staging
// table is dropped. A failed run leaves rel as it was.
//
// A record changed when, under the timestamp strategy, its updated_at is
// later than its current version's dbt_valid_from, or, under the check
// strategy, any check column differs, NULL-safely. Applied.Result reports
// rows inserted plus rows updated with code "INSERT" ("SELECT" and the row
// count on the first run).
func Snapshot(ctx context.Context, wh adapters.Warehouse, rel adapters.Relation, sql string, opts SnapshotOptions) (Applied, error) {
	rec := &recorder{}
	if err := snapshot(ctx, wh, rec, rel, sql, opts); err != nil {
		return rec.applied, fmt.Errorf("snapshotting into %s: %w", wh.Dialect().Render(rel), err)
	}
	return rec.applied, nil
}

func snapshot(ctx context.Context, wh adapters.Warehouse, rec *recorder, rel adapters.Relation, sql string, opts SnapshotOptions) error {
	d := wh.Dialect()
	opts, err := opts.normalized()
	if err != nil {
		return err
	}
	live, err := wh.Relation(ctx, rel)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", d.Render(rel), err)
	}
	if live == nil {
		cols, err := snapDescribe(ctx, wh, rec, sql)
		if err != nil {
			return err
		}
		p, err := newSnapPlan(d, opts, cols)
		if err != nil {
			return err
		}
		return swapInto(ctx, wh, rec, rel, adapters.KindTable, func(ctx context.Context, tx adapters.Tx, rec *recorder, tmp adapters.Relation) (adapters.Result, error) {
			res, err := rec.exec(ctx, tx, "create table "+d.Render(tmp)+" as (\n"+p.createSelect(sql)+"\n)")
			if err != nil {
				return res, err
			}
			return adapters.Result{RowsAffected: res.RowsAffected, Code: "SELECT"}, nil
		})
	}
	if live.Kind != adapters.KindTable {
		return fmt.Errorf("%s is a %s, not a snapshot table", d.Render(rel), strings.ReplaceAll(string(live.Kind), "_", " "))
	}
	return snapApply(ctx, wh, rec, live, sql, opts)
}

// snapApply runs a snapshot on an existing snapshot table.
func snapApply(ctx context.Context, wh adapters.Warehouse, rec *recorder, live *adapters.RelationInfo, sql string, opts SnapshotOptions) error {
	d := wh.Dialect()
	rel := live.Relation
	stage := rel.WithSuffix(TmpSuffix)
	if err := dropIfExists(ctx, wh, wh, rec, stage, false); err != nil {
		return err
	}
	for _, name := range []string{snapSCDID, snapUpdatedAt, snapValidFrom, snapValidTo} {
		if _, ok := snapFindColumn(live.Columns, name); !ok {
			return fmt.Errorf("%s has no %s column: it is not a snapshot table", d.Render(rel), name)
		}
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
	cols, err := snapDescribe(ctx, tx, rec, sql)
	if err != nil {
		return err
	}
	p, err := newSnapPlan(d, opts, cols)
	if err != nil {
		return err
	}
	for _, c := range cols {
		if _, ok := snapFindColumn(live.Columns, c.Name); ok {
			continue
		}
		if c.Type == "" {
			return fmt.Errorf("adding column %s that the snapshot's select gained: the warehouse did not report its type", c.Name)
		}
		if _, err := rec.exec(ctx, tx, "alter table "+d.Render(rel)+" add column "+d.QuoteIdent(c.Name)+" "+c.Type); err != nil {
			return fmt.Errorf("adding column %s that the snapshot's select gained: %w", c.Name, err)
		}
	}
	if _, ok := snapFindColumn(live.Columns, snapIsDeleted); !ok && opts.HardDeletes == HardDeletesNewRecord {
		if _, err := rec.exec(ctx, tx, "alter table "+d.Render(rel)+" add column "+d.QuoteIdent(snapIsDeleted)+" "+d.TypeName("text")); err != nil {
			return fmt.Errorf("adding column %s for hard_deletes new_record: %w", snapIsDeleted, err)
		}
	}

	if _, err := rec.exec(ctx, tx, "create table "+d.Render(stage)+" as (\n"+p.stagingSelect(rel, sql)+"\n)"); err != nil {
		return fmt.Errorf("staging changes: %w", err)
	}
	upd, err := rec.exec(ctx, tx, p.updateSQL(rel, stage))
	if err != nil {
		return fmt.Errorf("ending changed versions: %w", err)
	}
	ins, err := rec.exec(ctx, tx, p.insertSQL(rel, stage))
	if err != nil {
		return fmt.Errorf("inserting new versions: %w", err)
	}
	if err := drop(ctx, d, tx, rec, stage, adapters.KindTable, false); err != nil {
		return err
	}
	if err := runHooks(ctx, tx, rec, true); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	rec.note("commit")
	rec.applied.Result = adapters.Result{RowsAffected: ins.RowsAffected + upd.RowsAffected, Code: "INSERT"}
	return nil
}

// snapDescribe returns the columns of the snapshot's select without reading
// its rows. The query is recorded with the statements.
func snapDescribe(ctx context.Context, ex adapters.Execer, rec *recorder, sql string) ([]adapters.Column, error) {
	q := "select * from (\n" + body(sql) + "\n) as kiln_source limit 0"
	rec.note(q)
	rows, err := ex.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("describing the snapshot's select: %w", err)
	}
	defer rows.Close()
	cols := rows.Columns()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("describing the snapshot's select: %w", err)
	}
	return cols, nil
}
