// Package ingest loads raw source tables into the warehouse: connectors
// (postgres, files, http, ...) read records; the loader types them, writes
// them with the warehouse's bulk path and keeps each table's state (cursor,
// files seen) in kiln_meta, committed in the same transaction as the rows.
package ingest

import (
	"context"
	"time"

	"github.com/kilnhq/kiln/adapters"
)

// Config is one YAML mapping of connector or table settings, already
// rendered (env_var) and converted to plain Go values: string, int64,
// float64, bool, nil, []any, map[string]any. Pos gives file:line for keys.
type Config struct {
	Values map[string]any
	// Pos returns the position of a key ("" for the mapping itself) as
	// "file:line:col", for error messages.
	Pos func(key string) string
}

// Field documents one configuration key of a connector (its spec drives
// validation, docs and the template).
type Field struct {
	Name     string
	Type     string // "string", "int", "bool", "list", "map", "duration"
	Required bool
	Default  any
	Doc      string
	// Level is "source" (under the source's `ingest:`) or "table" (under a
	// table's `ingest:`); "any" for both.
	Level string
}

// Connector is a kind of source: its spec and how to open it.
type Connector struct {
	Name string
	Doc  string
	Spec []Field
	// Open connects to one source (e.g. a database, an API base URL, a
	// folder) with its source-level config.
	Open func(ctx context.Context, cfg Config) (Source, error)
}

// Source is one opened source; it is safe for concurrent Table calls.
type Source interface {
	// Table prepares reading one table with its table-level config.
	Table(ctx context.Context, cfg Config) (Table, error)
	Close() error
}

// Table reads one source table.
type Table interface {
	// Columns returns the source's column names and portable types when the
	// source knows them up front (databases); nil when they are inferred
	// from the records (files, APIs).
	Columns(ctx context.Context) ([]adapters.Column, error)
	// Read streams the records to emit in batches. req says what the loader
	// wants (cursor, full refresh, the state of the last load). It returns
	// the connector's part of the new state (e.g. files seen), merged by the
	// loader into the state it stores with the rows.
	Read(ctx context.Context, req ReadRequest, emit func(Batch) error) (State, error)
}

// ReadRequest is what the loader asks of a table read.
type ReadRequest struct {
	// Cursor is the cursor column ("" for none); Since is the last loaded
	// cursor value (nil on the first or a full load) and Lookback how far
	// before it to re-read. Connectors that can filter at the source do
	// (strictly greater than Since-Lookback, plus NULL cursors on first and
	// full loads); the loader filters again, so filtering is optional.
	Cursor   string
	Since    any
	Lookback time.Duration
	// Full is set on the first load, with --full-refresh and for replace
	// loads (which always read the whole table).
	Full bool
	// State is the connector's state from the last committed load.
	State State
	// Mode is the load's mode: "replace", "append" or "merge". Connectors
	// that can skip what earlier loads read (files: files seen before) do
	// so only for append and merge, and never when Full is set.
	Mode string
}

// State is a table's persisted load state (JSON-encodable values).
type State map[string]any

// Batch is a group of records. Columns names the positions of Rows; a
// later batch may bring new columns. Values are nil, bool, int64, float64,
// string, time.Time, []byte, or map[string]any / []any for nested JSON.
type Batch struct {
	Columns []string
	Rows    [][]any
	// File names the file the rows came from (files, s3, sftp): the loader
	// writes it to _kiln_file.
	File string
	// Bad holds records that could not be read, with where and why.
	Bad []BadRecord
}

// BadRecord is a malformed record: where it was (file:line, or page and
// index for APIs), why, and its raw text.
type BadRecord struct {
	Where  string
	Reason string
	Raw    string
}
