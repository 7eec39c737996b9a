package files

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
)

// BatchSize is the most rows one Batch holds.
const BatchSize = 10_000

// Spec is the files connector's configuration.
var Spec = []ingest.Field{
	{Name: "path", Type: "string", Level: "source", Default: ".", Doc: "Folder the tables' paths and globs are relative to; the caller resolves it against the project directory."},
	{Name: "path", Type: "string", Level: "table", Doc: "A file, or a folder whose files are all read, relative to the source path (or absolute)."},
	{Name: "glob", Type: "string", Level: "table", Doc: "A glob relative to the source path; ** matches any number of folders. One of path or glob is required."},
	{Name: "format", Type: "string", Level: "table", Doc: "csv, jsonl, json or parquet; by default from the extension (.csv, .tsv, .jsonl, .ndjson, .json, .parquet, before any .gz or .zst)."},
	{Name: "delimiter", Type: "string", Level: "table", Default: ",", Doc: "CSV field delimiter, one character (tab for .tsv)."},
	{Name: "quote", Type: "string", Level: "table", Default: `"`, Doc: "CSV quote character, one character."},
	{Name: "header", Type: "bool", Level: "table", Default: true, Doc: "Whether the first CSV line names the columns; without it they are column_1, column_2, ..."},
	{Name: "null_string", Type: "string", Level: "table", Default: "", Doc: "CSV fields equal to this are NULL."},
	{Name: "records", Type: "string", Level: "table", Doc: "JSON: dot path to the array of records inside the document, e.g. data.items; by default the document is an array of records or one record."},
}

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
		return nil, fmt.Errorf("%sfiles source path: %w", at(cfg, "path"), err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%sfiles source path %s is not a folder", at(cfg, "path"), base)
	}
	return &source{base: base}, nil
}

func (s *source) Close() error { return nil }

// table is one configured table of a files source.
type table struct {
	base, pattern string
	format        string
	csv           csvOptions
	records       []string
	appendOnly    bool
}

func (s *source) Table(_ context.Context, cfg ingest.Config) (ingest.Table, error) {
	t := &table{base: s.base}
	p, err := str(cfg, "path", "")
	if err != nil {
		return nil, err
	}
	g, err := str(cfg, "glob", "")
	if err != nil {
		return nil, err
	}
	switch {
	case p != "" && g != "":
		return nil, fmt.Errorf("%sset path or glob, not both", at(cfg, "glob"))
	case p == "" && g == "":
		return nil, fmt.Errorf("%sa files table needs a path or a glob", at(cfg, ""))
	case g != "":
		t.pattern = g
	default:
		t.pattern = p
		if !filepath.IsAbs(p) {
			p = filepath.Join(s.base, p)
		}
		if info, err := os.Stat(p); err == nil && info.IsDir() {
			t.pattern = strings.TrimSuffix(filepath.ToSlash(t.pattern), "/") + "/**"
		}
	}
	if t.format, err = str(cfg, "format", ""); err != nil {
		return nil, err
	}
	switch t.format {
	case "", "csv", "jsonl", "json", "parquet":
	default:
		return nil, fmt.Errorf("%sunknown format %q (want csv, jsonl, json or parquet)", at(cfg, "format"), t.format)
	}
	if t.csv, err = csvConfig(cfg); err != nil {
		return nil, err
	}
	rec, err := str(cfg, "records", "")
	if err != nil {
		return nil, err
	}
	if rec != "" {
		t.records = strings.Split(rec, ".")
	}
	// The loader passes the mode in ReadRequest.Mode; a "mode" key is
	// honoured for callers that pass it here instead.
	mode, err := str(cfg, "mode", ingest.ModeReplace)
	if err != nil {
		return nil, err
	}
	t.appendOnly = mode == ingest.ModeAppend
	return t, nil
}

// Columns returns nil: files' columns are inferred from their records.
func (t *table) Columns(context.Context) ([]adapters.Column, error) { return nil, nil }

// file is one matched file, as kept in the state.
type file struct {
	Path  string `json:"path"` // relative to the source folder, slash-separated
	Size  int64  `json:"size"`
	MTime string `json:"mtime"` // RFC 3339 with nanoseconds
	abs   string
}

func (f file) state() map[string]any {
	return map[string]any{"path": f.Path, "size": f.Size, "mtime": f.MTime}
}

// Read streams every matched file (with mode append or merge and without
// req.Full, every file not in req.State or changed since) and returns the
// files loaded so far as the state "files".
func (t *table) Read(ctx context.Context, req ingest.ReadRequest, emit func(ingest.Batch) error) (ingest.State, error) {
	matched, err := t.match()
	if err != nil {
		return nil, err
	}
	seen := map[string]map[string]any{}
	newOnly := req.Mode == ingest.ModeAppend || req.Mode == ingest.ModeMerge || (req.Mode == "" && t.appendOnly)
	if newOnly && !req.Full {
		seen = seenFiles(req.State)
	}
	var loaded []any
	for _, f := range matched {
		if old, ok := seen[f.Path]; ok && sameFile(old, f) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := t.readFile(ctx, f, emit); err != nil {
			return nil, err
		}
		delete(seen, f.Path)
		loaded = append(loaded, f.state())
	}
	if newOnly {
		for _, m := range seen {
			loaded = append(loaded, m)
		}
		sort.Slice(loaded, func(i, j int) bool {
			return fmt.Sprint(loaded[i].(map[string]any)["path"]) < fmt.Sprint(loaded[j].(map[string]any)["path"])
		})
	}
	if loaded == nil {
		loaded = []any{}
	}
	return ingest.State{"files": loaded}, nil
}

