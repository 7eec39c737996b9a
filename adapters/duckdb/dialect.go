package duckdb

import (
	"strings"

	"github.com/kilnhq/kiln/adapters"
)

// Dialect is DuckDB's SQL spelling. Its zero value has no default database;
// use Warehouse.Dialect.
type Dialect struct {
	database string
}

var _ adapters.Dialect = Dialect{}

// Name returns "duckdb".
func (Dialect) Name() string { return "duckdb" }

// QuoteIdent double-quotes s, doubling embedded quotes.
func (Dialect) QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// QuoteString renders s as a single-quoted literal.
func (Dialect) QuoteString(s string) string { return quoteString(s) }

// Render spells r as "database"."schema"."identifier", filling in the
// default database when r has none.
func (d Dialect) Render(r adapters.Relation) string {
	db := r.Database
	if db == "" {
		db = d.database
	}
	return d.QuoteIdent(db) + "." + d.QuoteIdent(r.Schema) + "." + d.QuoteIdent(r.Identifier)
}

// RenderSchema spells a schema as "database"."schema" for CREATE SCHEMA.
func (d Dialect) RenderSchema(database, schema string) string {
	if database == "" {
		database = d.database
	}
	return d.QuoteIdent(database) + "." + d.QuoteIdent(schema)
}

// TypeName maps a portable type to the type dbt-duckdb seeds use; unknown
// names are returned unchanged.
func (Dialect) TypeName(portable string) string {
	switch strings.ToLower(portable) {
	case "integer":
		return "INTEGER"
	case "bigint":
		return "BIGINT"
	case "numeric", "float":
		return "DOUBLE"
	case "boolean":
		return "BOOLEAN"
	case "date":
		return "DATE"
	case "timestamp":
		return "TIMESTAMP"
	case "text":
		return "VARCHAR"
	case "json":
		return "JSON"
	}
	return portable
}

// DefaultDatabase is the catalog name of the open file (its basename
// without extension, or "memory").
func (d Dialect) DefaultDatabase() string { return d.database }
