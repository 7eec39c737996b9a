package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kilnhq/kiln/adapters"
)

// Load modes.
const (
	ModeReplace = "replace"
	ModeAppend  = "append"
	ModeMerge   = "merge"
)

// Names the loader gives to what it adds.
const (
	// LoadedAtColumn holds the time of the load that wrote a row.
	LoadedAtColumn = "_kiln_loaded_at"
	// FileColumn holds the file a row came from (file loads only).
	FileColumn = "_kiln_file"
	// StagingSuffix names the table rows are staged in before they are
	// applied.
	StagingSuffix = "__kiln_tmp"
	// RejectsSuffix names the table bad records go to with on_bad_rows: skip.
	RejectsSuffix = "__kiln_rejects"
	// BackupSuffix names the old table while a replace swaps the new one in.
	BackupSuffix = "__kiln_backup"
	// DefaultMetaSchema is where the state table lives by default.
	DefaultMetaSchema = "kiln_meta"
)

// LoadOptions says how one table is loaded.
type LoadOptions struct {
	Key         string        // state key, e.g. "shop.orders"
	Mode        string        // "replace" (default), "append", "merge"
	PrimaryKey  []string      // merge
	Cursor      string        // optional cursor column
	Lookback    time.Duration // re-read window before the stored cursor (merge de-duplicates)
	FullRefresh bool
	OnBadRows   string // "fail" (default) | "skip": good rows load, bad ones go to <table>__kiln_rejects with the reason
	Flatten     int    // nested objects flattened to parent__child columns up to this depth; deeper → JSON
	MetaSchema  string // default "kiln_meta"
	// Progress, when set, is called as rows are staged with the rows and
	// bytes read so far (from the loading goroutine or the copy's reader).
	Progress func(rows, bytes int64)
}

// Result is what one load did.
type Result struct {
	Mode     string
	Inserted int64
	Updated  int64
	Rejected int64
	// Bytes approximates the size of the loaded values.
	Bytes int64
	// Fallback says why a load that started on a fast path (the warehouse
	// parsing CSV) was redone record by record; "" when it was not, or
	// when the fast path gave up within the first batch of the first file
	// (nothing worth mentioning was read twice).
	Fallback string
	// PassThrough says the rows were streamed into the warehouse as the
	// source's COPY output, without being decoded (see CopySource).
	PassThrough bool
	// SQL lists the statements run, in order (bulk loads not included).
	SQL []string
}

// BadRecordError is returned when a malformed record fails a load
// (on_bad_rows: fail); nothing of the load is committed.
type BadRecordError struct {
	Table  string // the destination, rendered
	Record BadRecord
}

func (e *BadRecordError) Error() string {
	return fmt.Sprintf("loading %s: bad record at %s: %s", e.Table, e.Record.Where, e.Record.Reason)
}

// Load reads t and writes its records to dest in wh. Rows are staged batch
// by batch into <dest>__kiln_tmp (bad records into
// <dest>__kiln_rejects__kiln_tmp); then one transaction applies them
// (replace swaps the staged table in, append inserts, merge deletes the
// rows whose primary key was staged and inserts the staged ones) and
// writes the state (cursor maximum, connector state) to
// <MetaSchema>.ingest_state. An error anywhere before that commit leaves
// the destination and the state as they were.
//
// With FullRefresh every mode rebuilds the table as replace does.
func Load(ctx context.Context, wh adapters.Warehouse, dest adapters.Relation, t Table, opts LoadOptions) (Result, error) {
	if opts.Mode == "" {
		opts.Mode = ModeReplace
	}
	if opts.OnBadRows == "" {
		opts.OnBadRows = "fail"
	}
	if opts.MetaSchema == "" {
		opts.MetaSchema = DefaultMetaSchema
	}
	if opts.Key == "" {
		opts.Key = dest.Schema + "." + dest.Identifier
	}
	switch opts.Mode {
	case ModeReplace, ModeAppend:
	case ModeMerge:
		if len(opts.PrimaryKey) == 0 {
			return Result{}, fmt.Errorf("loading %s: mode merge needs a primary_key", wh.Dialect().Render(dest))
		}
	default:
		return Result{}, fmt.Errorf("loading %s: unknown mode %q (want replace, append or merge)", wh.Dialect().Render(dest), opts.Mode)
	}
	if opts.OnBadRows != "fail" && opts.OnBadRows != "skip" {
		return Result{}, fmt.Errorf("loading %s: unknown on_bad_rows %q (want fail or skip)", wh.Dialect().Render(dest), opts.OnBadRows)
	}
	if dest.Database == "" {
		dest.Database = wh.Dialect().DefaultDatabase()
	}
	res, err := loadOnce(ctx, wh, dest, t, opts, true)
	var fb *fallbackError
	if errors.As(err, &fb) {
		// The CSV fast path met something only the record-by-record path
		// reads exactly as kiln does: nothing was committed, load again.
		res, err = loadOnce(ctx, wh, dest, t, opts, false)
		if fb.costly {
			res.Fallback = fb.reason
		}
	}
	return res, err
}

