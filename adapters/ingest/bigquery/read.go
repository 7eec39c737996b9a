package bigquery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/googleapi"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// sinceParam names the query parameter carrying the cursor value.
const sinceParam = "kiln_since"

// Read runs the table's query (one job) and emits each result page as one
// batch: a goroutine fetches and decodes the next page while emit, on the
// caller's goroutine, handles the previous one.
//
// With req.Cursor set and req.Since non-nil only rows whose cursor is
// greater than Since (minus Lookback, for date and time cursors) are read,
// plus rows with a NULL cursor when req.Full. The connector keeps no state
// of its own: Read returns nil.
func (t *Table) Read(ctx context.Context, req ingest.ReadRequest, emit func(ingest.Batch) error) (ingest.State, error) {
	sql, params, err := t.sql(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.what, err)
	}
	fetchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan ingest.Batch, 1)
	fetchErr := make(chan error, 1)
	go func() {
		defer close(batches)
		fetchErr <- t.fetch(fetchCtx, sql, params, func(b ingest.Batch) error {
			select {
			case batches <- b:
				return nil
			case <-fetchCtx.Done():
				return fetchCtx.Err()
			}
		})
	}()
	var emitErr error
	for b := range batches {
		if emitErr != nil {
			continue // drain until the fetcher sees the cancellation
		}
		if err := emit(b); err != nil {
			emitErr = err
			cancel()
		}
	}
	err = <-fetchErr
	switch {
	case emitErr != nil:
		return nil, emitErr
	case err != nil:
		return nil, fmt.Errorf("%s: %w", t.what, err)
	}
	return nil, ctx.Err()
}

// sql builds the statement and its parameters for req.
func (t *Table) sql(req ingest.ReadRequest) (string, []*bq.QueryParameter, error) {
	if req.Lookback < 0 {
		return "", nil, errors.New("lookback is negative")
	}
	var where string
	var params []*bq.QueryParameter
	if req.Cursor != "" && req.Since != nil {
		f := findField(t.all, req.Cursor)
		if f == nil {
			return "", nil, fmt.Errorf("cursor %q is not a column (columns: %s)", req.Cursor, strings.Join(fieldNames(t.all), ", "))
		}
		p, err := cursorParam(f, req.Since, req.Lookback)
		if err != nil {
			return "", nil, fmt.Errorf("cursor %q: %w", req.Cursor, err)
		}
		params = append(params, p)
		c := quoteIdent(f.Name)
		where = c + " > @" + sinceParam
		if req.Full {
			where = "(" + where + " or " + c + " is null)"
		}
	}
	if t.query != "" && where == "" && !t.selected {
		return t.query, nil, nil
	}
	from := t.ref.sql()
	if t.query != "" {
		from = "(\n" + t.query + "\n) as _kiln_q"
	}
	list := "*"
	if t.selected {
		quoted := make([]string, len(t.fields))
		for i, f := range t.fields {
			quoted[i] = quoteIdent(f.Name)
		}
		list = strings.Join(quoted, ", ")
	}
	sql := "select " + list + " from " + from
	if where != "" {
		sql += " where " + where
	}
	return sql, params, nil
}

// quoteIdent quotes a column name for standard SQL.
func quoteIdent(name string) string {
	r := strings.NewReplacer("\\", "\\\\", "`", "\\`")
	return "`" + r.Replace(name) + "`"
}

