package ingest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/materialize"
)

// apply moves the staged rows into the destination and writes st, all in
// one transaction.
func (l *load) apply(ctx context.Context, st storedState) error {
	if l.opts.Mode == ModeMerge {
		// Keep one staged row per key: the highest cursor, then the last read.
		if err := l.dedupe(ctx); err != nil {
			return err
		}
	}
	err := l.applyOnce(ctx, st)
	// A DuckDB transaction conflicting with a parallel load rolled back
	// whole; applying again is safe.
	for attempt := 1; err != nil && attempt < 3 && ctx.Err() == nil && l.conflict(err); attempt++ {
		time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
		err = l.applyOnce(ctx, st)
	}
	return err
}

func (l *load) applyOnce(ctx context.Context, st storedState) error {
	l.res.Inserted, l.res.Updated = 0, 0
	live, err := l.wh.Relation(ctx, l.dest)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", l.d.Render(l.dest), err)
	}
	rejLive, err := l.wh.Relation(ctx, l.rejects)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", l.d.Render(l.rejects), err)
	}
	replace := l.opts.Mode == ModeReplace || l.opts.FullRefresh
	if l.d.Name() == "duckdb" && replace && live != nil {
		// DuckDB renames need no dependent-view handling; drop any
		// leftover backup first.
		if _, err := l.exec(ctx, l.wh, "drop table if exists "+l.d.Render(l.dest.WithSuffix(BackupSuffix))); err != nil {
			return err
		}
	}

	tx, err := l.wh.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if replace {
		if err := l.swapIn(ctx, tx, live); err != nil {
			return err
		}
		l.res.Inserted = l.rows
	} else {
		if err := l.applyRows(ctx, tx, live); err != nil {
			return err
		}
	}
	if err := l.applyRejects(ctx, tx, rejLive, replace); err != nil {
		return err
	}
	if err := l.writeState(ctx, tx, st); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if replace && live != nil {
		_, _ = l.exec(ctx, l.wh, "drop table if exists "+l.d.Render(l.dest.WithSuffix(BackupSuffix)))
	}
	return nil
}

// swapIn renames the staged table into place (materialize.SwapIn), keeping
// Postgres views that read the old table.
func (l *load) swapIn(ctx context.Context, tx adapters.Tx, live *adapters.RelationInfo) error {
	if live != nil {
		if live.Kind != adapters.KindTable {
			return fmt.Errorf("%s is a %s, not a table", l.d.Render(l.dest), live.Kind)
		}
		if _, err := l.exec(ctx, tx, "drop table if exists "+l.d.Render(l.dest.WithSuffix(BackupSuffix))); err != nil {
			return err
		}
	}
	// A backup left on warehouses without view re-creation is dropped
	// after the commit by applyOnce.
	_, err := materialize.SwapIn(ctx, l.wh, tx, l.exec, l.stage, l.dest, adapters.KindTable, live)
	return err
}

