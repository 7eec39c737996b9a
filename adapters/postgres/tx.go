package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kilnhq/kiln/adapters"
)

// Tx is one Postgres transaction on a pooled connection.
type Tx struct {
	w  *Warehouse
	tx pgx.Tx
}

var _ adapters.Tx = (*Tx)(nil)

// Begin starts a transaction.
func (w *Warehouse) Begin(ctx context.Context) (adapters.Tx, error) {
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("beginning postgres transaction: %w", wrapErr(ctx, err, "begin"))
	}
	return &Tx{w: w, tx: tx}, nil
}

// Exec runs statements inside the transaction.
func (t *Tx) Exec(ctx context.Context, sql string) (adapters.Result, error) {
	return execOn(ctx, t.tx, sql)
}

// Query runs a query inside the transaction.
func (t *Tx) Query(ctx context.Context, sql string) (adapters.Rows, error) {
	return queryOn(ctx, t.tx, sql)
}

// Commit commits the transaction.
func (t *Tx) Commit(ctx context.Context) error {
	if err := t.tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing postgres transaction: %w", wrapErr(ctx, err, "commit"))
	}
	return nil
}

// Rollback aborts the transaction; after Commit or Rollback it is a no-op.
// It runs even when ctx is already cancelled.
func (t *Tx) Rollback(ctx context.Context) error {
	err := t.tx.Rollback(context.WithoutCancel(ctx))
	if err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("rolling back postgres transaction: %w", wrapErr(ctx, err, "rollback"))
	}
	return nil
}

// Load copies rows into the existing table r with COPY FROM (binary).
func (t *Tx) Load(ctx context.Context, r adapters.Relation, cols []adapters.Column, rows adapters.RowSource) (int64, error) {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	src := &copySource{rows: rows}
	n, err := t.tx.CopyFrom(ctx, pgx.Identifier{r.Schema, r.Identifier}, names, src)
	if err != nil {
		return 0, fmt.Errorf("copying rows into %s: %w", t.w.dialect.Render(r), wrapErr(ctx, err, ""))
	}
	return n, nil
}

// LoadCopy streams src into r with COPY FROM STDIN, leaving the parsing to
// the server.
func (t *Tx) LoadCopy(ctx context.Context, r adapters.Relation, columns []string, options string, src io.Reader) (int64, error) {
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = t.w.dialect.QuoteIdent(c)
	}
	sql := "copy " + t.w.dialect.Render(r) + " (" + strings.Join(quoted, ", ") + ") from stdin (" + options + ")"
	tag, err := t.tx.Conn().PgConn().CopyFrom(ctx, src, sql)
	if err != nil {
		return 0, fmt.Errorf("copying rows into %s: %w", t.w.dialect.Render(r), wrapErr(ctx, err, ""))
	}
	return tag.RowsAffected(), nil
}

// LoadCSV loads CSV records with COPY ... FORMAT csv; with QuotedNull,
// FORCE_NULL makes quoted fields equal to the null string NULL too.
func (t *Tx) LoadCSV(ctx context.Context, r adapters.Relation, columns []string, o adapters.CSVOptions, src io.Reader) (int64, error) {
	d := t.w.dialect
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = d.QuoteIdent(c)
	}
	options := "format csv, delimiter " + d.QuoteString(string(o.Delimiter)) + ", quote " + d.QuoteString(string(o.Quote)) +
		", null " + d.QuoteString(o.Null)
	if o.QuotedNull {
		options += ", force_null (" + strings.Join(quoted, ", ") + ")"
	}
	return t.LoadCopy(ctx, r, columns, options, src)
}

// copySource adapts adapters.RowSource to pgx.CopyFromSource.
type copySource struct {
	rows adapters.RowSource
	row  []any
	err  error
	n    int
}

func (s *copySource) Next() bool {
	row, err := s.rows.Next()
	if errors.Is(err, io.EOF) {
		return false
	}
	if err != nil {
		s.err = fmt.Errorf("reading row %d: %w", s.n+1, err)
		return false
	}
	s.n++
	s.row = row
	return true
}

func (s *copySource) Values() ([]any, error) { return s.row, nil }

func (s *copySource) Err() error { return s.err }