// cursorParam renders since as a named parameter of the cursor column's
// type at full precision: timestamps to the microsecond (truncated, never
// rounded up, so "> @since" still means "> since"), integers exactly.
// Lookback is subtracted from DATE, DATETIME and TIMESTAMP cursors; other
// cursor types refuse one.
func cursorParam(f *bq.TableFieldSchema, since any, lookback time.Duration) (*bq.QueryParameter, error) {
	if repeated(f) {
		return nil, fmt.Errorf("a REPEATED %s column cannot be a cursor", baseType(f))
	}
	typ := baseType(f)
	var value string
	switch typ {
	case "TIMESTAMP", "DATETIME", "DATE":
		ts, err := sinceTime(since)
		if err != nil {
			return nil, err
		}
		ts = ts.Add(-lookback).UTC().Truncate(time.Microsecond)
		switch typ {
		case "TIMESTAMP":
			value = ts.Format("2006-01-02 15:04:05.000000+00:00")
		case "DATETIME":
			value = ts.Format("2006-01-02 15:04:05.000000")
		default:
			value = ts.Format(time.DateOnly)
		}
	case "INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC", "STRING":
		if lookback != 0 {
			return nil, fmt.Errorf("lookback needs a DATE, DATETIME or TIMESTAMP cursor, not %s", typ)
		}
		var err error
		value, typ, err = scalarParam(typ, since)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("a %s column cannot be a cursor (use an INT64, NUMERIC, FLOAT64, STRING, DATE, DATETIME or TIMESTAMP column)", typ)
	}
	return &bq.QueryParameter{
		Name:           sinceParam,
		ParameterType:  &bq.QueryParameterType{Type: typ},
		ParameterValue: &bq.QueryParameterValue{Value: value},
	}, nil
}

// scalarParam spells a numeric or text cursor value and the parameter type
// that compares it exactly with the column: integers as INT64, other
// numbers as FLOAT64 (the loader keeps NUMERIC and FLOAT64 cursors as
// float64), decimal text as the column's NUMERIC type.
func scalarParam(typ string, since any) (string, string, error) {
	switch v := since.(type) {
	case int64:
		if typ == "STRING" {
			return strconv.FormatInt(v, 10), typ, nil
		}
		return strconv.FormatInt(v, 10), "INT64", nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", "", fmt.Errorf("since %v is not a number", v)
		}
		if typ == "INT64" && v == math.Trunc(v) && math.Abs(v) < 1<<63 {
			return strconv.FormatInt(int64(v), 10), "INT64", nil
		}
		return strconv.FormatFloat(v, 'g', -1, 64), "FLOAT64", nil
	case json.Number:
		return scalarParam(typ, string(v))
	case string:
		if typ == "STRING" {
			return v, typ, nil
		}
		if typ == "INT64" {
			if _, err := strconv.ParseInt(v, 10, 64); err == nil {
				return v, typ, nil
			}
		}
		if typ == "NUMERIC" || typ == "BIGNUMERIC" {
			if decimalRe.MatchString(v) {
				return v, typ, nil
			}
		}
		if x, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(x) && !math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64), "FLOAT64", nil
		}
		return "", "", fmt.Errorf("since %q is not a %s value", v, typ)
	case time.Time:
		if typ == "STRING" {
			return v.UTC().Format("2006-01-02 15:04:05.999999"), typ, nil
		}
	}
	return "", "", fmt.Errorf("since has type %T; a %s cursor wants a number or text", since, typ)
}

// sinceLayouts are the text forms of a time cursor a state may hold.
var sinceLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	time.DateOnly,
}

