package materialize

import (
	"context"
	"fmt"
	"strings"

	"github.com/kilnhq/kiln/adapters"
)

// builder creates the new relation as tmp inside tx and reports what its
// main statement did.
type builder func(ctx context.Context, tx adapters.Tx, rec *recorder, tmp adapters.Relation) (adapters.Result, error)

// swap builds rel aside with build and swaps it in atomically; newKind is
// the kind build creates. See the package documentation for the steps.
func swap(ctx context.Context, wh adapters.Warehouse, rel adapters.Relation, newKind adapters.RelationKind, build builder) (Applied, error) {
	rec := &recorder{}
	err := swapInto(ctx, wh, rec, rel, newKind, build)
	// DuckDB's optimistic concurrency can abort a transaction whose catalog
	// changes collide with another thread's; its documentation says to
	// retry. The failed attempt rolled back whole, so retrying is safe.
	for attempt := 1; err != nil && attempt < 3 && ctx.Err() == nil && transactionConflict(wh, err); attempt++ {
		rec.note(fmt.Sprintf("-- retrying after a transaction conflict: %v", err))
		err = swapInto(ctx, wh, rec, rel, newKind, build)
	}
	if err != nil {
		return rec.applied, fmt.Errorf("building %s %s: %w", newKind, wh.Dialect().Render(rel), err)
	}
	return rec.applied, nil
}

// transactionConflict reports a DuckDB write-write conflict.
func transactionConflict(wh adapters.Warehouse, err error) bool {
	return wh.Dialect().Name() == "duckdb" && strings.Contains(strings.ToLower(err.Error()), "conflict")
}

func swapInto(ctx context.Context, wh adapters.Warehouse, rec *recorder, rel adapters.Relation, newKind adapters.RelationKind, build builder) error {
	d := wh.Dialect()
	tmp, backup := rel.WithSuffix(TmpSuffix), rel.WithSuffix(BackupSuffix)
	for _, leftover := range []adapters.Relation{tmp, backup} {
		if err := dropIfExists(ctx, wh, wh, rec, leftover, false); err != nil {
			return err
		}
	}
	if _, err := createSchema(ctx, wh, rec, rel.Database, rel.Schema); err != nil {
		return err
	}
	live, err := wh.Relation(ctx, rel)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", d.Render(rel), err)
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

	res, err := build(ctx, tx, rec, tmp)
	if err != nil {
		return err
	}
	dropBackup, err := SwapIn(ctx, wh, tx, rec.exec, tmp, rel, newKind, live)
	if err != nil {
		return err
	}
	if err := runHooks(ctx, tx, rec, true); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	rec.note("commit")
	rec.applied.Result = res
	if dropBackup {
		if err := drop(ctx, d, wh, rec, backup, live.Kind, false); err != nil {
			return err
		}
	}
	return nil
}

// ExecFunc runs one statement on ex; callers pass theirs so the
// statements land in their own record of what ran.
type ExecFunc func(ctx context.Context, ex adapters.Execer, sql string) (adapters.Result, error)

// SwapIn puts staged in rel's place inside tx, the last step of every
// build-aside (table and view builds here, raw-ingest replace loads): the
// live relation, if any, is renamed to rel's backup name and staged is
// renamed to rel. On warehouses whose views bind to a relation rather than
// its name (ViewDependents, Postgres) the backup is dropped in tx with the
// views that read it, which are created again on the new relation, so
// readers never see rel missing. It reports whether the backup is left
// for the caller to drop after the commit (the other warehouses).
func SwapIn(ctx context.Context, wh adapters.Warehouse, tx adapters.Tx, exec ExecFunc, staged, rel adapters.Relation, newKind adapters.RelationKind, live *adapters.RelationInfo) (dropBackupAfter bool, err error) {
	d := wh.Dialect()
	backup := rel.WithSuffix(BackupSuffix)
	vd, recreate := wh.(adapters.ViewDependents)
	var dependents []adapters.ViewDefinition
	if live != nil {
		if recreate {
			if dependents, err = vd.DependentViews(ctx, tx, rel); err != nil {
				return false, err
			}
		}
		if _, err := exec(ctx, tx, rename(d, rel, live.Kind, backup)); err != nil {
			return false, fmt.Errorf("moving the old %s aside: %w", live.Kind, err)
		}
	}
	if _, err := exec(ctx, tx, rename(d, staged, newKind, rel)); err != nil {
		return false, fmt.Errorf("moving the new %s in: %w", newKind, err)
	}
	if live == nil {
		return false, nil
	}
	if !recreate {
		return true, nil
	}
	if _, err := exec(ctx, tx, "drop "+kindWord(live.Kind)+" if exists "+d.Render(backup)+" cascade"); err != nil {
		return false, fmt.Errorf("dropping %s: %w", d.Render(backup), err)
	}
	for _, v := range dependents {
		if _, err := exec(ctx, tx, v.CreateSQL(d)); err != nil {
			return false, fmt.Errorf("recreating view %s that reads %s: %w", d.Render(v.Relation), d.Render(rel), err)
		}
	}
	return false, nil
}

func rename(d adapters.Dialect, from adapters.Relation, kind adapters.RelationKind, to adapters.Relation) string {
	return "alter " + kindWord(kind) + " " + d.Render(from) + " rename to " + d.QuoteIdent(to.Identifier)
}

// body trims a model's SQL so it can be wrapped in parentheses.
func body(sql string) string {
	return strings.TrimRight(strings.TrimSpace(sql), "; \t\r\n")
}
