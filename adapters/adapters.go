// Package adapters defines the seam between kiln's compiler/scheduler and a
// target warehouse. Concrete warehouses live in subpackages (duckdb,
// postgres); dialect-neutral build logic lives in materialize.
package adapters

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Relation names one relation in a warehouse. Empty Database means the
// connection's current database.
type Relation struct {
	Database   string
	Schema     string
	Identifier string
}

// RelationKind says what a relation is.
type RelationKind string

// Kinds of relation a warehouse reports.
const (
	KindTable RelationKind = "table"
	KindView  RelationKind = "view"
	// KindMaterializedView is a Postgres materialized view.
	KindMaterializedView RelationKind = "materialized_view"
)

// Column is a column name with its warehouse type (as the warehouse spells it,
// e.g. "integer", "character varying", "VARCHAR").
type Column struct {
	Name string
	Type string
}

// RelationInfo describes an existing relation.
type RelationInfo struct {
	Relation Relation
	Kind     RelationKind
	Columns  []Column // in ordinal order
}

// Result is what one statement reports.
type Result struct {
	RowsAffected int64
	Code         string // e.g. "SELECT", "CREATE TABLE", "INSERT"
}

// Rows is a fully or lazily read query result. Callers must Close it.
type Rows interface {
	Columns() []Column
	// Next advances to the next row; it returns false at the end or on error.
	Next() bool
	// Values returns the current row. The slice is owned by the caller.
	Values() ([]any, error)
	Err() error
	Close()
}

// RowSource streams rows into Load. Next returns io.EOF after the last row.
type RowSource interface {
	Next() ([]any, error)
}

// Execer runs statements; both a Warehouse and a Tx are Execers.
type Execer interface {
	Exec(ctx context.Context, sql string) (Result, error)
	Query(ctx context.Context, sql string) (Rows, error)
}