// sinceTime reads a date or time cursor value; text without a zone is UTC.
func sinceTime(since any) (time.Time, error) {
	switch v := since.(type) {
	case time.Time:
		return v, nil
	case string:
		for _, l := range sinceLayouts {
			if t, err := time.Parse(l, strings.TrimSpace(v)); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("since %q is not a timestamp", v)
	}
	return time.Time{}, fmt.Errorf("since has type %T; a date or time cursor wants a time", since)
}

// result is one answer of jobs.query or jobs.getQueryResults.
type result struct {
	complete  bool
	job       *bq.JobReference
	schema    *bq.TableSchema
	rows      []*bq.TableRow
	pageToken string
	totalRows uint64
}

// fetch runs sql as one query job and sends each result page, decoded, to
// send.
func (t *Table) fetch(ctx context.Context, sql string, params []*bq.QueryParameter, send func(ingest.Batch) error) error {
	s := t.src
	q := &bq.QueryRequest{
		Query:          sql,
		UseLegacySql:   googleapi.Bool(false),
		MaxResults:     s.cfg.pageSize,
		TimeoutMs:      waitMs,
		FormatOptions:  &bq.DataFormatOptions{UseInt64Timestamp: true},
		Location:       s.cfg.location,
		DefaultDataset: s.defaultDataset(),
		// The same request id on every retry: BigQuery runs one job.
		RequestId:          requestID(),
		MaximumBytesBilled: s.cfg.maxBytesBilled,
	}
	if len(params) > 0 {
		q.ParameterMode = "NAMED"
		q.QueryParameters = params
	}
	res, err := retry(ctx, s, "jobs.query", func(ctx context.Context) (result, error) {
		r, err := s.svc.Jobs.Query(s.cfg.project, q).Context(ctx).Do()
		if err != nil {
			return result{}, err
		}
		return result{r.JobComplete, r.JobReference, r.Schema, r.Rows, r.PageToken, r.TotalRows}, nil
	})
	if err != nil {
		return err
	}
	job := res.job
	page := func(token string) (result, error) {
		if job == nil || job.JobId == "" {
			return result{}, errors.New("jobs.query: the response names no job to read the rest of the result from")
		}
		return retry(ctx, s, "jobs.getQueryResults", func(ctx context.Context) (result, error) {
			call := s.svc.Jobs.GetQueryResults(job.ProjectId, job.JobId).
				MaxResults(s.cfg.pageSize).
				TimeoutMs(waitMs).
				FormatOptionsUseInt64Timestamp(true).
				Context(ctx)
			if job.Location != "" {
				call = call.Location(job.Location)
			}
			if token != "" {
				call = call.PageToken(token)
			}
			r, err := call.Do()
			if err != nil {
				return result{}, err
			}
			return result{r.JobComplete, r.JobReference, r.Schema, r.Rows, r.PageToken, r.TotalRows}, nil
		})
	}
	// Wait for the job, backing off while the server answers at once.
	for wait := 50 * time.Millisecond; !res.complete; wait = min(2*wait, 2*time.Second) {
		start := time.Now()
		if res, err = page(""); err != nil {
			return err
		}
		if !res.complete && time.Since(start) < time.Second {
			if err := ingest.Sleep(ctx, wait); err != nil {
				return err
			}
		}
	}
	if res.schema == nil || len(res.schema.Fields) == 0 {
		return errors.New("the query result has no schema")
	}
	fields := res.schema.Fields
	names := fieldNames(fields)
	total := res.totalRows
	var read uint64
	seen := map[string]bool{}
	for n := 1; ; n++ {
		if len(res.rows) > 0 {
			b := decodePage(fields, names, res.rows, n, read)
			read += uint64(len(res.rows))
			if err := send(b); err != nil {
				return err
			}
		}
		if res.pageToken == "" {
			break
		}
		if seen[res.pageToken] {
			return fmt.Errorf("jobs.getQueryResults: page token %q came back twice", clip(res.pageToken))
		}
		seen[res.pageToken] = true
		if res, err = page(res.pageToken); err != nil {
			return err
		}
	}
	if total != 0 && read != total {
		return fmt.Errorf("the query result has %d rows but %d were read", total, read)
	}
	return nil
}

// decodePage converts one page's rows; rows that do not decode go to the
// batch's bad records.
func decodePage(fields []*bq.TableFieldSchema, names []string, rows []*bq.TableRow, page int, before uint64) ingest.Batch {
	b := ingest.Batch{Columns: names, Rows: make([][]any, 0, len(rows))}
	for i, row := range rows {
		var cells []*bq.TableCell
		if row != nil {
			cells = row.F
		}
		vals, err := decodeRow(fields, cells)
		if err != nil {
			b.Bad = append(b.Bad, ingest.BadRecord{
				Where:  fmt.Sprintf("page %d row %d (row %d of the result)", page, i+1, before+uint64(i)+1),
				Reason: err.Error(),
				Raw:    rawRow(fields, cells),
			})
			continue
		}
		b.Rows = append(b.Rows, vals)
	}
	return b
}

func decodeRow(fields []*bq.TableFieldSchema, cells []*bq.TableCell) ([]any, error) {
	if len(cells) != len(fields) {
		return nil, fmt.Errorf("the row has %d cells, the schema %d columns", len(cells), len(fields))
	}
	vals := make([]any, len(fields))
	for i, f := range fields {
		var v any
		if cells[i] != nil {
			v = cells[i].V
		}
		x, err := decodeCell(f, v)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		vals[i] = x
	}
	return vals, nil
}

// requestID is a random UUID (version 4) for jobs.query's requestId.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