func seenFiles(st ingest.State) map[string]map[string]any {
	out := map[string]map[string]any{}
	list, _ := st["files"].([]any)
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			if p, ok := m["path"].(string); ok {
				out[p] = m
			}
		}
	}
	return out
}

func sameFile(m map[string]any, f file) bool {
	var size int64
	switch x := m["size"].(type) {
	case float64:
		size = int64(x)
	case int64:
		size = x
	case int:
		size = int64(x)
	}
	return size == f.Size && m["mtime"] == f.MTime
}

// match lists the files the table's path or glob names, sorted.
func (t *table) match() ([]file, error) {
	pattern := filepath.ToSlash(t.pattern)
	root := filepath.ToSlash(t.base)
	if path.IsAbs(pattern) {
		root, pattern = "/", strings.TrimPrefix(pattern, "/")
	}
	segs := strings.Split(path.Clean(pattern), "/")
	// Walk only below the pattern's literal prefix.
	fixed := 0
	for fixed < len(segs)-1 && !hasMeta(segs[fixed]) {
		fixed++
	}
	start := path.Join(append([]string{root}, segs[:fixed]...)...)
	var out []file
	err := filepath.WalkDir(filepath.FromSlash(start), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == filepath.FromSlash(start) {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(filepath.FromSlash(root), p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !matchSegs(segs, strings.Split(rel, "/")) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		display := rel
		if root == "/" {
			display = "/" + rel
		}
		out = append(out, file{Path: display, Size: info.Size(), MTime: info.ModTime().UTC().Format(time.RFC3339Nano), abs: p})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing files for %s: %w", t.pattern, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no files match %s under %s", t.pattern, t.base)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// matchSegs matches path segments against pattern segments; "**" matches
// any number of segments.
func matchSegs(pat, name []string) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchSegs(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, err := path.Match(pat[0], name[0])
	return err == nil && ok && matchSegs(pat[1:], name[1:])
}

// formatOf picks the format from the configuration or the extension.
func (t *table) formatOf(name string) (format string, compression string, err error) {
	base := strings.ToLower(name)
	switch {
	case strings.HasSuffix(base, ".gz"):
		compression, base = "gzip", strings.TrimSuffix(base, ".gz")
	case strings.HasSuffix(base, ".zst"):
		compression, base = "zstd", strings.TrimSuffix(base, ".zst")
	}
	if t.format != "" {
		return t.format, compression, nil
	}
	switch path.Ext(base) {
	case ".csv", ".tsv", ".txt":
		return "csv", compression, nil
	case ".jsonl", ".ndjson":
		return "jsonl", compression, nil
	case ".json":
		return "json", compression, nil
	case ".parquet":
		return "parquet", compression, nil
	}
	return "", "", fmt.Errorf("cannot tell the format of %s from its extension; set format", name)
}

// readFile streams one file's records.
func (t *table) readFile(ctx context.Context, f file, emit func(ingest.Batch) error) error {
	format, compression, err := t.formatOf(f.Path)
	if err != nil {
		return err
	}
	fh, err := os.Open(f.abs)
	if err != nil {
		return err
	}
	defer fh.Close()
	var r io.Reader = fh
	switch compression {
	case "gzip":
		gz, err := gzip.NewReader(fh)
		if err != nil {
			return fmt.Errorf("reading %s: %w", f.abs, err)
		}
		defer gz.Close()
		r = gz
	case "zstd":
		zr, err := zstd.NewReader(fh)
		if err != nil {
			return fmt.Errorf("reading %s: %w", f.abs, err)
		}
		defer zr.Close()
		r = zr
	}
	b := &batcher{ctx: ctx, file: f.Path, emit: emit}
	switch format {
	case "csv":
		opts := t.csv
		if !opts.delimiterSet && strings.HasSuffix(strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(f.Path), ".gz"), ".zst"), ".tsv") {
			opts.delimiter = '\t'
		}
		err = readCSV(r, f.abs, opts, b)
	case "jsonl":
		err = readJSONLines(r, f.abs, b)
	case "json":
		err = readJSON(r, f.abs, t.records, b)
	case "parquet":
		if compression != "" {
			return fmt.Errorf("reading %s: compressed Parquet files are not supported (Parquet compresses its pages itself)", f.abs)
		}
		err = readParquet(ctx, fh, f.abs, b)
	}
	if err != nil {
		return err
	}
	return b.flush()
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
	if err := b.ctx.Err(); err != nil {
		return err
	}
	batch := ingest.Batch{Columns: append([]string(nil), b.cols...), Rows: b.rows, File: b.file, Bad: b.bad}
	b.rows, b.bad = nil, nil
	return b.emit(batch)
}

// Configuration helpers.

func at(cfg ingest.Config, key string) string {
	if cfg.Pos == nil {
		return ""
	}
	if p := cfg.Pos(key); p != "" {
		return p + ": "
	}
	return ""
}

func str(cfg ingest.Config, key, def string) (string, error) {
	v, ok := cfg.Values[key]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s%s must be a string, not %v", at(cfg, key), key, v)
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
		return false, fmt.Errorf("%s%s must be true or false, not %v", at(cfg, key), key, v)
	}
	return b, nil
}
