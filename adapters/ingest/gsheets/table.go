package gsheets

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/api/googleapi"
	"google.golang.org/api/sheets/v4"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
)

// maxBody caps one response: a tab is read whole (a spreadsheet holds at
// most 10 million cells).
const maxBody = 1 << 30

// table is one tab of a spreadsheet.
type table struct {
	src *source
	cfg tableConfig
}

// Columns implements ingest.Table: the columns come from the header row.
func (t *table) Columns(context.Context) ([]adapters.Column, error) { return nil, nil }

// Read implements ingest.Table: it reads the tab (or its range) whole and
// emits its rows below the header in batches. It keeps no state: a cursor
// is filtered by the loader.
func (t *table) Read(ctx context.Context, _ ingest.ReadRequest, emit func(ingest.Batch) error) (ingest.State, error) {
	if t.src.api != nil {
		return nil, t.readAPI(ctx, emit)
	}
	return nil, t.readExport(ctx, emit)
}

// sheetRef names the tab in messages.
func (t *table) sheetRef() string {
	switch {
	case t.cfg.sheet != "":
		return fmt.Sprintf("sheet %q", t.cfg.sheet)
	case t.cfg.gid != nil:
		return fmt.Sprintf("sheet gid %d", *t.cfg.gid)
	}
	return "the first sheet"
}

// readAPI resolves the tab with spreadsheets.get and reads it with
// values.get.
func (t *table) readAPI(ctx context.Context, emit func(ingest.Batch) error) error {
	s, id := t.src, t.cfg.spreadsheetID
	var meta *sheets.Spreadsheet
	attempts, err := s.try(ctx, func(ctx context.Context) error {
		var err error
		meta, err = s.api.Spreadsheets.Get(id).Fields("sheets.properties(sheetId,title)").Context(ctx).Do()
		return err
	})
	if err != nil {
		return s.apiError(err, attempts, id, "")
	}
	title, err := t.pickSheet(meta)
	if err != nil {
		return err
	}
	a1 := quoteSheet(title)
	if t.cfg.rng != "" {
		a1 += "!" + t.cfg.rng
	}
	var vr *sheets.ValueRange
	attempts, err = s.try(ctx, func(ctx context.Context) error {
		call := s.api.Spreadsheets.Values.Get(id, a1).MajorDimension("ROWS").Context(ctx)
		if t.cfg.valueRender == renderUnformatted {
			call = call.ValueRenderOption("UNFORMATTED_VALUE").DateTimeRenderOption("FORMATTED_STRING")
		} else {
			call = call.ValueRenderOption("FORMATTED_VALUE")
		}
		var err error
		vr, err = call.Do()
		return err
	})
	if err != nil {
		return s.apiError(err, attempts, id, a1)
	}
	first := startRow(vr.Range)
	if first == 0 {
		first = startRow(t.cfg.rng)
	}
	rs := newRowSink(title, first, t.cfg.headerRow, emit)
	for i, row := range vr.Values {
		cells := make([]string, len(row))
		for j, v := range row {
			cells[j] = cellText(v)
		}
		if err := rs.row(ctx, i, cells); err != nil {
			return err
		}
	}
	return rs.finish()
}

// pickSheet finds the configured tab among the spreadsheet's.
func (t *table) pickSheet(meta *sheets.Spreadsheet) (string, error) {
	var known []string
	for _, sh := range meta.Sheets {
		p := sh.Properties
		if p == nil {
			continue
		}
		switch {
		case t.cfg.sheet != "" && p.Title == t.cfg.sheet,
			t.cfg.gid != nil && p.SheetId == *t.cfg.gid,
			t.cfg.sheet == "" && t.cfg.gid == nil:
			return p.Title, nil
		}
		known = append(known, fmt.Sprintf("%q (gid %d)", p.Title, p.SheetId))
	}
	if len(known) == 0 {
		return "", fmt.Errorf("gsheets: spreadsheet %q has no sheets", t.cfg.spreadsheetID)
	}
	return "", fmt.Errorf("gsheets: %s not found in spreadsheet %q (its sheets: %s)", t.sheetRef(), t.cfg.spreadsheetID, strings.Join(known, ", "))
}

