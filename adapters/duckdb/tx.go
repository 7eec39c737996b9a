package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/kilnhq/kiln/adapters"
)

// Tx is a DuckDB transaction on one dedicated connection. BEGIN and COMMIT
// are issued as statements so the appender can share the connection.
type Tx struct {
	w    *Warehouse
	conn *sql.Conn
	done bool
}

var _ adapters.Tx = (*Tx)(nil)

// Begin starts a transaction on a connection reserved for it.
func (w *Warehouse) Begin(ctx context.Context) (adapters.Tx, error) {
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("reserving a duckdb connection: %w", wrapErr(ctx, err, ""))
	}
	if _, err := conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("beginning duckdb transaction: %w", wrapErr(ctx, err, "BEGIN TRANSACTION"))
	}
	return &Tx{w: w, conn: conn}, nil
}

// Exec runs statements inside the transaction.
func (t *Tx) Exec(ctx context.Context, sql string) (adapters.Result, error) {
	if t.done {
		return adapters.Result{}, errors.New("duckdb transaction already finished")
	}
	return execOn(ctx, t.conn, sql)
}

// Query runs a query inside the transaction.
func (t *Tx) Query(ctx context.Context, sql string) (adapters.Rows, error) {
	if t.done {
		return nil, errors.New("duckdb transaction already finished")
	}
	return queryOn(ctx, t.conn, sql)
}

// Commit commits and releases the connection.
func (t *Tx) Commit(ctx context.Context) error {
	if t.done {
		return errors.New("duckdb transaction already finished")
	}
	t.done = true
	defer t.conn.Close()
	if _, err := t.conn.ExecContext(ctx, "COMMIT"); err != nil {
		// A failed COMMIT leaves DuckDB's transaction aborted; end it so
		// the pooled connection comes back clean.
		_, _ = t.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return fmt.Errorf("committing duckdb transaction: %w", wrapErr(ctx, err, "COMMIT"))
	}
	return nil
}

// Rollback aborts the transaction; after Commit or Rollback it is a no-op.
func (t *Tx) Rollback(ctx context.Context) error {
	if t.done {
		return nil
	}
	t.done = true
	defer t.conn.Close()
	// Rollback must run even when ctx is already cancelled.
	if _, err := t.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
		return fmt.Errorf("rolling back duckdb transaction: %w", wrapErr(ctx, err, "ROLLBACK"))
	}
	return nil
}

// Load appends rows to the existing table r through DuckDB's appender,
// filling cols in the order given.
func (t *Tx) Load(ctx context.Context, r adapters.Relation, cols []adapters.Column, rows adapters.RowSource) (int64, error) {
	if t.done {
		return 0, errors.New("duckdb transaction already finished")
	}
	catalog := r.Database
	if catalog == "" {
		catalog = t.w.dialect.database
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	target := t.w.dialect.Render(r)
	var n int64
	err := t.conn.Raw(func(dc any) error {
		conn, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("unexpected duckdb driver connection %T", dc)
		}
		var app *duckdb.Appender
		var err error
		if len(names) == 0 {
			app, err = duckdb.NewAppender(conn, catalog, r.Schema, r.Identifier)
		} else {
			app, err = duckdb.NewAppenderWithColumns(conn, catalog, r.Schema, r.Identifier, names)
		}
		if err != nil {
			return err
		}
		args := make([]driver.Value, len(cols))
		for {
			if err := ctx.Err(); err != nil {
				_ = app.Clear()
				_ = app.Close()
				return err
			}
			row, err := rows.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_ = app.Clear()
				_ = app.Close()
				return fmt.Errorf("reading row %d: %w", n+1, err)
			}
			if len(args) != len(row) {
				args = make([]driver.Value, len(row))
			}
			for i, v := range row {
				args[i] = v
			}
			if err := app.AppendRow(args...); err != nil {
				_ = app.Clear()
				_ = app.Close()
				return fmt.Errorf("appending row %d: %w", n+1, err)
			}
			n++
		}
		return app.CloseWithCancel(ctx)
	})
	if err != nil {
		return 0, fmt.Errorf("loading rows into %s: %w", target, wrapErr(ctx, err, ""))
	}
	return n, nil
}

// LoadCSV loads CSV records with DuckDB's own reader: src is spooled to a
// temporary file (the reader takes files, not streams) that COPY ... FROM
// reads with the dialect given and no sniffing; quoted fields equal to the
// null string are NULL too with QuotedNull (allow_quoted_nulls).
func (t *Tx) LoadCSV(ctx context.Context, r adapters.Relation, columns []string, o adapters.CSVOptions, src io.Reader) (int64, error) {
	d := t.w.dialect
	fh, err := os.CreateTemp("", spoolPattern)
	if err != nil {
		return 0, err
	}
	defer func() {
		fh.Close()
		os.Remove(fh.Name())
	}()
	if _, err := io.Copy(fh, src); err != nil {
		return 0, err
	}
	if err := fh.Close(); err != nil {
		return 0, err
	}
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = d.QuoteIdent(c)
	}
	q := d.QuoteString(string(o.Quote))
	sql := "copy " + d.Render(r) + " (" + strings.Join(quoted, ", ") + ") from " + d.QuoteString(fh.Name()) +
		" (format csv, header false, auto_detect false, delimiter " + d.QuoteString(string(o.Delimiter)) +
		", quote " + q + ", escape " + q + ", nullstr " + d.QuoteString(o.Null) + ", allow_quoted_nulls " + strconv.FormatBool(o.QuotedNull) + ")"
	res, err := t.Exec(ctx, sql)
	if err != nil {
		return 0, fmt.Errorf("copying rows into %s: %w", d.Render(r), err)
	}
	return res.RowsAffected, nil
}

// spoolPattern names LoadCSV's temporary files; a run killed mid-load
// leaves its file behind, and Open removes those older than spoolMaxAge
// (no single load takes that long).
const (
	spoolPattern = "kiln-load-*.csv"
	spoolMaxAge  = 24 * time.Hour
)

// sweepSpools removes leftover spool files in dir last written before
// cutoff.
func sweepSpools(dir string, cutoff time.Time) {
	names, _ := filepath.Glob(filepath.Join(dir, spoolPattern))
	for _, n := range names {
		if info, err := os.Stat(n); err == nil && info.ModTime().Before(cutoff) {
			_ = os.Remove(n)
		}
	}
}
