package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/kilnhq/kiln/adapters"
)

// Warehouse is an open DuckDB database. It implements adapters.Warehouse and
// is safe for concurrent use.
type Warehouse struct {
	db        *sql.DB
	connector *duckdb.Connector
	dialect   Dialect
	path      string
}

var _ adapters.Warehouse = (*Warehouse)(nil)

// settingName is what a profile setting key may look like; keys are spliced
// into SET statements so they must be plain names.
var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// Open opens (creating it if needed) the DuckDB file at p.Path, or an
// in-memory database when p.Path is empty or ":memory:". It installs and
// loads p.Extensions and applies p.Settings to every connection.
func Open(ctx context.Context, p adapters.Profile) (*Warehouse, error) {
	path := p.Path
	if path == "" {
		path = ":memory:"
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("creating directory for duckdb file %s: %w", path, err)
		}
	}
	sweepSpools(os.TempDir(), time.Now().Add(-spoolMaxAge))
	sets, err := settingStatements(p.Settings)
	if err != nil {
		return nil, err
	}
	// New connections are opened long after Open returns; settings are
	// applied to each of them regardless of Open's cancellation.
	initCtx := context.WithoutCancel(ctx)
	connector, err := duckdb.NewConnector(path, func(ex driver.ExecerContext) error {
		for _, s := range sets {
			if _, err := ex.ExecContext(initCtx, s, nil); err != nil {
				return fmt.Errorf("applying duckdb setting (%s): %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("opening duckdb file %s: %w", path, err)
	}
	w := &Warehouse{db: sql.OpenDB(connector), connector: connector, path: path}
	if err := w.init(ctx, p.Extensions); err != nil {
		_ = w.Close()
		return nil, err
	}
	return w, nil
}

func (w *Warehouse) init(ctx context.Context, extensions []string) error {
	for _, ext := range extensions {
		if !settingName.MatchString(ext) {
			return fmt.Errorf("duckdb extension name %q is not a plain name", ext)
		}
		if _, err := w.db.ExecContext(ctx, "INSTALL "+ext); err != nil {
			return fmt.Errorf("installing duckdb extension %s (it must be downloadable or already installed): %w", ext, err)
		}
		if _, err := w.db.ExecContext(ctx, "LOAD "+ext); err != nil {
			return fmt.Errorf("loading duckdb extension %s: %w", ext, err)
		}
	}
	var catalog string
	if err := w.db.QueryRowContext(ctx, "select current_database()").Scan(&catalog); err != nil {
		return fmt.Errorf("reading catalog name of duckdb file %s: %w", w.path, err)
	}
	w.dialect = Dialect{database: catalog}
	return nil
}

// settingStatements turns profile settings into SET statements, sorted by
// key so that they apply in a stable order.
func settingStatements(settings map[string]string) ([]string, error) {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		if !settingName.MatchString(k) {
			return nil, fmt.Errorf("duckdb setting name %q is not a plain name", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, fmt.Sprintf("SET %s = %s", k, quoteString(settings[k])))
	}
	return out, nil
}

func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Dialect returns the DuckDB dialect bound to this file's catalog.
func (w *Warehouse) Dialect() adapters.Dialect { return w.dialect }

// Close closes the database; it must not be used afterwards.
func (w *Warehouse) Close() error {
	err := w.db.Close()
	if cerr := w.connector.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("closing duckdb file %s: %w", w.path, err)
	}
	return nil
}
