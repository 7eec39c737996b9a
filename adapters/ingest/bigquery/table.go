package bigquery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/googleapi"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
)

// tableRef names a BigQuery table.
type tableRef struct{ project, dataset, table string }

func (r tableRef) String() string { return r.project + "." + r.dataset + "." + r.table }

// sql spells the table in standard SQL: one backtick-quoted path.
func (r tableRef) sql() string { return "`" + r.String() + "`" }

// parseName reads "table", "dataset.table" or "project.dataset.table"
// (parts may be backtick-quoted, a domain-scoped project may hold a dot:
// "example.com:project.dataset.table"; "project:dataset.table" is also
// read). Missing parts come from the source's project and dataset.
func (s *Source) parseName(name string) (tableRef, error) {
	s0 := strings.TrimSpace(name)
	if len(s0) > 2 && strings.Count(s0, "`") == 2 && s0[0] == '`' && s0[len(s0)-1] == '`' {
		s0 = s0[1 : len(s0)-1] // `project.dataset.table`
	}
	parts := strings.Split(s0, ".")
	for i, p := range parts {
		if len(p) > 2 && p[0] == '`' && p[len(p)-1] == '`' {
			parts[i] = p[1 : len(p)-1] // `project`.`dataset`.`table`
		}
	}
	var ref tableRef
	switch n := len(parts); {
	case n == 1:
		ref = tableRef{s.cfg.project, s.cfg.dataset, parts[0]}
		if ref.dataset == "" {
			return ref, fmt.Errorf("%q names no dataset: write dataset.table or set the source's dataset", name)
		}
	case n == 2:
		ref = tableRef{s.cfg.project, parts[0], parts[1]}
		if p, d, ok := strings.Cut(parts[0], ":"); ok {
			ref.project, ref.dataset = p, d
		}
	default:
		ref = tableRef{strings.Join(parts[:n-2], "."), parts[n-2], parts[n-1]}
	}
	for _, p := range []string{ref.project, ref.dataset, ref.table} {
		if err := checkNamePart(p); err != nil {
			return ref, fmt.Errorf("table %q: %w", name, err)
		}
	}
	return ref, nil
}

// checkNamePart refuses what cannot be quoted in a backtick path.
func checkNamePart(p string) error {
	if strings.TrimSpace(p) == "" {
		return errors.New("empty name")
	}
	for _, r := range p {
		if r == '`' || r == '\\' || unicode.IsControl(r) {
			return fmt.Errorf("name %q has a character BigQuery names cannot hold (%q)", p, r)
		}
	}
	return nil
}

// Table is one table or query of a Source, described by Source.Table.
type Table struct {
	src   *Source
	what  string   // for errors: "file:line: bigquery table p.d.t" or "...: bigquery query"
	ref   tableRef // a table, or
	query string   // a query
	// all is the table's or query's schema; fields the columns read (all
	// of them unless `columns` names some).
	all, fields []*bq.TableFieldSchema
	selected    bool // `columns` was set
}

var _ ingest.Table = (*Table)(nil)

