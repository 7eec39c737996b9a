package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kilnhq/kiln/adapters"
)

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Exec runs one or more statements (simple protocol) and reports the last
// command tag.
func (w *Warehouse) Exec(ctx context.Context, sql string) (adapters.Result, error) {
	return execOn(ctx, w.pool, sql)
}

// Query runs one statement and returns its rows with values converted to
// plain Go values. Cancelling ctx cancels the statement on the server.
func (w *Warehouse) Query(ctx context.Context, sql string) (adapters.Rows, error) {
	return queryOn(ctx, w.pool, sql)
}

func execOn(ctx context.Context, q querier, sql string) (adapters.Result, error) {
	tag, err := q.Exec(ctx, sql)
	if err != nil {
		return adapters.Result{}, wrapErr(ctx, err, sql)
	}
	return adapters.Result{RowsAffected: tag.RowsAffected(), Code: tagCode(tag.String())}, nil
}

// tagCode strips the counts off a command tag: "INSERT 0 5" → "INSERT".
func tagCode(tag string) string {
	words := strings.Fields(tag)
	for len(words) > 0 && strings.Trim(words[len(words)-1], "0123456789") == "" {
		words = words[:len(words)-1]
	}
	return strings.Join(words, " ")
}

func queryOn(ctx context.Context, q querier, sql string) (adapters.Rows, error) {
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return nil, wrapErr(ctx, err, sql)
	}
	fields := rows.FieldDescriptions()
	cols := make([]adapters.Column, len(fields))
	tm := rows.Conn().TypeMap()
	for i, f := range fields {
		typ := ""
		if t, ok := tm.TypeForOID(f.DataTypeOID); ok {
			typ = t.Name
		}
		cols[i] = adapters.Column{Name: f.Name, Type: typ}
	}
	return &resultRows{ctx: ctx, rows: rows, cols: cols, sql: sql}, nil
}