// readExport reads a link-shared tab through the CSV export.
func (t *table) readExport(ctx context.Context, emit func(ingest.Batch) error) error {
	s, id := t.src, t.cfg.spreadsheetID
	u := *s.cfg.exportURLBase
	u.Path = strings.TrimSuffix(u.Path, "/") + "/spreadsheets/d/" + id + "/export"
	q := url.Values{"format": {"csv"}}
	gid := int64(0)
	if t.cfg.gid != nil {
		gid = *t.cfg.gid
	}
	q.Set("gid", strconv.FormatInt(gid, 10))
	if t.cfg.rng != "" {
		q.Set("range", t.cfg.rng)
	}
	u.RawQuery = q.Encode()
	var body []byte
	attempts, err := s.try(ctx, func(ctx context.Context) error {
		var err error
		body, err = s.getExport(ctx, &u)
		return err
	})
	if err != nil {
		return s.exportError(err, attempts, id, gid)
	}
	label := "gid " + strconv.FormatInt(gid, 10)
	rs := newRowSink(label, startRow(t.cfg.rng), t.cfg.headerRow, emit)
	body = bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF"))
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1
	// encoding/csv skips blank lines, which are empty rows of a one-column
	// tab: the row number follows the lines, less the line breaks inside
	// quoted cells.
	row, end := -1, 0 // the last record's row (0-based) and last line
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			// The record that failed is not returned: its row is
			// reported and skipped.
			row, end = row+max(perr.StartLine-end, 1), perr.Line
			if err := rs.bad(row, "malformed CSV: "+perr.Err.Error(), ""); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("gsheets: reading the CSV export of spreadsheet %q: %w", id, err)
		}
		start, _ := cr.FieldPos(0)
		last, _ := cr.FieldPos(len(rec) - 1)
		row, end = row+max(start-end, 1), last+strings.Count(rec[len(rec)-1], "\n")
		if err := rs.row(ctx, row, rec); err != nil {
			return err
		}
	}
	return rs.finish()
}

// getExport makes one export request and returns its body, or a
// *statusError.
func (s *source) getExport(ctx context.Context, u *url.URL) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/csv")
	req.Header.Set("User-Agent", "kiln")
	resp, err := s.plain.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading the response body: %w", err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("response body larger than %d bytes", maxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &statusError{code: resp.StatusCode, status: resp.Status, header: resp.Header, body: body}
	}
	if isHTML(resp.Header.Get("Content-Type"), body) {
		return nil, &notCSVError{body: body}
	}
	return body, nil
}

// isHTML reports a page where CSV was expected: Google answers a sheet that
// is not shared by link with its sign-in page.
func isHTML(contentType string, body []byte) bool {
	if strings.HasPrefix(strings.ToLower(contentType), "text/html") {
		return true
	}
	head := bytes.ToLower(bytes.TrimSpace(body[:min(len(body), 512)]))
	return bytes.HasPrefix(head, []byte("<!doctype html")) || bytes.HasPrefix(head, []byte("<html"))
}

// quoteSheet spells a tab name for A1 notation: quoted, quotes doubled.
func quoteSheet(title string) string {
	return "'" + strings.ReplaceAll(title, "'", "''") + "'"
}

// startRow returns the first row number of an A1 range ("'S'!B3:F9" → 3);
// 1 when the range starts at a whole column ("A:F") or is empty, 0 when it
// cannot be read.
func startRow(a1 string) int {
	if i := strings.LastIndex(a1, "!"); i >= 0 {
		a1 = a1[i+1:]
	}
	a1, _, _ = strings.Cut(a1, ":")
	a1 = strings.ReplaceAll(a1, "$", "")
	if a1 == "" {
		return 1
	}
	i := 0
	for i < len(a1) && (a1[i] >= 'A' && a1[i] <= 'Z' || a1[i] >= 'a' && a1[i] <= 'z') {
		i++
	}
	if i == len(a1) {
		return 1
	}
	n, err := strconv.Atoi(a1[i:])
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// cellText spells a cell of values.get as text: the loader types it by
// inference, as for CSV files.
func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// apiErrorText is a Google API error's status and message.
func apiErrorText(e *googleapi.Error) string {
	msg := e.Message
	if msg == "" {
		msg = ingest.Excerpt(e.Body, excerptLen)
	}
	s := statusText(e.Code)
	if msg != "" {
		s += ": " + msg
	}
	return s
}
