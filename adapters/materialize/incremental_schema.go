package materialize

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/kilnhq/kiln/adapters"
)

// SchemaChangeError is returned under on_schema_change "fail" when the
// model's columns differ from the table's. Column types the staged rows only
// widen are not changes: they are altered in place.
type SchemaChangeError struct {
	Relation string
	// Added are the model's columns the table lacks; Removed the table's
	// columns the model no longer has.
	Added, Removed []string
	// Changed describes columns whose type changed in a way kiln does not
	// widen, as "name: old type -> new type".
	Changed []string
}

func (e *SchemaChangeError) Error() string {
	var parts []string
	if len(e.Added) > 0 {
		parts = append(parts, "added "+strings.Join(e.Added, ", "))
	}
	if len(e.Removed) > 0 {
		parts = append(parts, "removed "+strings.Join(e.Removed, ", "))
	}
	if len(e.Changed) > 0 {
		parts = append(parts, "changed "+strings.Join(e.Changed, ", "))
	}
	return fmt.Sprintf("the columns of %s changed (%s) and on_schema_change is fail; "+
		"set on_schema_change to append_new_columns or sync_all_columns, or run with --full-refresh",
		e.Relation, strings.Join(parts, "; "))
}

// schemaPlan is how the target's columns are adapted to the staged rows.
type schemaPlan struct {
	// alters run first in the transaction.
	alters []statement
	// cols are the columns copied from the staged rows, in target order.
	cols []colPair
	// rebuild asks for a full rebuild (on_schema_change full_refresh).
	rebuild                 bool
	added, removed, changed []string
}

func (p schemaPlan) describe() string {
	var parts []string
	if len(p.added) > 0 {
		parts = append(parts, "added "+strings.Join(p.added, ", "))
	}
	if len(p.removed) > 0 {
		parts = append(parts, "removed "+strings.Join(p.removed, ", "))
	}
	if len(p.changed) > 0 {
		parts = append(parts, "changed "+strings.Join(p.changed, ", "))
	}
	return strings.Join(parts, "; ")
}

// planSchema compares the target's columns with the staged ones by name,
// ignoring case. Widened types are altered whatever the mode; the rest
// follows on_schema_change as dbt does.
func planSchema(d adapters.Dialect, live *adapters.RelationInfo, staged []adapters.Column, mode string) (schemaPlan, error) {
	var plan schemaPlan
	target := d.Render(live.Relation)
	for _, t := range live.Columns {
		s, ok := findColumn(staged, t.Name)
		if !ok {
			plan.removed = append(plan.removed, t.Name)
			if mode == SchemaSyncAll {
				plan.alters = append(plan.alters, statement{
					what:          fmt.Sprintf("dropping column %s (sync_all_columns)", t.Name),
					sql:           "alter table " + target + " drop column " + d.QuoteIdent(t.Name),
					detachesViews: true,
				})
			}
			continue
		}
		plan.cols = append(plan.cols, colPair{target: t.Name, staged: s.Name})
		switch compareTypes(t.Type, s.Type) {
		case typeFits:
		case typeWider:
			plan.alters = append(plan.alters, alterType(d, target, t, s.Type, "widening"))
		case typeOther:
			plan.changed = append(plan.changed, t.Name+": "+t.Type+" -> "+s.Type)
			if mode == SchemaSyncAll {
				plan.alters = append(plan.alters, alterType(d, target, t, s.Type, "changing (sync_all_columns)"))
			}
		}
	}
	for _, s := range staged {
		if _, ok := findColumn(live.Columns, s.Name); ok {
			continue
		}
		plan.added = append(plan.added, s.Name)
		if mode == SchemaAppendNew || mode == SchemaSyncAll {
			plan.alters = append(plan.alters, statement{
				what: fmt.Sprintf("adding column %s (%s)", s.Name, mode),
				sql:  "alter table " + target + " add column " + d.QuoteIdent(s.Name) + " " + s.Type,
			})
			plan.cols = append(plan.cols, colPair{target: s.Name, staged: s.Name})
		}
	}
	changed := len(plan.added)+len(plan.removed)+len(plan.changed) > 0
	switch {
	case changed && mode == SchemaFail:
		return plan, &SchemaChangeError{Relation: target, Added: plan.added, Removed: plan.removed, Changed: plan.changed}
	case changed && mode == SchemaFullRefresh:
		plan.rebuild = true
		return plan, nil
	case len(plan.cols) == 0:
		return plan, fmt.Errorf("the model's columns have none in common with %s (%s)", target, plan.describe())
	}
	return plan, nil
}

