package materialize

import (
	"strings"

	"github.com/kilnhq/kiln/adapters"
)

// Suffixes of the relations a swap builds aside.
const (
	TmpSuffix    = "__kiln_tmp"
	BackupSuffix = "__kiln_backup"
)

// kindWord is the SQL keyword naming a kind in DROP and ALTER.
func kindWord(k adapters.RelationKind) string {
	switch k {
	case adapters.KindView:
		return "view"
	case adapters.KindMaterializedView:
		return "materialized view"
	}
	return "table"
}

// schemaRenderer is implemented by dialects that spell a schema differently
// from a bare quoted name in CREATE SCHEMA (DuckDB qualifies it with the
// database; Postgres does not allow that).
type schemaRenderer interface {
	RenderSchema(database, schema string) string
}

func renderSchema(d adapters.Dialect, database, schema string) string {
	if sr, ok := d.(schemaRenderer); ok {
		return sr.RenderSchema(database, schema)
	}
	return d.QuoteIdent(schema)
}

// sameColumns reports whether two column lists match by name and type,
// ignoring case.
func sameColumns(a, b []adapters.Column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i].Name, b[i].Name) || !strings.EqualFold(a[i].Type, b[i].Type) {
			return false
		}
	}
	return true
}
