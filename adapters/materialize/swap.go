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
	vd, recreate := wh.(adapters.ViewDependents)

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
	var dependents []adapters.ViewDefinition
	if live != nil {
		if recreate {
			if dependents, err = vd.DependentViews(ctx, tx, rel); err != nil {
				return err
			}
		}
		if _, err := rec.exec(ctx, tx, rename(d, rel, live.Kind, backup)); err != nil {
			return fmt.Errorf("moving the old %s aside: %w", live.Kind, err)
		}
	}
	if _, err := rec.exec(ctx, tx, rename(d, tmp, newKind, rel)); err != nil {
		return fmt.Errorf("moving the new %s in: %w", newKind, err)
	}
	if live != nil && recreate {
		if err := drop(ctx, d, tx, rec, backup, live.Kind, true); err != nil {
			return err
		}
		for _, v := range dependents {
			if _, err := rec.exec(ctx, tx, v.CreateSQL(d)); err != nil {
				return fmt.Errorf("recreating view %s that reads %s: %w", d.Render(v.Relation), d.Render(rel), err)
			}
		}
	}
	if err := runHooks(ctx, tx, rec, true); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	rec.note("commit")
	rec.applied.Result = res
	if live != nil && !recreate {
		if err := drop(ctx, d, wh, rec, backup, live.Kind, false); err != nil {
			return err
		}
	}
	return nil
}

func rename(d adapters.Dialect, from adapters.Relation, kind adapters.RelationKind, to adapters.Relation) string {
	return "alter " + kindWord(kind) + " " + d.Render(from) + " rename to " + d.QuoteIdent(to.Identifier)
}

// body trims a model's SQL so it can be wrapped in parentheses.
func body(sql string) string {
	return strings.TrimRight(strings.TrimSpace(sql), "; \t\r\n")
}
