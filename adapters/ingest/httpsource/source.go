package httpsource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
)

// source is one API: its base URL, credentials and request budget, shared
// by its tables.
type source struct {
	client  *http.Client
	cfg     sourceConfig
	limiter *limiter
}

// Table implements ingest.Source.
func (s *source) Table(ctx context.Context, cfg ingest.Config) (ingest.Table, error) {
	tc, err := parseTableConfig(cfg)
	if err != nil {
		return nil, err
	}
	u, err := requestURL(s.cfg.baseURL, tc.path)
	if err != nil {
		return nil, fmt.Errorf("http: path %q: %w", tc.path, err)
	}
	return &table{src: s, cfg: tc, url: u}, nil
}

// Close implements ingest.Source. The client is the caller's.
func (s *source) Close() error { return nil }

// table is one endpoint read page by page.
type table struct {
	src *source
	cfg tableConfig
	url *url.URL // base_url + path, without parameters added here
}

// Columns implements ingest.Table: an API's columns are inferred from its
// records.
func (t *table) Columns(context.Context) ([]adapters.Column, error) { return nil, nil }

// Read implements ingest.Table. It requests one page at a time, emits its
// records as one batch and stops at a page without records, when has_more
// is false or when the pagination has no next page. It keeps no state.
func (t *table) Read(ctx context.Context, req ingest.ReadRequest, emit func(ingest.Batch) error) (ingest.State, error) {
	pg := t.cfg.paginate
	params := url.Values{}
	for k, vs := range t.src.cfg.params {
		params[k] = vs
	}
	for k, vs := range t.cfg.params {
		params[k] = vs
	}
	if t.cfg.cursorParam != "" && req.Since != nil && !req.Full {
		params.Set(t.cfg.cursorParam, sinceText(req.Since, req.Lookback))
	}
	pg.firstParams(params)
	u := withParams(t.url, params)

	pageNo, offset := pg.start, int64(0)
	var prevRecords [sha256.Size]byte
	for n := 1; ; n++ {
		resp, err := t.src.get(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("http: page %d: %w", n, err)
		}
		shown := t.src.redact(u)
		body := resp.body
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, nil // 204 No Content or an empty body: no more records
		}
		var doc json.RawMessage
		if err := json.Unmarshal(body, &doc); err != nil {
			return nil, invalidJSON(n, shown, body, err)
		}

		records, err := t.records(n, shown, doc)
		if err != nil {
			return nil, err
		}
		if len(records) == 0 {
			return nil, nil
		}
		if pg.kind == "page" || pg.kind == "offset" {
			// An API that ignores the page parameter would be read forever.
			h := sha256.New()
			for _, r := range records {
				h.Write(r)
				h.Write([]byte{','})
			}
			var sum [sha256.Size]byte
			h.Sum(sum[:0])
			if n > 1 && sum == prevRecords {
				return nil, fmt.Errorf("http: page %d (GET %s) repeats the records of page %d: does the API take the %q parameter?", n, shown, n-1, pg.param)
			}
			prevRecords = sum
		}
		b := newBatchBuilder(n)
		for i, r := range records {
			b.add(i+1, r)
		}
		if err := emit(b.finish()); err != nil {
			return nil, err
		}

		if pg.hasMore != "" {
			more, err := hasMore(doc, pg.hasMore)
			if err != nil {
				return nil, fmt.Errorf("http: page %d (GET %s): %w", n, shown, err)
			}
			if !more {
				return nil, nil
			}
		}
		var next *url.URL
		switch pg.kind {
		case "":
			return nil, nil
		case "page":
			pageNo++
			params.Set(pg.param, itoa(pageNo))
			next = withParams(t.url, params)
		case "offset":
			offset += int64(len(records))
			params.Set(pg.param, itoa(offset))
			next = withParams(t.url, params)
		case "cursor":
			v, found := lookup(doc, pg.next)
			cursor, ok := "", found
			if found {
				cursor, ok = scalar(v)
			}
			if found && !ok {
				return nil, fmt.Errorf("http: page %d (GET %s): next cursor %q is %s, not a string or number", n, shown, pg.next, jsonKind(v))
			}
			if cursor == "" {
				return nil, nil
			}
			if params.Get(pg.param) == cursor {
				return nil, fmt.Errorf("http: page %d (GET %s): next cursor %q is the cursor of this page (%s): pagination does not advance", n, shown, pg.next, cursor)
			}
			params.Set(pg.param, cursor)
			next = withParams(t.url, params)
		case "next_url":
			v, found := lookup(doc, pg.next)
			if !found || isNull(v) {
				return nil, nil
			}
			s, ok := scalar(v)
			if !ok {
				return nil, fmt.Errorf("http: page %d (GET %s): next URL %q is %s, not a string", n, shown, pg.next, jsonKind(v))
			}
			if s == "" {
				return nil, nil
			}
			if next, err = u.Parse(s); err != nil {
				return nil, fmt.Errorf("http: page %d (GET %s): next URL %q: %w", n, shown, s, err)
			}
		case "link_header":
			s := linkNext(resp.header)
			if s == "" {
				return nil, nil
			}
			if next, err = u.Parse(s); err != nil {
				return nil, fmt.Errorf("http: page %d (GET %s): Link rel=next %q: %w", n, shown, s, err)
			}
		}
		if (pg.kind == "next_url" || pg.kind == "link_header") && next.String() == u.String() {
			return nil, fmt.Errorf("http: page %d (GET %s): the next page's URL is this page's: pagination does not advance", n, shown)
		}
		u = next
	}
}