func alterType(d adapters.Dialect, target string, col adapters.Column, newType, verb string) statement {
	q := d.QuoteIdent(col.Name)
	return statement{
		what: fmt.Sprintf("%s column %s from %s to %s (if an index or constraint on it blocks this, "+
			"drop it or run with --full-refresh)", verb, col.Name, col.Type, newType),
		sql:           "alter table " + target + " alter column " + q + " type " + newType + " using " + q + "::" + newType,
		detachesViews: true,
	}
}

func findColumn(cols []adapters.Column, name string) (adapters.Column, bool) {
	for _, c := range cols {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return adapters.Column{}, false
}

// typeChange is how a staged column's type relates to the target's.
type typeChange int

const (
	// typeFits: the same type, or one whose values the target holds.
	typeFits typeChange = iota
	// typeWider: the target must be widened to the staged type.
	typeWider
	// typeOther: a change kiln does not make by itself.
	typeOther
)

var typeRe = regexp.MustCompile(`^([a-z][a-z0-9 _]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$`)

// sqlType is a parsed column type: a family and its size parameters
// (0 when unbounded).
type sqlType struct {
	family       string // "string", "int", "numeric", "float", or the type itself
	size, scale  int
	hasPrecision bool
}

func parseType(t string) sqlType {
	s := strings.ToLower(strings.TrimSpace(t))
	m := typeRe.FindStringSubmatch(s)
	if m == nil {
		return sqlType{family: s}
	}
	name := strings.TrimSpace(m[1])
	n, _ := strconv.Atoi(m[2])
	scale, _ := strconv.Atoi(m[3])
	switch name {
	case "character varying", "varchar", "character", "char", "bpchar", "nvarchar", "string":
		return sqlType{family: "string", size: n}
	case "text":
		return sqlType{family: "string"}
	case "tinyint", "int1":
		return sqlType{family: "int", size: 1}
	case "smallint", "int2", "short":
		return sqlType{family: "int", size: 2}
	case "integer", "int", "int4", "signed":
		return sqlType{family: "int", size: 4}
	case "bigint", "int8", "long":
		return sqlType{family: "int", size: 8}
	case "hugeint", "int128":
		return sqlType{family: "int", size: 16}
	case "numeric", "decimal":
		return sqlType{family: "numeric", size: n, scale: scale, hasPrecision: m[2] != ""}
	case "real", "float4":
		return sqlType{family: "float", size: 4}
	case "double precision", "double", "float8", "float":
		return sqlType{family: "float", size: 8}
	}
	return sqlType{family: s}
}

// compareTypes says whether the target type must change to hold the staged
// type's values: longer or unbounded strings, larger integers, integers
// becoming numeric or floating point, numerics with more digits on both
// sides of the point, real becoming double.
func compareTypes(targetType, stagedType string) typeChange {
	t, s := parseType(targetType), parseType(stagedType)
	if t == s {
		return typeFits
	}
	switch {
	case t.family == "string" && s.family == "string":
		if t.size == 0 || (s.size != 0 && s.size <= t.size) {
			return typeFits
		}
		return typeWider
	case t.family == "int" && s.family == "int":
		if s.size <= t.size {
			return typeFits
		}
		return typeWider
	case t.family == "int" && (s.family == "numeric" || s.family == "float"):
		return typeWider
	case (t.family == "numeric" || t.family == "float") && s.family == "int":
		return typeFits
	case t.family == "float" && s.family == "float":
		if s.size <= t.size {
			return typeFits
		}
		return typeWider
	case t.family == "numeric" && s.family == "numeric":
		switch {
		case !t.hasPrecision:
			return typeFits
		case !s.hasPrecision:
			return typeWider
		}
		tInt, sInt := t.size-t.scale, s.size-s.scale
		switch {
		case sInt <= tInt && s.scale <= t.scale:
			return typeFits
		case sInt >= tInt && s.scale >= t.scale:
			return typeWider
		}
	}
	return typeOther
}
