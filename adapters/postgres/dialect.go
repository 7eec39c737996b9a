package postgres

import (
	"strings"

	"github.com/kilnhq/kiln/adapters"
)

// Dialect is Postgres's SQL spelling. Use Warehouse.Dialect to get one bound
// to the connected database.
type Dialect struct {
	database string
}

var _ adapters.Dialect = Dialect{}

// Name returns "postgres".
func (Dialect) Name() string { return "postgres" }

// QuoteIdent double-quotes s, doubling embedded quotes.
func (Dialect) QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// QuoteString renders s as a standard-conforming string literal.
func (Dialect) QuoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Render spells r as "database"."schema"."identifier", filling in the
// connected database when r has none.
func (d Dialect) Render(r adapters.Relation) string {
	db := r.Database
	if db == "" {
		db = d.database
	}
	return d.QuoteIdent(db) + "." + d.QuoteIdent(r.Schema) + "." + d.QuoteIdent(r.Identifier)
}

// RenderSchema spells a schema for CREATE SCHEMA; Postgres takes no
// database qualifier there.
func (d Dialect) RenderSchema(_, schema string) string { return d.QuoteIdent(schema) }

// TypeName maps a portable type to the type dbt-postgres seeds use; unknown
// names are returned unchanged.
func (Dialect) TypeName(portable string) string {
	switch strings.ToLower(portable) {
	case "integer", "bigint", "numeric", "boolean", "date", "text":
		return strings.ToLower(portable)
	case "float":
		return "float8"
	case "timestamp":
		return "timestamp without time zone"
	case "json":
		return "jsonb"
	}
	return portable
}

// DefaultDatabase is the database the pool is connected to.
func (d Dialect) DefaultDatabase() string { return d.database }