// Table checks a table's settings and describes it: tables.get for a
// table, a dry-run query job for a query. A table that does not exist,
// credentials that are refused or a query that does not compile fail here.
func (s *Source) Table(ctx context.Context, cfg ingest.Config) (ingest.Table, error) {
	r := ingest.NewConfigReader(cfg, "bigquery")
	name := strings.TrimSpace(r.Str("table", false, ""))
	query := strings.TrimRight(strings.TrimSpace(r.Str("query", false, "")), "; \t\r\n")
	columns := r.Strings("columns")
	t := &Table{src: s}
	switch {
	case name != "" && query != "":
		r.Errorf("query", "set one of table and query, not both")
	case name != "":
		ref, err := s.parseName(name)
		if err != nil {
			r.Errorf("table", "%v", err)
		}
		t.ref = ref
		t.what = fmt.Sprintf("%s: bigquery: table %s", pos(cfg, "table"), ref)
	case query != "":
		t.query = query
		t.what = pos(cfg, "query") + ": bigquery: query"
	default:
		r.Errorf("table", "set table (dataset.table) or query (select ...)")
	}
	if r.Has("columns") && len(columns) == 0 {
		r.Errorf("columns", "is empty")
	}
	for _, c := range columns {
		if c == "" {
			r.Errorf("columns", "has an empty name")
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	var err error
	if t.query == "" {
		// tableSchema's errors name the table.
		if t.all, err = s.tableSchema(ctx, t.ref); err != nil {
			return nil, fmt.Errorf("%s: bigquery: %w", pos(cfg, "table"), err)
		}
	} else if t.all, err = s.querySchema(ctx, t.query); err != nil {
		return nil, fmt.Errorf("%s: %w", t.what, err)
	}
	t.fields = t.all
	if columns != nil {
		t.selected = true
		t.fields = nil
		for _, c := range columns {
			f := findField(t.all, c)
			if f == nil {
				return nil, fmt.Errorf("%s: columns: no column %q (columns: %s)", t.what, c, strings.Join(fieldNames(t.all), ", "))
			}
			t.fields = append(t.fields, f)
		}
	}
	return t, nil
}

// tableSchema gets a table's schema with tables.get.
func (s *Source) tableSchema(ctx context.Context, ref tableRef) ([]*bq.TableFieldSchema, error) {
	tbl, err := retry(ctx, s, "tables.get", func(ctx context.Context) (*bq.Table, error) {
		return s.svc.Tables.Get(ref.project, ref.dataset, ref.table).Fields("schema", "type").Context(ctx).Do()
	})
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == http.StatusNotFound {
			return nil, &notFoundError{ref: ref, err: ae}
		}
		return nil, fmt.Errorf("table %s: %w", ref, err)
	}
	if tbl.Schema == nil || len(tbl.Schema.Fields) == 0 {
		return nil, fmt.Errorf("table %s has no columns", ref)
	}
	return tbl.Schema.Fields, nil
}

// notFoundError is a table that tables.get did not find.
type notFoundError struct {
	ref tableRef
	err *APIError
}

func (e *notFoundError) Error() string {
	return fmt.Sprintf("table %s not found (%s)", e.ref, e.err.Message)
}

func (e *notFoundError) Unwrap() error { return e.err }

// querySchema gets the result schema of a query from a dry-run job, which
// checks the query without running it (nothing is billed).
func (s *Source) querySchema(ctx context.Context, query string) ([]*bq.TableFieldSchema, error) {
	job := &bq.Job{
		JobReference: &bq.JobReference{ProjectId: s.cfg.project, Location: s.cfg.location},
		Configuration: &bq.JobConfiguration{
			DryRun: true,
			Query: &bq.JobConfigurationQuery{
				Query:          query,
				UseLegacySql:   googleapi.Bool(false),
				DefaultDataset: s.defaultDataset(),
			},
		},
	}
	got, err := retry(ctx, s, "jobs.insert (dry run)", func(ctx context.Context) (*bq.Job, error) {
		return s.svc.Jobs.Insert(s.cfg.project, job).Context(ctx).Do()
	})
	if err != nil {
		return nil, err
	}
	if got.Status != nil && got.Status.ErrorResult != nil {
		return nil, fmt.Errorf("jobs.insert (dry run): %s", got.Status.ErrorResult.Message)
	}
	if got.Statistics == nil || got.Statistics.Query == nil || got.Statistics.Query.Schema == nil || len(got.Statistics.Query.Schema.Fields) == 0 {
		return nil, errors.New("the dry run of the query returned no result schema (is it a single select?)")
	}
	return got.Statistics.Query.Schema.Fields, nil
}

// defaultDataset is the source's dataset for unqualified names in queries.
func (s *Source) defaultDataset() *bq.DatasetReference {
	if s.cfg.dataset == "" {
		return nil
	}
	return &bq.DatasetReference{ProjectId: s.cfg.project, DatasetId: s.cfg.dataset}
}

// Columns returns the column names and portable types of the columns read.
func (t *Table) Columns(context.Context) ([]adapters.Column, error) {
	out := make([]adapters.Column, len(t.fields))
	for i, f := range t.fields {
		out[i] = adapters.Column{Name: f.Name, Type: portableType(f)}
	}
	return out, nil
}

func findField(fields []*bq.TableFieldSchema, name string) *bq.TableFieldSchema {
	for _, f := range fields {
		if f.Name == name {
			return f
		}
	}
	// Column names are case-insensitive in BigQuery.
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

func fieldNames(fields []*bq.TableFieldSchema) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Name
	}
	return out
}