// Tx is one warehouse transaction. Exactly one of Commit or Rollback must be
// called; Rollback after Commit is a no-op so it can be deferred.
type Tx interface {
	Execer
	// Load bulk-loads rows into an existing table inside the transaction
	// (COPY FROM for Postgres, the appender for DuckDB).
	Load(ctx context.Context, r Relation, cols []Column, rows RowSource) (int64, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// CopyTextLoader is a Tx that can load rows already in PostgreSQL COPY
// format (text or csv) without decoding them: raw ingest streams a source
// database's COPY output, or a CSV file, straight into it.
type CopyTextLoader interface {
	// LoadCopy runs COPY r (columns) FROM STDIN with options (e.g.
	// "format text" or "format csv, header true") reading src.
	LoadCopy(ctx context.Context, r Relation, columns []string, options string, src io.Reader) (int64, error)
}

// CSVOptions is the dialect of CSV data handed to a CSVLoader: one-byte
// delimiter and quote (a doubled quote escapes one inside a quoted field),
// no header; unquoted fields equal to Null are NULL, and quoted ones too
// when QuotedNull is set.
type CSVOptions struct {
	Delimiter, Quote byte
	Null             string
	QuotedNull       bool
}

// CSVLoader is a Tx that parses CSV itself (Postgres COPY ... FORMAT csv,
// DuckDB's CSV reader): raw ingest hands it the records it has checked.
type CSVLoader interface {
	LoadCSV(ctx context.Context, r Relation, columns []string, opts CSVOptions, src io.Reader) (int64, error)
}

// Warehouse is one target warehouse. It is safe for concurrent use by the
// scheduler's workers. Implementations map warehouse errors to *Error.
type Warehouse interface {
	Execer
	Dialect() Dialect
	// Relation describes r, or returns nil, nil when it does not exist.
	Relation(ctx context.Context, r Relation) (*RelationInfo, error)
	// Relations lists the relations of one schema (not the whole database).
	Relations(ctx context.Context, database, schema string) ([]RelationInfo, error)
	Begin(ctx context.Context) (Tx, error)
	Close() error
}

// Dialect holds the SQL spellings that differ between warehouses.
type Dialect interface {
	// Name is the adapter type as dbt spells it: "postgres", "duckdb".
	Name() string
	// QuoteIdent quotes one identifier.
	QuoteIdent(s string) string
	// QuoteString renders a string literal.
	QuoteString(s string) string
	// Render spells a relation fully qualified and quoted as dbt renders it.
	Render(r Relation) string
	// TypeName maps a portable seed/ingest type to this warehouse's type:
	// "integer", "bigint", "numeric", "float", "boolean", "date",
	// "timestamp", "text", "json".
	TypeName(portable string) string
	// DefaultDatabase is the database relations live in when none is given.
	DefaultDatabase() string
}

// Error is a warehouse error kept whole.
type Error struct {
	SQLState string
	Message  string
	Detail   string
	Hint     string
	// Position is the 1-based character offset in the statement, 0 if unknown.
	Position int
	SQL      string
	Err      error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.SQLState != "" {
		fmt.Fprintf(&b, "%s: ", e.SQLState)
	}
	b.WriteString(e.Message)
	if e.Detail != "" {
		fmt.Fprintf(&b, "\n  detail: %s", e.Detail)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "\n  hint: %s", e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// LineOf returns the 1-based line of the error position in its SQL, or 0.
func (e *Error) LineOf() int {
	if e.Position <= 0 || e.SQL == "" {
		return 0
	}
	r := []rune(e.SQL)
	if e.Position > len(r) {
		return 0
	}
	return strings.Count(string(r[:e.Position-1]), "\n") + 1
}

// ErrUnreachable wraps connection failures; its message names host and port.
var ErrUnreachable = errors.New("warehouse unreachable")

// Profile is one resolved profiles.yml output (dbt-postgres or dbt-duckdb
// fields), with env_var() already rendered.
type Profile struct {
	Type           string // "postgres" or "duckdb"
	Host           string
	Port           int
	User           string
	Password       string
	DBName         string
	Schema         string
	Threads        int
	SSLMode        string
	ConnectTimeout int
	SearchPath     string
	// DuckDB
	Path       string
	Extensions []string
	Settings   map[string]string
}

// ViewDefinition is an existing view as the warehouse reports it, enough to
// create it again.
type ViewDefinition struct {
	Relation     Relation
	Materialized bool
	// Options is the text of a WITH (...) clause without the parentheses,
	// e.g. "security_barrier=true"; empty when none.
	Options string
	// Select is the view's defining query, without a trailing semicolon.
	Select string
}

// CreateSQL is the statement that creates the view again.
func (v ViewDefinition) CreateSQL(d Dialect) string {
	var b strings.Builder
	b.WriteString("create ")
	if v.Materialized {
		b.WriteString("materialized ")
	}
	b.WriteString("view " + d.Render(v.Relation))
	if v.Options != "" {
		b.WriteString(" with (" + v.Options + ")")
	}
	b.WriteString(" as\n" + v.Select)
	return b.String()
}

// WithSuffix returns r with suffix appended to its identifier (the names of
// relations built aside: __kiln_tmp, __kiln_backup).
func (r Relation) WithSuffix(suffix string) Relation {
	r.Identifier += suffix
	return r
}

// ViewDependents is implemented by warehouses whose views bind to the
// relations they read by identity rather than by name (Postgres). Dropping
// a replaced relation there drops or orphans the views reading it, so the
// build logic asks for their definitions before a swap and creates them
// again afterwards. Warehouses that bind views by name (DuckDB) do not
// implement it.
type ViewDependents interface {
	// DependentViews lists the views that read r directly or through other
	// views, ordered so that each view comes after every view it reads. It
	// runs on ex, normally the transaction doing the swap.
	DependentViews(ctx context.Context, ex Execer, r Relation) ([]ViewDefinition, error)
}

// Locker is implemented by warehouses that can keep two kiln runs writing
// the same target from interleaving. A run takes the lock once, before its
// first write, and holds it to the end.
//
// Implementations hold the lock in something the operating system or the
// server releases when the process dies (a session-level advisory lock on a
// dedicated connection, an flock on a file), never in a row or file that a
// killed run would leave behind.
type Locker interface {
	// Lock takes the run lock named key (kiln passes the target's schema)
	// and returns a func that releases it; calling that func more than once
	// is harmless. While another process holds the lock, Lock polls until
	// wait has passed (wait <= 0: it tries once) and then returns a
	// *LockedError naming the holder. It stops early with ctx's error when
	// ctx is done.
	Lock(ctx context.Context, key string, wait time.Duration) (unlock func(), err error)
}

// LockedError says that another process holds a run lock.
type LockedError struct {
	// Holder describes the holding process as well as the warehouse
	// knows it, e.g. "pid 1234 on host build-1 since 12:00:01"; empty when
	// unknown.
	Holder string
	// Foreign is true when the holder is known not to be a kiln run (a
	// DuckDB shell, another tool).
	Foreign bool
	// Waited is how long Lock waited before giving up.
	Waited time.Duration
	// Err is the warehouse error behind it, if any.
	Err error
}

func (e *LockedError) Error() string {
	msg := "locked by another process"
	if !e.Foreign {
		msg = "locked by another kiln run"
	}
	if e.Holder != "" {
		msg += " (" + e.Holder + ")"
	}
	return msg
}

func (e *LockedError) Unwrap() error { return e.Err }

// DescribeHolder spells a lock holder the way kiln's messages do:
// "pid 1234 on host build-1 since 12:00:01". Zero fields are left out;
// since is shown with its date unless it is today.
func DescribeHolder(pid int, host string, since time.Time) string {
	var parts []string
	if pid > 0 {
		parts = append(parts, fmt.Sprintf("pid %d", pid))
	}
	if host != "" {
		parts = append(parts, "on host "+host)
	}
	if !since.IsZero() {
		since = since.Local()
		layout := "2006-01-02 15:04:05"
		if y, m, d := since.Date(); time.Date(y, m, d, 0, 0, 0, 0, time.Local).Equal(today()) {
			layout = "15:04:05"
		}
		parts = append(parts, "since "+since.Format(layout))
	}
	return strings.Join(parts, " ")
}

func today() time.Time {
	y, m, d := time.Now().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.Local)
}
