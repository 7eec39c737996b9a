package materialize

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kilnhq/kiln/adapters"
)

// snapPlan spells the SQL of one snapshot run: the options resolved against
// the columns of the snapshot's select.
type snapPlan struct {
	d         adapters.Dialect
	opts      SnapshotOptions
	source    []string // the select's columns, as the warehouse spells them
	keys      []string
	updatedAt string // "" under the check strategy without updated_at
	check     []string
	now       string
}

func newSnapPlan(d adapters.Dialect, opts SnapshotOptions, cols []adapters.Column) (*snapPlan, error) {
	p := &snapPlan{d: d, opts: opts, now: opts.Now}
	if p.now == "" {
		p.now = "cast(current_timestamp as timestamp)"
	}
	var errs []error
	for _, c := range cols {
		p.source = append(p.source, c.Name)
		for _, meta := range []string{snapSCDID, snapUpdatedAt, snapValidFrom, snapValidTo, snapIsDeleted, snapChange} {
			if strings.EqualFold(c.Name, meta) {
				errs = append(errs, fmt.Errorf("the snapshot's select has a column %s, which the snapshot adds itself", c.Name))
			}
		}
	}
	resolve := func(what, name string) string {
		if c, ok := snapFindColumn(cols, name); ok {
			return c.Name
		}
		errs = append(errs, fmt.Errorf("%s %q is not a column of the snapshot's select (columns: %s)", what, name, strings.Join(p.source, ", ")))
		return name
	}
	for _, k := range opts.UniqueKey {
		p.keys = append(p.keys, resolve("unique_key", k))
	}
	if opts.UpdatedAt != "" {
		p.updatedAt = resolve("updated_at", opts.UpdatedAt)
	}
	if opts.Strategy == SnapshotCheck {
		if len(opts.CheckCols) == 1 && strings.EqualFold(opts.CheckCols[0], "all") {
			for _, c := range cols {
				if _, isKey := snapFind(opts.UniqueKey, c.Name); !isKey {
					p.check = append(p.check, c.Name)
				}
			}
		} else {
			for _, c := range opts.CheckCols {
				p.check = append(p.check, resolve("check_cols entry", c))
			}
		}
	}
	return p, errors.Join(errs...)
}