func loadOnce(ctx context.Context, wh adapters.Warehouse, dest adapters.Relation, t Table, opts LoadOptions, fast bool) (Result, error) {
	l := &load{
		fastCSV:  fast,
		wh:       wh,
		d:        wh.Dialect(),
		dest:     dest,
		stage:    dest.WithSuffix(StagingSuffix),
		rejects:  dest.WithSuffix(RejectsSuffix),
		rejStage: dest.WithSuffix(RejectsSuffix + StagingSuffix),
		meta:     adapters.Relation{Database: dest.Database, Schema: opts.MetaSchema, Identifier: StateTable},
		opts:     opts,
		byName:   map[string]*column{},
		records:  map[string]int64{},
		loadedAt: time.Now().UTC().Truncate(time.Microsecond),
		asText:   wh.Dialect().Name() != "duckdb",
	}
	l.res.Mode = opts.Mode
	err := l.run(ctx, t)
	if l.stageTx != nil {
		// The staging transaction ended early by an error: end it before
		// dropping the table it writes to.
		_ = l.stageTx.Rollback(context.WithoutCancel(ctx))
		l.stageTx = nil
	}
	// Staging tables are dropped whatever happened; a leftover from a
	// killed run is dropped by the next one.
	l.dropStaging(context.WithoutCancel(ctx))
	if err != nil {
		var bad *BadRecordError
		if errors.As(err, &bad) {
			return l.res, bad
		}
		return l.res, fmt.Errorf("loading %s: %w", l.d.Render(dest), err)
	}
	if ac, ok := t.(AfterCommitter); ok {
		if err := ac.AfterCommit(ctx); err != nil {
			return l.res, &AfterCommitError{Table: l.d.Render(dest), Err: err}
		}
	}
	return l.res, nil
}

// AfterCommitter is a Table that acts once its rows and state are committed,
// e.g. sftp and ftp moving loaded files to a done/ folder. It runs only
// after a successful commit, so a file never moves before its rows landed.
type AfterCommitter interface {
	AfterCommit(ctx context.Context) error
}

// AfterCommitError reports an AfterCommit failure: the rows and the state
// are committed (the next load does not read them again), the follow-up
// action is not done.
type AfterCommitError struct {
	Table string
	Err   error
}

func (e *AfterCommitError) Error() string {
	return fmt.Sprintf("loading %s: rows committed, but the after-load step failed: %v", e.Table, e.Err)
}

func (e *AfterCommitError) Unwrap() error { return e.Err }

// column is one destination column the loader writes.
type column struct {
	name  string
	kind  kind
	typ   string // warehouse type
	fixed bool   // declared by the source; not inferred
}

// load is the state of one Load call.
type load struct {
	wh                             adapters.Warehouse
	d                              adapters.Dialect
	dest, stage, rejects, rejStage adapters.Relation
	meta                           adapters.Relation
	opts                           LoadOptions
	res                            Result
	cols                           []*column
	byName                         map[string]*column
	loadedAt                       time.Time
	asText                         bool // json and decimal text go as text (Postgres jsonb, numeric)
	staged, rejStaged, hasFile     bool
	full                           bool
	threshold                      any // rows with a cursor <= threshold are skipped
	cursorMax                      any
	cursorSeen                     bool
	rows                           int64
	records                        map[string]int64 // records read so far, by file ("" for none)
	// stageTx is the open transaction staged batches are copied in: one
	// transaction for consecutive batches rather than a commit each. It is
	// committed before any other statement of the load (see endStage).
	stageTx adapters.Tx
	// fastCSV allows staging CSV files with the warehouse's own parser
	// (see csvfast.go).
	fastCSV bool
	// lateLoadedAt leaves the loaded-at column out of the staging table
	// until the pass-through copy is done.
	lateLoadedAt bool
}

