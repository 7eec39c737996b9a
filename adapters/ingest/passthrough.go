package ingest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/kilnhq/kiln/adapters"
)

// CopySource is a Table that can write its rows in PostgreSQL COPY text
// format, columns in the order Columns returns them, with req's cursor
// filter applied at the source (the postgres connector). When the
// warehouse can take COPY text as is (adapters.CopyTextLoader) and no value
// needs converting, the loader streams it through untouched: no value is
// decoded in kiln, as with psql piping COPY TO into COPY FROM.
type CopySource interface {
	CopyText(ctx context.Context, req ReadRequest, w io.Writer) error
}

// CSVCopySource is a CopySource that can also write its rows as COPY csv
// (the postgres connector): warehouses that read CSV but not COPY text
// (DuckDB) load that. Booleans are spelled true/false and timestamps with
// a zone in UTC.
type CSVCopySource interface {
	CopySource
	CopyCSV(ctx context.Context, req ReadRequest, w io.Writer) error
}

// passThroughBuffer is how much COPY data the source side gathers before
// handing it to the warehouse side.
const passThroughBuffer = 256 << 10

// canPassThrough reports whether t's rows may skip kiln's typing: the
// source declared every column and nothing is flattened.
func (l *load) canPassThrough(t Table) (CopySource, bool) {
	cs, ok := t.(CopySource)
	if !ok || l.opts.Flatten > 0 || len(l.cols) == 0 {
		return nil, false
	}
	for _, c := range l.cols {
		if !c.fixed {
			return nil, false
		}
	}
	return cs, true
}

// passThrough stages the source's COPY text output directly. It returns
// handled=false, having staged nothing, when the warehouse cannot load
// COPY text; the caller then reads the table the ordinary way.
func (l *load) passThrough(ctx context.Context, cs CopySource, req ReadRequest) (handled bool, err error) {
	if l.stageTx == nil {
		tx, err := l.wh.Begin(ctx)
		if err != nil {
			return true, err
		}
		l.stageTx = tx
	}
	addLoadedAt := "alter table " + l.d.Render(l.stage) + " add column " + l.d.QuoteIdent(LoadedAtColumn) + " " + l.d.TypeName("timestamp")
	names := make([]string, len(l.cols))
	for i, c := range l.cols {
		names[i] = c.name
	}
	counter := &countingWriter{progress: l.opts.Progress}
	var produce func(ctx context.Context, w io.Writer) error
	var load func(r io.Reader) (int64, error)
	textLoader, text := l.stageTx.(adapters.CopyTextLoader)
	csvLoader, csv := l.stageTx.(adapters.CSVLoader)
	csvSource, csvOut := cs.(CSVCopySource)
	switch {
	case text:
		produce = func(ctx context.Context, w io.Writer) error { return cs.CopyText(ctx, req, w) }
		load = func(r io.Reader) (int64, error) { return textLoader.LoadCopy(ctx, l.stage, names, "format text", r) }
	case csv && csvOut && l.fastCSV:
		// DuckDB: the source's COPY ... (format csv) output, read by the
		// warehouse's CSV reader (unquoted empty fields are NULL, quoted
		// ones empty strings, as Postgres writes them).
		produce = func(ctx context.Context, w io.Writer) error { return csvSource.CopyCSV(ctx, req, w) }
		load = func(r io.Reader) (int64, error) {
			return csvLoader.LoadCSV(ctx, l.stage, names, adapters.CSVOptions{Delimiter: ',', Quote: '"'}, r)
		}
	default:
		l.lateLoadedAt = false
		if _, err := l.exec(ctx, l.wh, addLoadedAt); err != nil {
			return true, err
		}
		return false, nil
	}

	n, readErr, loadErr := pipeCopy(ctx, func(ctx context.Context, w io.Writer) error {
		bw := bufio.NewWriterSize(io.MultiWriter(w, counter), passThroughBuffer)
		if err := produce(ctx, bw); err != nil {
			return err
		}
		return bw.Flush()
	}, load)
	switch {
	case readErr != nil:
		return true, fmt.Errorf("reading the source: %w", readErr)
	case loadErr != nil && csv && !text:
		// A value the warehouse's CSV reader does not take as the decoder
		// would (a BC date, ...): read the table the ordinary way.
		return true, &fallbackError{reason: loadErr.Error(), costly: true}
	case loadErr != nil:
		return true, loadErr
	}
	l.rows += n
	l.res.Bytes += counter.bytes.Load()
	l.res.PassThrough = true
	// _kiln_loaded_at: a column added with a constant default is not
	// written into each row (Postgres stores the value once); dropping the
	// default then keeps it for the rows already there.
	l.lateLoadedAt = false
	loaded := l.d.QuoteIdent(LoadedAtColumn)
	if _, err := l.exec(ctx, l.stageTx, addLoadedAt+" default "+timestampLiteral(l.loadedAt)); err != nil {
		return true, err
	}
	if _, err := l.exec(ctx, l.stageTx, "alter table "+l.d.Render(l.stage)+" alter column "+loaded+" drop default"); err != nil {
		return true, err
	}
	if l.opts.Cursor != "" && n > 0 {
		if _, ok := l.byName[l.opts.Cursor]; !ok {
			return true, fmt.Errorf("cursor column %q is not among the source's columns", l.opts.Cursor)
		}
		l.cursorSeen = true
		max, err := l.stagedMax(ctx, l.opts.Cursor)
		if err != nil {
			return true, err
		}
		if max != nil && (l.cursorMax == nil || compareCursor(max, l.cursorMax) > 0) {
			l.cursorMax = max
		}
	}
	return true, nil
}

