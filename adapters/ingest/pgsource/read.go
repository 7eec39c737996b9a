package pgsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// Read streams the table with one COPY (select ...) TO STDOUT (FORMAT
// binary). A goroutine decodes the stream into batches of at most 10,000
// rows while emit, called on the caller's goroutine, handles the previous
// one; at most three batches are alive at once. When emit fails or ctx is
// cancelled the COPY's connection is closed, which stops the server.
//
// With req.Cursor set and req.Since non-nil only rows whose cursor is
// greater than Since minus Lookback are read, plus rows with a NULL cursor
// when req.Full. The connector keeps no state of its own: Read returns nil.
func (t *Table) Read(ctx context.Context, req ingest.ReadRequest, emit func(ingest.Batch) error) (ingest.State, error) {
	sql, err := t.copySQL(ctx, req, "binary")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.what, err)
	}
	conn, err := t.src.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.what, wrapErr(ctx, err, ""))
	}
	defer conn.Release()

	copyCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan ingest.Batch, 1)
	send := func(b ingest.Batch) error {
		select {
		case batches <- b:
			return nil
		case <-copyCtx.Done():
			return copyCtx.Err()
		}
	}
	dec := newCopyDecoder(t.cols, t.types, send)
	copyErr := make(chan error, 1)
	go func() {
		defer close(batches)
		_, err := conn.Conn().PgConn().CopyTo(copyCtx, dec, sql)
		if err == nil {
			err = dec.finish()
		}
		copyErr <- err
	}()

	var emitErr error
	for b := range batches {
		if emitErr != nil {
			continue // drain until the decoder sees the cancellation
		}
		if err := emit(b); err != nil {
			emitErr = err
			cancel()
		}
	}
	err = <-copyErr
	switch {
	case emitErr != nil:
		return nil, emitErr
	case err != nil:
		return nil, fmt.Errorf("%s: %w", t.what, wrapErr(ctx, err, sql))
	}
	return nil, nil
}

// CopyText writes the rows Read would read, in COPY text format, to w: the
// loader streams them into a Postgres warehouse without decoding them.
func (t *Table) CopyText(ctx context.Context, req ingest.ReadRequest, w io.Writer) error {
	return t.copyOut(ctx, req, "text", w)
}

// copyOut writes the rows in a textual COPY format to w.
func (t *Table) copyOut(ctx context.Context, req ingest.ReadRequest, format string, w io.Writer) error {
	sql, err := t.copySQL(ctx, req, format)
	if err != nil {
		return fmt.Errorf("%s: %w", t.what, err)
	}
	conn, err := t.src.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", t.what, wrapErr(ctx, err, ""))
	}
	defer conn.Release()
	if _, err := conn.Conn().PgConn().CopyTo(ctx, w, sql); err != nil {
		if ctx.Err() != nil {
			// The copy was abandoned mid-stream: do not return the
			// connection to the pool in an unknown state.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
		return fmt.Errorf("%s: %w", t.what, wrapErr(ctx, err, sql))
	}
	return nil
}

// CopyCSV is CopyText in COPY's csv format, for warehouses that read CSV
// (DuckDB); booleans are spelled true and false.
func (t *Table) CopyCSV(ctx context.Context, req ingest.ReadRequest, w io.Writer) error {
	return t.copyOut(ctx, req, "csv", w)
}

// copySQL builds the COPY statement for req in format (binary, text or csv).
func (t *Table) copySQL(ctx context.Context, req ingest.ReadRequest, format string) (string, error) {
	var b strings.Builder
	b.WriteString("copy (select ")
	for i, c := range t.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		q := quoteIdent(c)
		switch t.types[i].kind {
		case selectAsIs:
			if format != "binary" && t.types[i].sqlName == "timestamptz" {
				// Loaded into a timestamp column: spell it in UTC.
				b.WriteString("(" + q + " at time zone 'UTC') as " + q)
				continue
			}
			if format == "csv" && t.types[i].sqlName == "boolean" {
				b.WriteString(q + "::text as " + q) // true/false, not t/f
				continue
			}
			b.WriteString(q)
		case selectText:
			b.WriteString(q + "::text as " + q)
		case selectJSON:
			b.WriteString("to_jsonb(" + q + ") as " + q)
		}
	}
	b.WriteString(" from ")
	b.WriteString(t.from)
	where, err := t.cursorFilter(ctx, req)
	if err != nil {
		return "", err
	}
	if where != "" {
		b.WriteString(" where ")
		b.WriteString(where)
	}
	b.WriteString(") to stdout (format " + format + ")")
	return b.String(), nil
}

// cursorFilter returns the where clause of an incremental read, "" for none.
func (t *Table) cursorFilter(ctx context.Context, req ingest.ReadRequest) (string, error) {
	if req.Cursor == "" || req.Since == nil {
		if req.Lookback < 0 {
			return "", errors.New("lookback is negative")
		}
		return "", nil
	}
	typ, err := t.cursorType(ctx, req.Cursor)
	if err != nil {
		return "", err
	}
	lit, err := cursorLiteral(typ, req.Since, req.Lookback)
	if err != nil {
		return "", fmt.Errorf("cursor %q: %w", req.Cursor, err)
	}
	c := quoteIdent(req.Cursor)
	if req.Full {
		return "(" + c + " > " + lit + " or " + c + " is null)", nil
	}
	return c + " > " + lit, nil
}

// cursorType returns the type of the cursor column, describing it when it
// is not among the columns read.
func (t *Table) cursorType(ctx context.Context, cursor string) (colType, error) {
	for i, c := range t.cols {
		if c == cursor {
			return t.types[i], nil
		}
	}
	_, types, err := t.src.describe(ctx, "select "+quoteIdent(cursor)+" from "+t.from)
	if err != nil {
		return colType{}, fmt.Errorf("cursor %q: %w", cursor, err)
	}
	return types[0], nil
}