// applyRows appends (append) or upserts (merge) the staged rows, first
// creating the destination or bringing its columns up to the staged ones.
func (l *load) applyRows(ctx context.Context, tx adapters.Tx, live *adapters.RelationInfo) error {
	if l.rows == 0 && live != nil {
		// Nothing new (e.g. no new files): the table stays as it is; only
		// the state is written.
		return nil
	}
	target := map[string]string{} // column → warehouse type
	if live == nil {
		if _, err := l.exec(ctx, tx, "create table "+l.d.Render(l.dest)+" (\n  "+strings.Join(l.columnsDDL(true), ",\n  ")+"\n)"); err != nil {
			return err
		}
	} else {
		for _, c := range live.Columns {
			target[c.Name] = c.Type
		}
	}
	type staged struct{ name, typ string }
	all := make([]staged, 0, len(l.cols)+2)
	for _, c := range l.cols {
		all = append(all, staged{c.name, c.typ})
	}
	all = append(all, staged{LoadedAtColumn, l.d.TypeName("timestamp")})
	if l.hasFile {
		all = append(all, staged{FileColumn, l.d.TypeName("text")})
	}
	var into, sel []string
	for _, c := range all {
		typ := c.typ
		if live != nil {
			old, ok := target[c.name]
			switch {
			case !ok:
				if _, err := l.exec(ctx, tx, "alter table "+l.d.Render(l.dest)+" add column "+l.d.QuoteIdent(c.name)+" "+c.typ); err != nil {
					return fmt.Errorf("adding column %s: %w", c.name, err)
				}
			default:
				typ = old
				ko, kn := kindOfType(old), kindOfType(c.typ)
				if ko != kindRaw && kn != kindRaw {
					if w := widen(ko, kn); w != ko {
						typ = l.d.TypeName(w.portable())
						if err := l.alterType(ctx, tx, l.dest, c.name, typ); err != nil {
							return fmt.Errorf("widening column %s from %s to %s: %w", c.name, old, typ, err)
						}
					}
				}
			}
		}
		into = append(into, l.d.QuoteIdent(c.name))
		sel = append(sel, "cast("+l.d.QuoteIdent(c.name)+" as "+typ+")")
	}
	if l.opts.Mode == ModeMerge {
		var conds []string
		for _, k := range l.opts.PrimaryKey {
			if _, ok := l.byName[k]; !ok {
				return fmt.Errorf("primary_key column %q is not among the source's columns", k)
			}
			conds = append(conds, "s."+l.d.QuoteIdent(k)+" = d."+l.d.QuoteIdent(k))
		}
		res, err := l.exec(ctx, tx, "delete from "+l.d.Render(l.dest)+" as d\nwhere exists (select 1 from "+l.d.Render(l.stage)+" as s where "+strings.Join(conds, " and ")+")")
		if err != nil {
			return fmt.Errorf("deleting the rows being updated: %w", err)
		}
		l.res.Updated = res.RowsAffected
	}
	res, err := l.exec(ctx, tx, "insert into "+l.d.Render(l.dest)+" ("+strings.Join(into, ", ")+")\nselect "+strings.Join(sel, ", ")+"\nfrom "+l.d.Render(l.stage))
	if err != nil {
		return fmt.Errorf("inserting the staged rows: %w", err)
	}
	l.res.Inserted = res.RowsAffected - l.res.Updated
	return nil
}

// dedupe keeps one staged row per primary key: the one with the highest
// cursor, then the one staged last.
func (l *load) dedupe(ctx context.Context) error {
	rowid := "rowid"
	if l.d.Name() == "postgres" {
		rowid = "ctid"
	}
	var keys []string
	for _, k := range l.opts.PrimaryKey {
		if _, ok := l.byName[k]; !ok && l.rows > 0 {
			return fmt.Errorf("primary_key column %q is not among the source's columns", k)
		}
		keys = append(keys, l.d.QuoteIdent(k))
	}
	if l.rows == 0 {
		return nil
	}
	order := rowid + " desc"
	if _, ok := l.byName[l.opts.Cursor]; ok && l.opts.Cursor != "" {
		order = l.d.QuoteIdent(l.opts.Cursor) + " desc nulls last, " + order
	}
	_, err := l.exec(ctx, l.wh, "delete from "+l.d.Render(l.stage)+" where "+rowid+" in (\n  select r from (\n    select "+rowid+" as r, row_number() over (partition by "+
		strings.Join(keys, ", ")+" order by "+order+") as n\n    from "+l.d.Render(l.stage)+"\n  ) ranked where n > 1\n)")
	if err != nil {
		return fmt.Errorf("de-duplicating the staged rows by primary key: %w", err)
	}
	return nil
}

// applyRejects moves the staged bad records to <table>__kiln_rejects; a
// replace load replaces the old ones.
func (l *load) applyRejects(ctx context.Context, tx adapters.Tx, live *adapters.RelationInfo, replace bool) error {
	if live == nil && !l.rejStaged {
		return nil
	}
	if live == nil {
		if _, err := l.exec(ctx, tx, "create table "+l.d.Render(l.rejects)+" ("+rejectColumnsDDL(l.d)+")"); err != nil {
			return err
		}
	} else if replace {
		if _, err := l.exec(ctx, tx, "delete from "+l.d.Render(l.rejects)); err != nil {
			return err
		}
	}
	if !l.rejStaged {
		return nil
	}
	var cols []string
	for _, c := range rejectColumns(l.d) {
		cols = append(cols, l.d.QuoteIdent(c.Name))
	}
	list := strings.Join(cols, ", ")
	_, err := l.exec(ctx, tx, "insert into "+l.d.Render(l.rejects)+" ("+list+")\nselect "+list+" from "+l.d.Render(l.rejStage))
	return err
}
