package duckdb

import (
	"context"
	"database/sql"
	"strings"

	"github.com/kilnhq/kiln/adapters"
)

// runner is what *sql.DB and *sql.Conn have in common.
type runner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Exec runs one or more statements.
func (w *Warehouse) Exec(ctx context.Context, sql string) (adapters.Result, error) {
	return execOn(ctx, w.db, sql)
}

// Query runs a query and returns its rows with values converted to plain Go
// values.
func (w *Warehouse) Query(ctx context.Context, sql string) (adapters.Rows, error) {
	return queryOn(ctx, w.db, sql)
}

func execOn(ctx context.Context, r runner, query string) (adapters.Result, error) {
	res, err := r.ExecContext(ctx, query)
	if err != nil {
		return adapters.Result{}, wrapErr(ctx, err, query)
	}
	n, err := res.RowsAffected()
	if err != nil {
		n = 0
	}
	return adapters.Result{RowsAffected: n, Code: statementCode(query)}, nil
}

// statementCode names a statement like a Postgres command tag ("SELECT",
// "CREATE TABLE", "INSERT") since DuckDB reports none.
func statementCode(query string) string {
	words := strings.Fields(strings.ToUpper(stripLeadingComments(query)))
	if len(words) == 0 {
		return ""
	}
	switch words[0] {
	case "CREATE", "DROP", "ALTER":
		for _, w := range words[1:] {
			switch w {
			case "OR", "REPLACE", "TEMP", "TEMPORARY", "UNIQUE":
				continue
			}
			return words[0] + " " + w
		}
	}
	return strings.TrimSuffix(words[0], ";")
}

func stripLeadingComments(s string) string {
	for {
		s = strings.TrimSpace(s)
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return ""
			}
			s = s[i+2:]
		default:
			return s
		}
	}
}

func queryOn(ctx context.Context, r runner, query string) (adapters.Rows, error) {
	rows, err := r.QueryContext(ctx, query)
	if err != nil {
		return nil, wrapErr(ctx, err, query)
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		_ = rows.Close()
		return nil, wrapErr(ctx, err, query)
	}
	cols := make([]adapters.Column, len(types))
	for i, t := range types {
		cols[i] = adapters.Column{Name: t.Name(), Type: t.DatabaseTypeName()}
	}
	return &resultRows{ctx: ctx, rows: rows, cols: cols, sql: query}, nil
}