// records finds the page's array of records.
func (t *table) records(n int, shown string, doc json.RawMessage) ([]json.RawMessage, error) {
	path := t.cfg.records
	v, found := lookup(doc, path)
	if !found || isNull(v) {
		if !found && n == 1 {
			return nil, fmt.Errorf("http: page 1 (GET %s): no records at %q in the response%s", shown, path, keysHint(doc))
		}
		return nil, nil // a last page may leave the records out
	}
	if firstByte(v) != '[' {
		where := "the response body"
		if path != "" {
			where = fmt.Sprintf("records path %q", path)
		}
		return nil, fmt.Errorf("http: page %d (GET %s): %s is %s, not an array of records%s", n, shown, where, jsonKind(v), keysHint(v))
	}
	var records []json.RawMessage
	if err := json.Unmarshal(v, &records); err != nil {
		return nil, fmt.Errorf("http: page %d (GET %s): %w", n, shown, err)
	}
	return records, nil
}

// keysHint lists an object's keys, to help set the records path.
func keysHint(v json.RawMessage) string {
	keys := objectKeys(v)
	if len(keys) == 0 {
		return ""
	}
	if len(keys) > 20 {
		keys = append(keys[:20], "…")
	}
	return " (its keys: " + strings.Join(keys, ", ") + ")"
}

// hasMore reads the has_more flag.
func hasMore(doc json.RawMessage, path string) (bool, error) {
	v, found := lookup(doc, path)
	if !found {
		return false, fmt.Errorf("has_more %q is not in the response%s", path, keysHint(doc))
	}
	s, ok := scalar(v)
	if !ok {
		return false, fmt.Errorf("has_more %q is %s, not a boolean", path, jsonKind(v))
	}
	switch strings.ToLower(s) {
	case "true", "1":
		return true, nil
	case "false", "0", "":
		return false, nil
	}
	return false, fmt.Errorf("has_more %q is %q, not a boolean", path, s)
}

func invalidJSON(n int, shown string, body []byte, err error) error {
	var offset int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		offset = max(syn.Offset-1, 0) // Offset counts the offending byte
	case errors.As(err, &typ):
		offset = typ.Offset
	}
	at := ""
	if offset >= 0 {
		at = fmt.Sprintf(" at byte offset %d", offset)
	}
	return fmt.Errorf("http: page %d (GET %s): invalid JSON%s: %v (body starts: %s)", n, shown, at, err, ingest.Excerpt(body, excerptLen))
}

// sinceText spells the last loaded cursor value for the cursor parameter.
func sinceText(since any, lookback time.Duration) string {
	switch v := since.(type) {
	case time.Time:
		return v.Add(-lookback).UTC().Format(time.RFC3339Nano)
	case []byte:
		return string(v)
	case string, int64, float64, bool:
		return ingest.ScalarText(v)
	}
	return fmt.Sprint(since)
}

func withParams(u *url.URL, params url.Values) *url.URL {
	c := *u
	q := c.Query()
	for k, vs := range params {
		q[k] = vs
	}
	c.RawQuery = q.Encode()
	return &c
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