func (l *load) run(ctx context.Context, t Table) error {
	if err := l.ensureMeta(ctx); err != nil {
		return err
	}
	prev, found, err := l.readState(ctx)
	if err != nil {
		return err
	}
	// A replace reads the whole table every time: a cursor there only
	// records how far the source went.
	l.full = l.opts.FullRefresh || !found || l.opts.Mode == ModeReplace
	req := ReadRequest{Cursor: l.opts.Cursor, Lookback: l.opts.Lookback, Full: l.full, Mode: l.opts.Mode}
	if !l.opts.FullRefresh {
		req.State = prev.Connector
	}
	if l.opts.Cursor != "" && !l.full {
		since, err := prev.Cursor.decode()
		if err != nil {
			return fmt.Errorf("decoding the stored cursor of %q: %w", l.opts.Key, err)
		}
		req.Since = since
		l.threshold = since
		if ts, ok := since.(time.Time); ok && l.opts.Lookback > 0 {
			l.threshold = ts.Add(-l.opts.Lookback)
		}
		l.cursorMax = since
	}
	declared, err := t.Columns(ctx)
	if err != nil {
		return fmt.Errorf("reading the columns of the source: %w", err)
	}
	for _, c := range declared {
		k := kindOfType(c.Type)
		typ := l.d.TypeName(c.Type)
		if k != kindRaw {
			typ = l.d.TypeName(k.portable())
		}
		l.addColumn(&column{name: c.Name, kind: k, typ: typ, fixed: true})
	}
	if _, err := l.createSchema(ctx, l.dest.Database, l.dest.Schema); err != nil {
		return err
	}
	for _, r := range []adapters.Relation{l.stage, l.rejStage} {
		if _, err := l.exec(ctx, l.wh, "drop table if exists "+l.d.Render(r)); err != nil {
			return err
		}
	}
	cs, passOK := l.canPassThrough(t)
	// A pass-through copy writes the source's columns only; the loaded-at
	// column is added afterwards, with a constant default Postgres keeps
	// without rewriting the rows.
	l.lateLoadedAt = passOK
	if len(l.cols) > 0 {
		if err := l.createStage(ctx); err != nil {
			return err
		}
	}
	var connState State
	handled := false
	if passOK {
		if handled, err = l.passThrough(ctx, cs, req); err != nil {
			return err
		}
	}
	if cs, ok := t.(CSVSource); ok && !handled && l.fastCSV && l.csvFastAllowed() {
		if connState, handled, err = l.readCSVFast(ctx, cs, req); err != nil {
			return err
		}
	}
	if !handled {
		connState, err = t.Read(ctx, req, func(b Batch) error { return l.batch(ctx, b) })
		if err != nil {
			return fmt.Errorf("reading the source: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.endStage(ctx); err != nil {
		return err
	}
	if !l.staged {
		if err := l.createStage(ctx); err != nil {
			return err
		}
	}
	if l.opts.Cursor != "" && l.rows > 0 && !l.cursorSeen {
		if _, ok := l.byName[l.opts.Cursor]; !ok {
			return fmt.Errorf("cursor column %q is not among the source's columns", l.opts.Cursor)
		}
	}
	st := storedState{Connector: connState, Cursor: encodeCursor(l.cursorMax)}
	if st.Connector == nil && !l.opts.FullRefresh {
		st.Connector = prev.Connector
	}
	return l.apply(ctx, st)
}

func (l *load) addColumn(c *column) {
	l.cols = append(l.cols, c)
	l.byName[c.name] = c
}

// batch types one batch of records and stages it.
func (l *load) batch(ctx context.Context, b Batch) error {
	for _, bad := range b.Bad {
		if err := l.reject(ctx, bad); err != nil {
			return err
		}
	}
	names, rows := b.Columns, b.Rows
	if l.opts.Flatten > 0 {
		names, rows = flattenBatch(names, rows, l.opts.Flatten)
	}
	if len(rows) == 0 {
		// Columns named without records (a CSV header, an empty sheet):
		// the table still gets them, typed text until values come.
		for _, name := range names {
			if l.byName[name] != nil {
				continue
			}
			c := &column{name: name, kind: kindNull, typ: l.d.TypeName(kindText.portable())}
			l.addColumn(c)
			if l.staged {
				if _, err := l.exec(ctx, l.wh, "alter table "+l.d.Render(l.stage)+" add column "+l.d.QuoteIdent(name)+" "+c.typ); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if b.File != "" && !l.hasFile {
		l.hasFile = true
		if l.staged {
			if _, err := l.exec(ctx, l.wh, "alter table "+l.d.Render(l.stage)+" add column "+l.d.QuoteIdent(FileColumn)+" "+l.d.TypeName("text")); err != nil {
				return err
			}
		}
	}
	// Infer this batch's kinds and bring the staging table up to them.
	cols := make([]*column, len(names))
	for i, name := range names {
		c := l.byName[name]
		k := kindNull
		if c == nil || !c.fixed {
			for _, row := range rows {
				if i < len(row) {
					k = widen(k, kindOf(row[i]))
				}
			}
		}
		if c == nil {
			if k == kindNull {
				k = kindText
			}
			c = &column{name: name, kind: k, typ: l.d.TypeName(k.portable())}
			l.addColumn(c)
			if l.staged {
				if _, err := l.exec(ctx, l.wh, "alter table "+l.d.Render(l.stage)+" add column "+l.d.QuoteIdent(name)+" "+c.typ); err != nil {
					return err
				}
			}
		} else if !c.fixed {
			if w := widen(c.kind, k); w != c.kind {
				c.kind, c.typ = w, l.d.TypeName(w.portable())
				if l.staged {
					if err := l.alterType(ctx, l.wh, l.stage, c.name, c.typ); err != nil {
						return err
					}
				}
			}
		}
		cols[i] = c
	}
	if !l.staged {
		if err := l.createStage(ctx); err != nil {
			return err
		}
	}
	// Convert, filter by cursor and stage.
	pos := make(map[*column]int, len(l.cols))
	for i, c := range l.cols {
		pos[c] = i
	}
	// at[i] is where the batch's column i goes in an output row.
	at := make([]int, len(cols))
	for i, c := range cols {
		at[i] = pos[c]
	}
	width := len(l.cols) + 1
	if l.hasFile {
		width++
	}
	out := make([][]any, 0, len(rows))
	defer func() { l.records[b.File] += int64(len(rows)) }()
	for n, row := range rows {
		vals := make([]any, width)
		var bad error
		var size int64
		for i, c := range cols {
			if i >= len(row) {
				continue
			}
			v, err := convert(row[i], c.kind)
			if err != nil {
				bad = fmt.Errorf("column %s: %w", c.name, err)
				break
			}
			if c.kind == kindNumeric && l.asText {
				// Postgres numeric keeps a decimal's digits and scale as
				// written ("1.50", 30 digits): pass the text, not a float.
				if s, ok := row[i].(string); ok {
					v = exactNumeric(strings.TrimSpace(s))
				}
			}
			if c.kind == kindJSON && l.asText && v != nil {
				enc, err := json.Marshal(v)
				if err != nil {
					bad = fmt.Errorf("column %s: %w", c.name, err)
					break
				}
				v = string(enc)
			}
			vals[at[i]] = v
			size += sizeOf(v)
		}
		if bad != nil {
			where := fmt.Sprintf("record %d", l.records[b.File]+int64(n)+1)
			if b.File != "" {
				where = b.File + " " + where
			}
			if err := l.reject(ctx, BadRecord{Where: where, Reason: bad.Error(), Raw: rawOf(names, row)}); err != nil {
				return err
			}
			continue
		}
		if l.opts.Cursor != "" {
			if c, ok := l.byName[l.opts.Cursor]; ok {
				l.cursorSeen = true
				cv := vals[pos[c]]
				if cv == nil {
					if !l.full {
						continue
					}
				} else {
					if l.threshold != nil && compareCursor(cv, l.threshold) <= 0 {
						continue
					}
					if l.cursorMax == nil || compareCursor(cv, l.cursorMax) > 0 {
						l.cursorMax = cv
					}
				}
			}
		}
		l.res.Bytes += size
		vals[len(l.cols)] = l.loadedAt
		if l.hasFile {
			vals[len(l.cols)+1] = b.File
		}
		out = append(out, vals)
	}
	if len(out) == 0 {
		return nil
	}
	load := make([]adapters.Column, 0, width)
	for _, c := range l.cols {
		load = append(load, adapters.Column{Name: c.name, Type: c.typ})
	}
	load = append(load, adapters.Column{Name: LoadedAtColumn, Type: l.d.TypeName("timestamp")})
	if l.hasFile {
		load = append(load, adapters.Column{Name: FileColumn, Type: l.d.TypeName("text")})
	}
	n, err := l.stageRows(ctx, load, out)
	l.rows += n
	if err == nil && l.opts.Progress != nil {
		l.opts.Progress(l.rows, l.res.Bytes)
	}
	return err
}

// stageRows copies rows into the staging table in the open staging
// transaction, beginning one if there is none.
func (l *load) stageRows(ctx context.Context, cols []adapters.Column, rows [][]any) (int64, error) {
	if l.stageTx == nil {
		tx, err := l.wh.Begin(ctx)
		if err != nil {
			return 0, err
		}
		l.stageTx = tx
	}
	n, err := l.stageTx.Load(ctx, l.stage, cols, &sliceRows{rows: rows})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// endStage commits the open staging transaction, if any. It runs before
// every other statement of the load, so that no DDL waits for the staging
// table's lock and a load holds at most one connection at a time.
func (l *load) endStage(ctx context.Context) error {
	if l.stageTx == nil {
		return nil
	}
	tx := l.stageTx
	l.stageTx = nil
	if err := tx.Commit(ctx); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return nil
}

// bulk loads rows into r in a transaction of its own.
func (l *load) bulk(ctx context.Context, r adapters.Relation, cols []adapters.Column, rows [][]any) (int64, error) {
	tx, err := l.wh.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	n, err := tx.Load(ctx, r, cols, &sliceRows{rows: rows})
	if err != nil {
		return 0, err
	}
	return n, tx.Commit(ctx)
}

// reject fails the load (on_bad_rows: fail) or stages the bad record.
func (l *load) reject(ctx context.Context, bad BadRecord) error {
	if l.opts.OnBadRows != "skip" {
		return &BadRecordError{Table: l.d.Render(l.dest), Record: bad}
	}
	if err := l.endStage(ctx); err != nil {
		return err
	}
	if !l.rejStaged {
		if _, err := l.exec(ctx, l.wh, "create table "+l.d.Render(l.rejStage)+" ("+rejectColumnsDDL(l.d)+")"); err != nil {
			return err
		}
		l.rejStaged = true
	}
	_, err := l.bulk(ctx, l.rejStage, rejectColumns(l.d), [][]any{{bad.Where, bad.Reason, bad.Raw, l.loadedAt}})
	if err == nil {
		l.res.Rejected++
	}
	return err
}

func rejectColumns(d adapters.Dialect) []adapters.Column {
	return []adapters.Column{
		{Name: "where", Type: d.TypeName("text")},
		{Name: "reason", Type: d.TypeName("text")},
		{Name: "raw", Type: d.TypeName("text")},
		{Name: LoadedAtColumn, Type: d.TypeName("timestamp")},
	}
}

func rejectColumnsDDL(d adapters.Dialect) string {
	var parts []string
	for _, c := range rejectColumns(d) {
		parts = append(parts, d.QuoteIdent(c.Name)+" "+c.Type)
	}
	return strings.Join(parts, ", ")
}

// createStage creates the staging table with the columns known so far.
func (l *load) createStage(ctx context.Context) error {
	if _, err := l.exec(ctx, l.wh, "create table "+l.d.Render(l.stage)+" (\n  "+strings.Join(l.columnsDDL(!l.lateLoadedAt), ",\n  ")+"\n)"); err != nil {
		return err
	}
	l.staged = true
	return nil
}

// columnsDDL spells the destination's columns for CREATE TABLE, the
// loaded-at column included when loadedAt is set.
func (l *load) columnsDDL(loadedAt bool) []string {
	var parts []string
	for _, c := range l.cols {
		parts = append(parts, l.d.QuoteIdent(c.name)+" "+c.typ)
	}
	if loadedAt {
		parts = append(parts, l.d.QuoteIdent(LoadedAtColumn)+" "+l.d.TypeName("timestamp"))
	}
	if l.hasFile {
		parts = append(parts, l.d.QuoteIdent(FileColumn)+" "+l.d.TypeName("text"))
	}
	return parts
}

func (l *load) alterType(ctx context.Context, ex adapters.Execer, r adapters.Relation, name, typ string) error {
	sql := "alter table " + l.d.Render(r) + " alter column " + l.d.QuoteIdent(name) + " set data type " + typ
	if l.d.Name() == "postgres" {
		sql += " using " + l.d.QuoteIdent(name) + "::" + typ
	}
	_, err := l.exec(ctx, ex, sql)
	return err
}

// exec runs one statement. Statements outside a transaction are retried
// when they collide with a parallel load creating the same schema: DuckDB
// reports a write-write conflict (its documentation says to retry),
// Postgres a unique violation on its catalog.
func (l *load) exec(ctx context.Context, ex adapters.Execer, sql string) (adapters.Result, error) {
	l.res.SQL = append(l.res.SQL, sql)
	_, autocommit := ex.(adapters.Warehouse)
	if autocommit {
		if err := l.endStage(ctx); err != nil {
			return adapters.Result{}, err
		}
	}
	res, err := ex.Exec(ctx, sql)
	for attempt := 1; err != nil && autocommit && attempt < 8 && ctx.Err() == nil && (l.conflict(err) || raced(sql, err)); attempt++ {
		time.Sleep(time.Duration(attempt) * 25 * time.Millisecond)
		res, err = ex.Exec(ctx, sql)
	}
	return res, err
}

// raced reports Postgres failing a "create ... if not exists" because a
// parallel load created the same schema or table at the same moment.
func raced(sql string, err error) bool {
	var we *adapters.Error
	return strings.Contains(sql, "if not exists") && errors.As(err, &we) && we.SQLState == "23505"
}

// conflict reports a DuckDB transaction conflict.
func (l *load) conflict(err error) bool {
	return l.d.Name() == "duckdb" && strings.Contains(strings.ToLower(err.Error()), "conflict")
}

// schemaRenderer is implemented by dialects that qualify CREATE SCHEMA
// with the database (DuckDB).
type schemaRenderer interface {
	RenderSchema(database, schema string) string
}

func (l *load) createSchema(ctx context.Context, database, schema string) (adapters.Result, error) {
	name := l.d.QuoteIdent(schema)
	if sr, ok := l.d.(schemaRenderer); ok {
		name = sr.RenderSchema(database, schema)
	}
	return l.exec(ctx, l.wh, "create schema if not exists "+name)
}

func (l *load) dropStaging(ctx context.Context) {
	for _, r := range []adapters.Relation{l.stage, l.rejStage} {
		_, _ = l.wh.Exec(ctx, "drop table if exists "+l.d.Render(r))
	}
}

// sliceRows streams one batch into Tx.Load.
type sliceRows struct {
	rows [][]any
	i    int
}

func (s *sliceRows) Next() ([]any, error) {
	if s.i >= len(s.rows) {
		return nil, io.EOF
	}
	s.i++
	return s.rows[s.i-1], nil
}

// flattenBatch expands nested objects into parent__child columns.
func flattenBatch(names []string, rows [][]any, depth int) ([]string, [][]any) {
	slot := map[string]int{}
	var outNames []string
	out := make([][]any, len(rows))
	for r, row := range rows {
		vals := make([]any, len(outNames))
		for i, v := range row {
			if i >= len(names) {
				break
			}
			// The top level counts as depth 0: depth 1 expands one level.
			flatten(names[i], v, depth, func(name string, v any) {
				j, ok := slot[name]
				if !ok {
					j = len(outNames)
					slot[name] = j
					outNames = append(outNames, name)
				}
				for len(vals) <= j {
					vals = append(vals, nil)
				}
				vals[j] = v
			})
		}
		out[r] = vals
	}
	for r := range out {
		for len(out[r]) < len(outNames) {
			out[r] = append(out[r], nil)
		}
	}
	return outNames, out
}

func rawOf(names []string, row []any) string {
	m := make(map[string]any, len(row))
	for i, v := range row {
		if i < len(names) {
			m[names[i]] = normalizeJSON(v)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Sprint(row)
	}
	return string(b)
}

func sizeOf(v any) int64 {
	switch x := v.(type) {
	case nil:
		return 0
	case string:
		return int64(len(x))
	case []byte:
		return int64(len(x))
	case bool:
		return 1
	}
	return 8
}
