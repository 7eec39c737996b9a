package files

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// BatchSize is the most rows one Batch holds.
const BatchSize = ingest.BatchSize

// TableSpec is the table-level configuration every file-based connector
// (files, s3, sftp, ftp) shares: which files, and how to read them.
var TableSpec = []ingest.Field{
	{Name: "path", Type: "string", Level: "table", Doc: "A file, or a folder whose files are all read, relative to the source path (or absolute)."},
	{Name: "glob", Type: "string", Level: "table", Doc: "A glob relative to the source path; ** matches any number of folders. One of path or glob is required."},
	{Name: "format", Type: "string", Level: "table", Doc: "csv, jsonl, json or parquet; by default from the extension (.csv, .tsv, .jsonl, .ndjson, .json, .parquet, before any .gz or .zst)."},
	{Name: "delimiter", Type: "string", Level: "table", Default: ",", Doc: "CSV field delimiter, one character (tab for .tsv)."},
	{Name: "quote", Type: "string", Level: "table", Default: `"`, Doc: "CSV quote character, one character."},
	{Name: "header", Type: "bool", Level: "table", Default: true, Doc: "Whether the first CSV line names the columns; without it they are column_1, column_2, ..."},
	{Name: "null_string", Type: "string", Level: "table", Default: "", Doc: "CSV fields equal to this are NULL."},
	{Name: "records", Type: "string", Level: "table", Doc: "JSON: dot path to the array of records inside the document, e.g. data.items; by default the document is an array of records or one record."},
}

// Spec is the files connector's configuration.
var Spec = append([]ingest.Field{
	{Name: "path", Type: "string", Level: "source", Default: ".", Doc: "Folder the tables' paths and globs are relative to; the caller resolves it against the project directory."},
}, TableSpec...)

// Connector returns the files connector.
func Connector() ingest.Connector {
	return ingest.Connector{
		Name: "files",
		Doc:  "Local CSV, JSON lines, JSON and Parquet files, optionally gzip or zstd compressed.",
		Spec: Spec,
		Open: open,
	}
}

type source struct {
	base string
}

func open(_ context.Context, cfg ingest.Config) (ingest.Source, error) {
	base, err := str(cfg, "path", ".")
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(base)
	if err != nil {
		return nil, fmt.Errorf("%sfiles source path: %w", cfg.At("path"), err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%sfiles source path %s is not a folder", cfg.At("path"), base)
	}
	return &source{base: base}, nil
}

func (s *source) Close() error { return nil }

// Table opens a table on the local folder; an absolute path or glob is
// read from the file system root instead.
func (s *source) Table(ctx context.Context, cfg ingest.Config) (ingest.Table, error) {
	store := Local(s.base)
	p, _ := cfg.Values["path"].(string)
	g, _ := cfg.Values["glob"].(string)
	if filepath.IsAbs(p) || filepath.IsAbs(g) {
		store = Local("/")
	}
	return NewTable(ctx, store, cfg)
}

// batcher groups one file's records into batches of at most BatchSize.
type batcher struct {
	ctx  context.Context
	file string
	emit func(ingest.Batch) error
	cols []string
	idx  map[string]int
	rows [][]any
	bad  []ingest.BadRecord
	sent bool // a batch was emitted
}

// setColumns fixes the column order of positional records (CSV, Parquet).
func (b *batcher) setColumns(cols []string) {
	b.cols = cols
	b.idx = nil
}

// addRow adds a positional record in setColumns order.
func (b *batcher) addRow(vals []any) error {
	b.rows = append(b.rows, vals)
	return b.maybeFlush()
}

// addRecord adds a record with named fields; new names become columns.
func (b *batcher) addRecord(keys []string, vals map[string]any) error {
	if b.idx == nil {
		b.idx = map[string]int{}
		for i, c := range b.cols {
			b.idx[c] = i
		}
	}
	for _, k := range keys {
		if _, ok := b.idx[k]; !ok {
			b.idx[k] = len(b.cols)
			b.cols = append(b.cols, k)
		}
	}
	row := make([]any, len(b.cols))
	for _, k := range keys {
		row[b.idx[k]] = vals[k]
	}
	b.rows = append(b.rows, row)
	return b.maybeFlush()
}

func (b *batcher) addBad(where, reason, raw string) error {
	b.bad = append(b.bad, ingest.BadRecord{Where: where, Reason: reason, Raw: raw})
	return b.maybeFlush()
}

func (b *batcher) maybeFlush() error {
	if len(b.rows)+len(b.bad) >= BatchSize {
		return b.flush()
	}
	return nil
}

func (b *batcher) flush() error {
	if len(b.rows) == 0 && len(b.bad) == 0 {
		return nil
	}
	b.sent = true
	if err := b.ctx.Err(); err != nil {
		return err
	}
	batch := ingest.Batch{Columns: append([]string(nil), b.cols...), Rows: b.rows, File: b.file, Bad: b.bad}
	b.rows, b.bad = nil, nil
	return b.emit(batch)
}

// finish flushes the last batch; a file that named its columns (a CSV
// header) but held no record still sends them, so the table gets them.
func (b *batcher) finish() error {
	if err := b.flush(); err != nil || b.sent || len(b.cols) == 0 {
		return err
	}
	b.sent = true
	return b.emit(ingest.Batch{Columns: append([]string(nil), b.cols...), File: b.file})
}

// Configuration helpers.

func str(cfg ingest.Config, key, def string) (string, error) {
	v, ok := cfg.Values[key]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s%s must be a string, not %v", cfg.At(key), key, v)
	}
	return s, nil
}

func boolean(cfg ingest.Config, key string, def bool) (bool, error) {
	v, ok := cfg.Values[key]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%s%s must be true or false, not %v", cfg.At(key), key, v)
	}
	return b, nil
}
