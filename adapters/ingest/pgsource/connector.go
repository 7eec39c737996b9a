package pgsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
)

// Defaults of the source-level settings.
const (
	defaultSchema         = "public"
	defaultMaxConnections = 4
	defaultConnectTimeout = 10 * time.Second
)

// Connector returns the "postgres" connector: tables or queries of one
// Postgres database, read with COPY TO STDOUT in the binary format.
func Connector() ingest.Connector {
	return ingest.Connector{
		Name: "postgres",
		Doc:  "Reads tables or queries of a Postgres database with COPY ... TO STDOUT (binary), incrementally by a cursor column when the table has one.",
		Spec: []ingest.Field{
			{Name: "connection", Type: "string", Required: true, Level: "source",
				Doc: `Postgres URL or key=value DSN, e.g. "{{ env_var('SHOP_DATABASE_URL') }}". Without connect_timeout, connecting gives up after 10s.`},
			{Name: "schema", Type: "string", Default: defaultSchema, Level: "source",
				Doc: "Schema of tables named without one."},
			{Name: "max_connections", Type: "int", Default: int64(defaultMaxConnections), Level: "source",
				Doc: "Most connections open at once, i.e. tables of this source read in parallel."},
			{Name: "table", Type: "string", Level: "table",
				Doc: `Table or view to read, "schema.table" or "table". Exactly one of table and query.`},
			{Name: "query", Type: "string", Level: "table",
				Doc: "A select whose rows are read. Exactly one of table and query; a cursor filter applies to its output columns."},
			{Name: "columns", Type: "list", Level: "table",
				Doc: "Columns to read (default all), by name."},
		},
		Open: Open,
	}
}

// Open connects to the database of a source's `connection` and pings it.
// An unreachable server gives an error wrapping adapters.ErrUnreachable
// that names host:port; a refused login keeps the server's SQLSTATE
// (*adapters.Error).
func Open(ctx context.Context, cfg ingest.Config) (ingest.Source, error) {
	conn, err := str(cfg, "connection", true)
	if err != nil {
		return nil, err
	}
	schema, err := str(cfg, "schema", false)
	if err != nil {
		return nil, err
	}
	if schema == "" {
		schema = defaultSchema
	}
	maxConns, err := integer(cfg, "max_connections", defaultMaxConnections)
	if err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(conn)
	if err != nil {
		// pgconn redacts the password in its message.
		return nil, fmt.Errorf("%s: postgres: parsing connection: %w", pos(cfg, "connection"), err)
	}
	pc.MaxConns = int32(maxConns)
	// COPY text output is read back by the warehouse: ask for the spellings
	// every Postgres parses the same way.
	for k, v := range map[string]string{"DateStyle": "ISO, MDY", "IntervalStyle": "postgres"} {
		if _, set := pc.ConnConfig.RuntimeParams[k]; !set {
			pc.ConnConfig.RuntimeParams[k] = v
		}
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	host, port := pc.ConnConfig.Host, pc.ConnConfig.Port
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("creating postgres pool for %s:%d: %w", host, port, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return nil, fmt.Errorf("connecting to postgres at %s:%d as %q: %w", host, port, pc.ConnConfig.User, wrapErr(ctx, err, ""))
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connecting to postgres at %s:%d: %w", host, port, errors.Join(err, ctx.Err()))
		}
		return nil, fmt.Errorf("could not connect to postgres at %s:%d: %w", host, port, unreachable{err})
	}
	return &Source{pool: pool, schema: schema}, nil
}

// unreachable marks a connection failure as adapters.ErrUnreachable while
// printing only its cause.
type unreachable struct{ err error }

func (u unreachable) Error() string   { return u.err.Error() }
func (u unreachable) Unwrap() []error { return []error{adapters.ErrUnreachable, u.err} }

// wrapErr keeps a Postgres error whole as *adapters.Error (SQLSTATE,
// message, detail, hint, position). A cancelled ctx is joined in so
// errors.Is(err, context.Canceled) holds.
func wrapErr(ctx context.Context, err error, sql string) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			return errors.Join(err, ctxErr)
		}
		return err
	}
	e := &adapters.Error{
		SQLState: pgErr.Code,
		Message:  pgErr.Message,
		Detail:   pgErr.Detail,
		Hint:     pgErr.Hint,
		Position: int(pgErr.Position),
		SQL:      sql,
		Err:      err,
	}
	return e
}

// str reads a string setting; a missing optional one is "".
func str(cfg ingest.Config, key string, required bool) (string, error) {
	v, ok := cfg.Values[key]
	if !ok || v == nil {
		if required {
			return "", fmt.Errorf("%s: postgres: %q is required", pos(cfg, ""), key)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: postgres: %q must be a string, got %T", pos(cfg, key), key, v)
	}
	if required && s == "" {
		return "", fmt.Errorf("%s: postgres: %q is empty", pos(cfg, key), key)
	}
	return s, nil
}

// integer reads a positive int setting.
func integer(cfg ingest.Config, key string, def int64) (int64, error) {
	v, ok := cfg.Values[key]
	if !ok || v == nil {
		return def, nil
	}
	n, ok := v.(int64)
	if !ok || n <= 0 || n > 1<<20 {
		return 0, fmt.Errorf("%s: postgres: %q must be a positive integer, got %v", pos(cfg, key), key, v)
	}
	return n, nil
}

// stringList reads a non-empty list of strings.
func stringList(cfg ingest.Config, key string) ([]string, error) {
	v, ok := cfg.Values[key]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: postgres: %q must be a list of column names, got %T", pos(cfg, key), key, v)
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("%s: postgres: %q item %d must be a column name, got %v", pos(cfg, key), key, i+1, e)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: postgres: %q is empty", pos(cfg, key), key)
	}
	return out, nil
}

// pos is cfg.Pos(key), tolerating a Config without positions.
func pos(cfg ingest.Config, key string) string {
	if cfg.Pos == nil {
		return "<config>"
	}
	if p := cfg.Pos(key); p != "" {
		return p
	}
	return cfg.Pos("")
}
