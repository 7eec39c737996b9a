package materialize

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kilnhq/kiln/adapters"
)

// colPair is one column applied from the staged rows to the target, with
// each side's own spelling of its name.
type colPair struct {
	target, staged string
}

// insertSQL copies every staged row into the target.
func insertSQL(d adapters.Dialect, target, staging adapters.Relation, cols []colPair) string {
	var into, sel []string
	for _, c := range cols {
		into = append(into, d.QuoteIdent(c.target))
		sel = append(sel, d.QuoteIdent(c.staged))
	}
	return "insert into " + d.Render(target) + " (" + strings.Join(into, ", ") + ")\n" +
		"select " + strings.Join(sel, ", ") + "\nfrom " + d.Render(staging)
}

// deleteSQL deletes the target rows whose key is among the staged rows'
// keys, limited by the predicates. It joins with EXISTS rather than
// "(k1, k2) in (select ...)" so both warehouses plan a semi-join.
func deleteSQL(d adapters.Dialect, target, staging adapters.Relation, keys []colPair, predicates []string) string {
	var b strings.Builder
	b.WriteString("delete from " + d.Render(target) + " as " + destAlias + "\nwhere exists (\n")
	b.WriteString("  select 1 from " + d.Render(staging) + " as " + sourceAlias + "\n  where " + keyMatch(d, keys))
	b.WriteString("\n)")
	for _, p := range predicates {
		b.WriteString("\nand (" + p + ")")
	}
	return b.String()
}

// keyMatch is the join condition on the unique key.
func keyMatch(d adapters.Dialect, keys []colPair) string {
	conds := make([]string, len(keys))
	for i, k := range keys {
		conds[i] = sourceAlias + "." + d.QuoteIdent(k.staged) + " = " + destAlias + "." + d.QuoteIdent(k.target)
	}
	return strings.Join(conds, " and ")
}

// mergeSQL updates matched target rows and inserts the others in one MERGE
// (Postgres 15+, DuckDB 1.4+). The predicates join the key in ON, as in
// dbt: a staged row matching a target row outside them is inserted.
func mergeSQL(d adapters.Dialect, target, staging adapters.Relation, cols, keys []colPair, opts IncrementalOptions) (string, error) {
	update, err := mergeUpdateColumns(cols, opts)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("merge into " + d.Render(target) + " as " + destAlias + "\n")
	b.WriteString("using " + d.Render(staging) + " as " + sourceAlias + "\n")
	b.WriteString("on " + keyMatch(d, keys))
	for _, p := range opts.IncrementalPredicates {
		b.WriteString(" and (" + p + ")")
	}
	if len(update) > 0 {
		sets := make([]string, len(update))
		for i, c := range update {
			sets[i] = d.QuoteIdent(c.target) + " = " + sourceAlias + "." + d.QuoteIdent(c.staged)
		}
		b.WriteString("\nwhen matched then update set\n  " + strings.Join(sets, ",\n  "))
	}
	var into, vals []string
	for _, c := range cols {
		into = append(into, d.QuoteIdent(c.target))
		vals = append(vals, sourceAlias+"."+d.QuoteIdent(c.staged))
	}
	b.WriteString("\nwhen not matched then insert (" + strings.Join(into, ", ") + ")\n  values (" + strings.Join(vals, ", ") + ")")
	return b.String(), nil
}

// mergeUpdateColumns picks the columns a merge updates.
func mergeUpdateColumns(cols []colPair, opts IncrementalOptions) ([]colPair, error) {
	switch {
	case len(opts.MergeUpdateColumns) > 0:
		var out []colPair
		var missing []string
		for _, name := range opts.MergeUpdateColumns {
			p, ok := findPair(cols, name)
			if !ok {
				missing = append(missing, name)
				continue
			}
			out = append(out, p)
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("merge_update_columns names columns not in both the target and the model's new rows: %s", strings.Join(missing, ", "))
		}
		return out, nil
	case len(opts.MergeExcludeColumns) > 0:
		var out []colPair
		for _, p := range cols {
			excluded := false
			for _, name := range opts.MergeExcludeColumns {
				if strings.EqualFold(p.target, name) {
					excluded = true
					break
				}
			}
			if !excluded {
				out = append(out, p)
			}
		}
		return out, nil
	}
	if len(cols) == 0 {
		return nil, errors.New("no columns to merge")
	}
	return cols, nil
}