// pipeCopy runs produce, writing COPY data, and load, reading it, at the
// same time. It returns the rows loaded and the error that came first:
// produce's own failure (a source that broke, a CSV field that stops the
// fast path) as produceErr, or the warehouse refusing the data as loadErr.
// produce failing only because load stopped reading is not reported.
func pipeCopy(ctx context.Context, produce func(ctx context.Context, w io.Writer) error, load func(r io.Reader) (int64, error)) (n int64, produceErr, loadErr error) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	var loading atomic.Bool
	loading.Store(true)
	done := make(chan error, 1)
	go func() {
		err := produce(pctx, pw)
		// Decide before closing the pipe: until then the loader cannot
		// have finished unless it failed on its own.
		own := loading.Load()
		pw.CloseWithError(err) // nil: the reader sees io.EOF
		if !own {
			err = nil
		}
		done <- err
	}()
	n, loadErr = load(pr)
	loading.Store(false)
	if loadErr != nil {
		cancel()
		pr.CloseWithError(errors.New("the warehouse side of the copy stopped"))
	}
	produceErr = <-done
	return n, produceErr, loadErr
}

// stagedMax returns the largest value of col in the staging table.
func (l *load) stagedMax(ctx context.Context, col string) (any, error) {
	rows, err := l.stageTx.Query(ctx, "select max("+l.d.QuoteIdent(col)+") from "+l.d.Render(l.stage))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var v any
	if rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		v = vals[0]
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	return convert(v, l.byName[col].kind)
}

func timestampLiteral(t time.Time) string {
	return "timestamp '" + t.Format("2006-01-02 15:04:05.999999") + "'"
}

// countingWriter counts the bytes and the rows (lines: COPY text escapes
// newlines inside values) going through a pass-through copy and reports
// them to the load's progress callback.
type countingWriter struct {
	bytes, rows atomic.Int64
	progress    func(rows, bytes int64)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	b := c.bytes.Add(int64(len(p)))
	r := c.rows.Add(int64(bytes.Count(p, []byte{'\n'})))
	if c.progress != nil {
		c.progress(r, b)
	}
	return len(p), nil
}