// snapFindColumn finds a column by name, ignoring case.
func snapFindColumn(cols []adapters.Column, name string) (adapters.Column, bool) {
	for _, c := range cols {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return adapters.Column{}, false
}

func snapFind(names []string, name string) (int, bool) {
	for i, n := range names {
		if strings.EqualFold(n, name) {
			return i, true
		}
	}
	return -1, false
}

func (p *snapPlan) newRecord() bool { return p.opts.HardDeletes == HardDeletesNewRecord }

// col spells alias.name.
func (p *snapPlan) col(alias, name string) string { return alias + "." + p.d.QuoteIdent(name) }

// cols spells alias.c for every source column.
func (p *snapPlan) cols(alias string) string {
	out := make([]string, len(p.source))
	for i, c := range p.source {
		out[i] = p.col(alias, c)
	}
	return strings.Join(out, ", ")
}

// ts is the time of a new version read from the source row alias.
func (p *snapPlan) ts(alias string) string {
	if p.updatedAt != "" {
		return p.col(alias, p.updatedAt)
	}
	return p.now
}

// scdID hashes the unique key of row alias with a time, as dbt's
// snapshot_hash_arguments does.
func (p *snapPlan) scdID(alias, ts string) string {
	parts := make([]string, 0, len(p.keys)+1)
	for _, k := range p.keys {
		parts = append(parts, "coalesce(cast("+p.col(alias, k)+" as varchar), '')")
	}
	parts = append(parts, "coalesce(cast("+ts+" as varchar), '')")
	return "md5(" + strings.Join(parts, " || '|' || ") + ")"
}

// validToCurrent is dbt_valid_to of a current version, typed like ts.
func (p *snapPlan) validToCurrent(ts string) string {
	null := "nullif(" + ts + ", " + ts + ")"
	if p.opts.ValidToCurrent == "" {
		return null
	}
	return "coalesce(" + null + ", " + p.opts.ValidToCurrent + ")"
}

// current selects the current versions of the snapshot table alias.
func (p *snapPlan) current(alias string) string {
	to := p.col(alias, snapValidTo)
	if p.opts.ValidToCurrent == "" {
		return to + " is null"
	}
	return "(" + to + " is null or " + to + " = " + p.opts.ValidToCurrent + ")"
}

// changed says whether source row s differs from current version t.
func (p *snapPlan) changed(t, s string) string {
	if p.opts.Strategy == SnapshotTimestamp {
		return p.col(t, snapValidFrom) + " < " + p.col(s, p.updatedAt)
	}
	if len(p.check) == 0 {
		return "false"
	}
	parts := make([]string, len(p.check))
	for i, c := range p.check {
		parts[i] = p.col(t, c) + " is distinct from " + p.col(s, c)
	}
	return "(" + strings.Join(parts, " or ") + ")"
}

func (p *snapPlan) keyJoin(s, t string) string {
	parts := make([]string, len(p.keys))
	for i, k := range p.keys {
		parts[i] = p.col(s, k) + " = " + p.col(t, k)
	}
	return strings.Join(parts, " and ")
}

func (p *snapPlan) text(s string) string {
	return "cast(" + p.d.QuoteString(s) + " as " + p.d.TypeName("text") + ")"
}

func (p *snapPlan) isDeleted(t string) string {
	return p.col(t, snapIsDeleted) + " = " + p.d.QuoteString("True")
}

// as spells "expr as name".
func (p *snapPlan) as(expr, name string) string { return expr + " as " + p.d.QuoteIdent(name) }

// createSelect is the select building a new snapshot table.
func (p *snapPlan) createSelect(sql string) string {
	const src = "kiln_source"
	ts := p.ts(src)
	var b strings.Builder
	b.WriteString("select " + src + ".*,\n  " + p.as(p.scdID(src, ts), snapSCDID))
	b.WriteString(",\n  " + p.as(ts, snapUpdatedAt))
	b.WriteString(",\n  " + p.as(ts, snapValidFrom))
	b.WriteString(",\n  " + p.as(p.validToCurrent(ts), snapValidTo))
	if p.newRecord() {
		b.WriteString(",\n  " + p.as(p.text("False"), snapIsDeleted))
	}
	b.WriteString("\nfrom (\n" + body(sql) + "\n) as " + src)
	return b.String()
}

// stagingSelect computes the changes of this run: rows to insert (new
// records, new versions, deletion records) and current versions to end
// ("update", "delete") with the dbt_valid_to they get.
func (p *snapPlan) stagingSelect(rel adapters.Relation, sql string) string {
	var b strings.Builder
	row := func(change, cols, scd, updatedAt, validFrom, validTo, deleted string) {
		b.WriteString("  select " + p.as(p.d.QuoteString(change), snapChange) + ", " + cols + ",\n    ")
		b.WriteString(p.as(scd, snapSCDID) + ", " + p.as(updatedAt, snapUpdatedAt) + ", ")
		b.WriteString(p.as(validFrom, snapValidFrom) + ", " + p.as(validTo, snapValidTo))
		if p.newRecord() {
			b.WriteString(", " + p.as(p.text(deleted), snapIsDeleted))
		}
		b.WriteString("\n")
	}
	returned := ""
	if p.newRecord() {
		returned = " or " + p.isDeleted("t")
	}
	ts := p.ts("s")

	b.WriteString("with source_data as (\n  select * from (\n" + body(sql) + "\n  ) as kiln_source\n),\n")
	b.WriteString("snapshotted_data as (\n  select * from " + p.d.Render(rel) + " as t where " + p.current("t") + "\n),\n")

	b.WriteString("insertions as (\n")
	row("insert", p.cols("s"), p.scdID("s", ts), ts, ts, p.validToCurrent(ts), "False")
	b.WriteString("  from source_data as s left join snapshotted_data as t on " + p.keyJoin("s", "t") + "\n")
	b.WriteString("  where " + p.col("t", snapSCDID) + " is null or " + p.changed("t", "s") + returned + "\n),\n")

	b.WriteString("updates as (\n")
	row("update", p.cols("s"), p.col("t", snapSCDID), ts, ts, ts, "False")
	b.WriteString("  from source_data as s join snapshotted_data as t on " + p.keyJoin("s", "t") + "\n")
	b.WriteString("  where " + p.changed("t", "s") + returned + "\n)")
	branches := []string{"insertions", "updates"}

	if p.opts.HardDeletes != HardDeletesIgnore {
		// A current version whose key is not in the source; the join
		// matches only non-null keys, so a null first key means no match.
		vanished := "  from snapshotted_data as t left join source_data as s on " + p.keyJoin("s", "t") + "\n" +
			"  where " + p.col("s", p.keys[0]) + " is null"
		if p.newRecord() {
			vanished += " and " + p.col("t", snapIsDeleted) + " is distinct from " + p.d.QuoteString("True")
		}
		b.WriteString(",\ndeletes as (\n")
		row("delete", p.cols("t"), p.col("t", snapSCDID), p.now, p.now, p.now, "True")
		b.WriteString(vanished + "\n)")
		branches = append(branches, "deletes")
		if p.newRecord() {
			b.WriteString(",\ndeletion_records as (\n")
			row("insert", p.cols("t"), p.scdID("t", p.now), p.now, p.now, p.validToCurrent(p.now), "True")
			b.WriteString(vanished + "\n)")
			branches = append(branches, "deletion_records")
		}
	}
	for i, br := range branches {
		if i == 0 {
			b.WriteString("\nselect * from " + br)
		} else {
			b.WriteString("\nunion all select * from " + br)
		}
	}
	return b.String()
}

// updateSQL ends the current versions the staging table marks as updated
// or deleted.
func (p *snapPlan) updateSQL(rel, stage adapters.Relation) string {
	q := p.d.QuoteIdent
	return "update " + p.d.Render(rel) + " as t\nset " + q(snapValidTo) + " = " + p.col("s", snapValidTo) +
		"\nfrom " + p.d.Render(stage) + " as s" +
		"\nwhere " + p.col("s", snapSCDID) + " = " + p.col("t", snapSCDID) +
		"\n  and " + p.col("s", snapChange) + " in (" + p.d.QuoteString("update") + ", " + p.d.QuoteString("delete") + ")" +
		"\n  and " + p.current("t")
}

// insertSQL inserts the rows the staging table marks as inserts.
func (p *snapPlan) insertSQL(rel, stage adapters.Relation) string {
	names := append([]string{}, p.source...)
	names = append(names, snapSCDID, snapUpdatedAt, snapValidFrom, snapValidTo)
	if p.newRecord() {
		names = append(names, snapIsDeleted)
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = p.d.QuoteIdent(n)
	}
	list := strings.Join(quoted, ", ")
	return "insert into " + p.d.Render(rel) + " (" + list + ")\nselect " + list + "\nfrom " + p.d.Render(stage) +
		"\nwhere " + p.d.QuoteIdent(snapChange) + " = " + p.d.QuoteString("insert")
}
