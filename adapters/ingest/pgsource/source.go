package pgsource

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
)

// Source is one opened Postgres database. It is safe for concurrent Table
// and Read calls: each takes a connection of its pool.
type Source struct {
	pool   *pgxpool.Pool
	schema string
}

var _ ingest.Source = (*Source)(nil)

// Close closes the pool, waiting for connections in use to be released.
func (s *Source) Close() error {
	s.pool.Close()
	return nil
}

// Table describes one table (or query) of the source: the settings are
// checked and the relation and columns looked up, so a table or column that
// does not exist fails here with its SQLSTATE.
func (s *Source) Table(ctx context.Context, cfg ingest.Config) (ingest.Table, error) {
	name, err := str(cfg, "table", false)
	if err != nil {
		return nil, err
	}
	query, err := str(cfg, "query", false)
	if err != nil {
		return nil, err
	}
	columns, err := stringList(cfg, "columns")
	if err != nil {
		return nil, err
	}
	t := &Table{src: s}
	switch {
	case name != "" && query != "":
		return nil, fmt.Errorf("%s: postgres: set one of \"table\" and \"query\", not both", pos(cfg, "query"))
	case name != "":
		schema, rel, err := splitName(name, s.schema)
		if err != nil {
			return nil, fmt.Errorf("%s: postgres: %w", pos(cfg, "table"), err)
		}
		t.from = pgx.Identifier{schema, rel}.Sanitize()
		t.what = fmt.Sprintf("%s: postgres table %s.%s", pos(cfg, "table"), schema, rel)
	case strings.TrimSpace(query) != "":
		q := strings.TrimRight(strings.TrimSpace(query), "; \t\r\n")
		t.from = "(" + q + "\n) as _kiln_q"
		t.what = pos(cfg, "query") + ": postgres query"
	default:
		return nil, fmt.Errorf("%s: postgres: set \"table\" (schema.table) or \"query\" (select ...)", pos(cfg, ""))
	}
	list := "*"
	if columns != nil {
		quoted := make([]string, len(columns))
		for i, c := range columns {
			quoted[i] = quoteIdent(c)
		}
		list = strings.Join(quoted, ", ")
	}
	t.cols, t.types, err = s.describe(ctx, "select "+list+" from "+t.from)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.what, err)
	}
	return t, nil
}

// describe returns the names and types of the columns sql yields, without
// running it (a Describe of the unnamed statement).
func (s *Source) describe(ctx context.Context, sql string) ([]string, []colType, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, wrapErr(ctx, err, "")
	}
	defer conn.Release()
	desc, err := conn.Conn().PgConn().Prepare(ctx, "", sql, nil)
	if err != nil {
		return nil, nil, wrapErr(ctx, err, sql)
	}
	return s.classify(ctx, conn.Conn(), desc.Fields)
}

// classify maps fields to colTypes, asking pg_type which of the OIDs the
// decoder does not know are arrays.
func (s *Source) classify(ctx context.Context, conn *pgx.Conn, fields []pgconn.FieldDescription) ([]string, []colType, error) {
	names := make([]string, len(fields))
	types := make([]colType, len(fields))
	var unknown []uint32
	for i, f := range fields {
		names[i] = f.Name
		t, ok := typeOf(f.DataTypeOID)
		if !ok {
			unknown = append(unknown, f.DataTypeOID)
		}
		types[i] = t
	}
	if len(unknown) == 0 {
		return names, types, nil
	}
	const sql = "select oid, typcategory = 'A' from pg_catalog.pg_type where oid = any($1::oid[])"
	rows, err := conn.Query(ctx, sql, unknown)
	if err != nil {
		return nil, nil, wrapErr(ctx, err, sql)
	}
	array := map[uint32]bool{}
	var oid uint32
	var isArray bool
	if _, err := pgx.ForEachRow(rows, []any{&oid, &isArray}, func() error {
		array[oid] = isArray
		return nil
	}); err != nil {
		return nil, nil, wrapErr(ctx, err, sql)
	}
	for i, f := range fields {
		if _, ok := typeOf(f.DataTypeOID); ok {
			continue
		}
		if array[f.DataTypeOID] {
			types[i] = asJSON
		} else {
			types[i] = asText
		}
	}
	return names, types, nil
}

// splitName splits "schema.table" (either part optionally double-quoted);
// a bare name takes the source's default schema.
func splitName(name, defSchema string) (schema, table string, err error) {
	var parts []string
	for rest := strings.TrimSpace(name); ; {
		var part string
		if strings.HasPrefix(rest, `"`) {
			end := 1
			for ; end < len(rest); end++ {
				if rest[end] == '"' {
					if end+1 < len(rest) && rest[end+1] == '"' {
						end++
						continue
					}
					break
				}
			}
			if end >= len(rest) {
				return "", "", fmt.Errorf("table %q: unterminated quoted name", name)
			}
			part = strings.ReplaceAll(rest[1:end], `""`, `"`)
			rest = rest[end+1:]
		} else {
			i := strings.IndexByte(rest, '.')
			if i < 0 {
				i = len(rest)
			}
			part = rest[:i]
			rest = rest[i:]
		}
		if part == "" {
			return "", "", fmt.Errorf("table %q: want schema.table", name)
		}
		parts = append(parts, part)
		if rest == "" {
			break
		}
		if rest[0] != '.' {
			return "", "", fmt.Errorf("table %q: want schema.table", name)
		}
		rest = rest[1:]
	}
	switch len(parts) {
	case 1:
		return defSchema, parts[0], nil
	case 2:
		return parts[0], parts[1], nil
	}
	return "", "", fmt.Errorf("table %q: want schema.table", name)
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// Table is one table or query of a Source, described by Source.Table.
type Table struct {
	src   *Source
	what  string // for errors: "file:line: postgres table public.orders"
	from  string // a quoted relation or "(query) as _kiln_q"
	cols  []string
	types []colType
}

var _ ingest.Table = (*Table)(nil)

// Columns returns the column names and portable types found by Source.Table.
func (t *Table) Columns(context.Context) ([]adapters.Column, error) {
	out := make([]adapters.Column, len(t.cols))
	for i, c := range t.cols {
		out[i] = adapters.Column{Name: c, Type: t.types[i].portable}
	}
	return out, nil
}
