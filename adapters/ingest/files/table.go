package files

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
)

// Table reads the files of a Store that one table's path or glob names.
// The files, s3, sftp and ftp connectors all load through it.
type Table struct {
	store      Store
	pattern    string // slash-separated, relative to the store root
	isGlob     bool
	format     string
	csv        csvOptions
	records    []string
	appendOnly bool
	exclude    string // a folder never read (after_load move_to)
	loaded     []Object
}

// NewTable configures a table on store from the table-level settings of
// TableSpec (path or glob, format, CSV and JSON options).
func NewTable(_ context.Context, store Store, cfg ingest.Config) (*Table, error) {
	t := &Table{store: store}
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
		return nil, fmt.Errorf("%sset path or glob, not both", cfg.At("glob"))
	case p == "" && g == "":
		return nil, fmt.Errorf("%sa table of files needs a path or a glob", cfg.At(""))
	case g != "":
		t.pattern, t.isGlob = g, true
	default:
		// A path with glob characters is a glob.
		t.pattern, t.isGlob = p, hasMeta(p)
	}
	t.pattern = strings.TrimPrefix(path.Clean(strings.ReplaceAll(t.pattern, `\`, "/")), "/")
	if t.pattern == "." {
		t.pattern = ""
	}
	if t.format, err = str(cfg, "format", ""); err != nil {
		return nil, err
	}
	switch t.format {
	case "", "csv", "jsonl", "json", "parquet":
	default:
		return nil, fmt.Errorf("%sunknown format %q (want csv, jsonl, json or parquet)", cfg.At("format"), t.format)
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
func (t *Table) Columns(context.Context) ([]adapters.Column, error) { return nil, nil }

// Loaded returns the files the last Read read, in order.
func (t *Table) Loaded() []Object { return t.loaded }

// Store returns the table's store.
func (t *Table) Store() Store { return t.store }

// stateOf is how a file is remembered in the state.
func stateOf(o Object) map[string]any {
	m := map[string]any{"path": o.Path, "size": o.Size}
	if !o.MTime.IsZero() {
		m["mtime"] = o.MTime.UTC().Format(time.RFC3339Nano)
	}
	if o.ETag != "" {
		m["etag"] = o.ETag
	}
	return m
}

// Read streams every matched file (with mode append or merge and without
// req.Full, every file not in req.State or changed since) and returns the
// files loaded so far as the state "files".
func (t *Table) Read(ctx context.Context, req ingest.ReadRequest, emit func(ingest.Batch) error) (ingest.State, error) {
	matched, err := t.match(ctx)
	if err != nil {
		return nil, err
	}
	return t.each(ctx, req, matched, func(f Object) error { return t.readFile(ctx, f, emit) })
}

// ReadCSV hands the loader each file Read would read, undecoded, when they
// are all CSV with one-byte delimiter and quote (see ingest.CSVSource).
func (t *Table) ReadCSV(ctx context.Context, req ingest.ReadRequest, file func(ingest.CSVFile) error) (ingest.State, bool, error) {
	if t.csv.delimiter >= utf8.RuneSelf || t.csv.quote >= utf8.RuneSelf {
		return nil, false, nil
	}
	matched, err := t.match(ctx)
	if err != nil {
		return nil, true, err
	}
	for _, f := range matched {
		if format, _, err := t.formatOf(f.Path); err != nil || format != "csv" {
			return nil, false, nil
		}
	}
	st, err := t.each(ctx, req, matched, func(f Object) error {
		return t.openFile(ctx, f, func(r io.Reader, opts csvOptions) error {
			return file(ingest.CSVFile{
				Name: f.Path, Delimiter: byte(opts.delimiter), Quote: byte(opts.quote),
				Header: opts.header, Null: opts.nullString, Names: headerNames, Body: r,
			})
		})
	})
	return st, true, err
}

// each calls read for every matched file to load and returns the state.
func (t *Table) each(ctx context.Context, req ingest.ReadRequest, matched []Object, read func(Object) error) (ingest.State, error) {
	t.loaded = nil
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
		if err := read(f); err != nil {
			return nil, err
		}
		delete(seen, f.Path)
		loaded = append(loaded, stateOf(f))
		t.loaded = append(t.loaded, f)
	}
	if newOnly {
		listed := make(map[string]bool, len(matched))
		for _, f := range matched {
			listed[f.Path] = true
		}
		for p, m := range seen {
			// Files moved away after their load (after_load move_to) are
			// forgotten once they are no longer listed; otherwise a file
			// seen once stays in the state.
			if t.exclude != "" && !listed[p] {
				continue
			}
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

// sameFile reports whether a remembered file is the listed one unchanged.
func sameFile(m map[string]any, o Object) bool {
	var size int64
	switch x := m["size"].(type) {
	case float64:
		size = int64(x)
	case int64:
		size = x
	case int:
		size = int64(x)
	}
	now := stateOf(o)
	return size == o.Size && m["mtime"] == now["mtime"] && m["etag"] == now["etag"]
}

// match lists the files the table's path or glob names, sorted.
func (t *Table) match(ctx context.Context) ([]Object, error) {
	var dir string
	var keep func(p string) bool
	if t.isGlob {
		segs := strings.Split(t.pattern, "/")
		// List only below the pattern's literal prefix.
		fixed := 0
		for fixed < len(segs)-1 && !hasMeta(segs[fixed]) {
			fixed++
		}
		dir = path.Join(segs[:fixed]...)
		keep = func(p string) bool { return matchSegs(segs, strings.Split(p, "/")) }
	} else {
		dir = t.pattern
		keep = func(p string) bool { return dir == "" || p == dir || strings.HasPrefix(p, dir+"/") }
	}
	all, err := t.store.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	var out []Object
	for _, o := range all {
		if t.exclude != "" && (o.Path == t.exclude || strings.HasPrefix(o.Path, t.exclude+"/")) {
			continue
		}
		if keep(o.Path) {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		what := "path"
		if t.isGlob {
			what = "glob"
		}
		return nil, fmt.Errorf("no files match %s %s (looked in %s)", what, t.pattern, t.store.Describe(dir))
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
func (t *Table) formatOf(name string) (format string, compression string, err error) {
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
	return "", "", fmt.Errorf("cannot tell the format of %s from its extension; set format", t.store.Describe(name))
}

// readFile streams one file's records.
func (t *Table) readFile(ctx context.Context, f Object, emit func(ingest.Batch) error) error {
	name := t.store.Describe(f.Path)
	format, compression, err := t.formatOf(f.Path)
	if err != nil {
		return err
	}
	if format == "parquet" && compression != "" {
		return fmt.Errorf("reading %s: compressed Parquet files are not supported (Parquet compresses its pages itself)", name)
	}
	rc, err := t.store.Open(ctx, f)
	if err != nil {
		return fmt.Errorf("opening %s: %w", name, err)
	}
	defer rc.Close()
	r, closeDec, err := decompress(rc, compression)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	defer closeDec()
	b := &batcher{ctx: ctx, file: f.Path, emit: emit}
	switch format {
	case "csv":
		err = readCSV(r, name, t.csvOptionsFor(f.Path), b)
	case "jsonl":
		err = readJSONLines(r, name, b)
	case "json":
		err = readJSON(r, name, t.records, b)
	case "parquet":
		fh, ok := rc.(*os.File)
		if !ok {
			// Parquet is read from its footer: spool a remote file to disk.
			tmp, cleanup, serr := spool(rc)
			if serr != nil {
				return fmt.Errorf("reading %s: %w", name, serr)
			}
			defer cleanup()
			fh = tmp
		}
		err = readParquet(ctx, fh, name, b)
	}
	if err != nil {
		return err
	}
	return b.finish()
}

// csvOptionsFor is the table's CSV dialect for one file (tab-separated for
// .tsv unless a delimiter is set).
func (t *Table) csvOptionsFor(name string) csvOptions {
	opts := t.csv
	if !opts.delimiterSet && strings.HasSuffix(strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(name), ".gz"), ".zst"), ".tsv") {
		opts.delimiter = '\t'
	}
	return opts
}

// openFile opens one CSV file, decompressed, for the CSV fast path.
func (t *Table) openFile(ctx context.Context, f Object, use func(io.Reader, csvOptions) error) error {
	name := t.store.Describe(f.Path)
	_, compression, err := t.formatOf(f.Path)
	if err != nil {
		return err
	}
	rc, err := t.store.Open(ctx, f)
	if err != nil {
		return fmt.Errorf("opening %s: %w", name, err)
	}
	defer rc.Close()
	r, closeDec, err := decompress(rc, compression)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	defer closeDec()
	if err := use(r, t.csvOptionsFor(f.Path)); err != nil {
		return err
	}
	return nil
}

// decompress wraps r by compression ("", gzip, zstd).
func decompress(r io.Reader, compression string) (io.Reader, func(), error) {
	switch compression {
	case "gzip":
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return gz, func() { gz.Close() }, nil
	case "zstd":
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	}
	return r, func() {}, nil
}

// spool copies r to a temporary file, open at its start.
func spool(r io.Reader) (*os.File, func(), error) {
	fh, err := os.CreateTemp("", "kiln-spool-*")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { fh.Close(); os.Remove(fh.Name()) }
	if _, err := io.Copy(fh, r); err != nil {
		cleanup()
		return nil, nil, err
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, nil, err
	}
	return fh, cleanup, nil
}
