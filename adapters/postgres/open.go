package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnhq/kiln/adapters"
)

// Warehouse is a pool of connections to one Postgres database. It implements
// adapters.Warehouse and adapters.ViewDependents and is safe for concurrent
// use.
type Warehouse struct {
	pool    *pgxpool.Pool
	dialect Dialect
}

var (
	_ adapters.Warehouse      = (*Warehouse)(nil)
	_ adapters.ViewDependents = (*Warehouse)(nil)
)

// Defaults applied to a profile's zero fields.
const (
	defaultHost           = "localhost"
	defaultPort           = 5432
	defaultConnectTimeout = 10 // seconds, as dbt-postgres
)

// Open connects to the database named by p and pings it. The pool holds
// max(p.Threads, 1)+1 connections. When the server cannot be reached the
// error wraps adapters.ErrUnreachable and names host and port.
func Open(ctx context.Context, p adapters.Profile) (*Warehouse, error) {
	cfg, err := poolConfig(p)
	if err != nil {
		return nil, err
	}
	host, port := cfg.ConnConfig.Host, cfg.ConnConfig.Port
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating postgres pool for %s:%d: %w", host, port, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) || ctx.Err() != nil {
			return nil, fmt.Errorf("could not connect to postgres at %s:%d: %w", host, port, wrapErr(ctx, err, ""))
		}
		return nil, fmt.Errorf("could not connect to postgres at %s:%d: %w", host, port, unreachable{err})
	}
	return &Warehouse{pool: pool, dialect: Dialect{database: cfg.ConnConfig.Database}}, nil
}

// unreachable marks a connection failure as adapters.ErrUnreachable while
// printing only the underlying cause.
type unreachable struct{ err error }

func (u unreachable) Error() string   { return u.err.Error() }
func (u unreachable) Unwrap() []error { return []error{adapters.ErrUnreachable, u.err} }

func poolConfig(p adapters.Profile) (*pgxpool.Config, error) {
	host := p.Host
	if host == "" {
		host = defaultHost
	}
	port := p.Port
	if port == 0 {
		port = defaultPort
	}
	timeout := p.ConnectTimeout
	if timeout == 0 {
		timeout = defaultConnectTimeout
	}
	q := url.Values{}
	if p.SSLMode != "" {
		q.Set("sslmode", p.SSLMode)
	}
	q.Set("connect_timeout", strconv.Itoa(timeout))
	u := url.URL{
		Scheme:   "postgres",
		Host:     host + ":" + strconv.Itoa(port),
		Path:     "/" + p.DBName,
		RawQuery: q.Encode(),
	}
	if p.Password != "" {
		u.User = url.UserPassword(p.User, p.Password)
	} else if p.User != "" {
		u.User = url.User(p.User)
	}
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("building postgres connection config for %s:%d: %w", host, port, err)
	}
	cfg.ConnConfig.Host = host
	if p.SearchPath != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = p.SearchPath
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = ApplicationName()
	cfg.MaxConns = int32(max(p.Threads, 1) + 1)
	// kiln rebuilds relations under the same names, so statement
	// descriptions must not be cached: a cached one would encode COPY rows
	// or decode results for the columns of a relation that no longer exists.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	// On cancellation ask the server to stop the statement, and only drop
	// the connection if it does not answer.
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 2 * time.Second}
	}
	return cfg, nil
}

// Dialect returns the Postgres dialect bound to the connected database.
func (w *Warehouse) Dialect() adapters.Dialect { return w.dialect }

// Close closes all connections; it waits for acquired ones to be released.
func (w *Warehouse) Close() error {
	w.pool.Close()
	return nil
}
