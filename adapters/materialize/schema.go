package materialize

import (
	"context"
	"fmt"

	"github.com/kilnhq/kiln/adapters"
)

// CreateSchema creates database.schema if it does not exist.
func CreateSchema(ctx context.Context, wh adapters.Warehouse, database, schema string) error {
	_, err := createSchema(ctx, wh, &recorder{}, database, schema)
	return err
}

func createSchema(ctx context.Context, wh adapters.Warehouse, rec *recorder, database, schema string) (adapters.Result, error) {
	sql := "create schema if not exists " + renderSchema(wh.Dialect(), database, schema)
	res, err := rec.exec(ctx, wh, sql)
	if err != nil && ctx.Err() == nil {
		// Two concurrent "create schema if not exists" can collide on
		// Postgres (unique violation); the loser succeeds on a retry once
		// the winner has committed.
		res, err = wh.Exec(ctx, sql)
	}
	if err != nil {
		return res, fmt.Errorf("creating schema %s: %w", schema, err)
	}
	return res, nil
}

// Drop drops r if it exists, whatever its kind. With cascade, dependent
// objects go too. It returns the statement run, or "" when r did not exist.
func Drop(ctx context.Context, wh adapters.Warehouse, r adapters.Relation, cascade bool) (string, error) {
	rec := &recorder{}
	if err := dropIfExists(ctx, wh, wh, rec, r, cascade); err != nil {
		return "", err
	}
	if len(rec.applied.SQL) == 0 {
		return "", nil
	}
	return rec.applied.SQL[0], nil
}

// dropIfExists looks r up on wh and drops it on ex with the keyword of its
// kind (Postgres refuses "drop table" for a view).
func dropIfExists(ctx context.Context, wh adapters.Warehouse, ex adapters.Execer, rec *recorder, r adapters.Relation, cascade bool) error {
	info, err := wh.Relation(ctx, r)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", wh.Dialect().Render(r), err)
	}
	if info == nil {
		return nil
	}
	return drop(ctx, wh.Dialect(), ex, rec, r, info.Kind, cascade)
}

func drop(ctx context.Context, d adapters.Dialect, ex adapters.Execer, rec *recorder, r adapters.Relation, kind adapters.RelationKind, cascade bool) error {
	sql := "drop " + kindWord(kind) + " if exists " + d.Render(r)
	if cascade {
		sql += " cascade"
	}
	if _, err := rec.exec(ctx, ex, sql); err != nil {
		return fmt.Errorf("dropping %s: %w", d.Render(r), err)
	}
	return nil
}
