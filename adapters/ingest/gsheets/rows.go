package gsheets

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// BatchSize is the most rows one Batch holds.
const BatchSize = 10_000

// rowSink turns a tab's rows into batches: the header row names the
// columns, rows above it are skipped, rows with no value are skipped,
// shorter rows are padded with NULL and rows with a value beyond the
// header's last column are bad records.
type rowSink struct {
	label     string // the tab, in bad records' Where: "Orders!row 7"
	first     int    // sheet row number of the range's first row
	headerRow int    // 1-based, within the range
	emit      func(ingest.Batch) error
	columns   []string // nil until the header row is read
	width     int      // columns through the header's last named one
	batch     ingest.Batch
}

func newRowSink(label string, first, headerRow int, emit func(ingest.Batch) error) *rowSink {
	if first < 1 {
		first = 1
	}
	return &rowSink{label: label, first: first, headerRow: headerRow, emit: emit}
}

// where spells the sheet row of the i-th (0-based) row of the range.
func (s *rowSink) where(i int) string {
	return fmt.Sprintf("%s!row %d", s.label, s.first+i)
}

// row takes the i-th (0-based) row of the range.
func (s *rowSink) row(ctx context.Context, i int, cells []string) error {
	n := len(cells)
	for n > 0 && cells[n-1] == "" {
		n--
	}
	cells = cells[:n]
	if s.columns == nil {
		switch {
		case i+1 < s.headerRow:
			return nil
		case i+1 > s.headerRow:
			// The header row was missing (values.get leaves out empty
			// rows only at the end, so this does not happen there).
			return fmt.Errorf("gsheets: %s: header row %d is empty", s.label, s.first+s.headerRow-1)
		}
		if n == 0 {
			return fmt.Errorf("gsheets: %s: header row %d is empty", s.label, s.first+i)
		}
		s.columns = headerNames(cells)
		s.width = n
		s.batch = ingest.Batch{Columns: s.columns}
		return nil
	}
	if n == 0 {
		return nil
	}
	if n > s.width {
		return s.bad(i, fmt.Sprintf("a value in column %s, beyond the header's last column %s", columnLetters(n), columnLetters(s.width)), csvLine(cells))
	}
	vals := make([]any, s.width)
	for j, c := range cells {
		if c != "" {
			vals[j] = c
		}
	}
	s.batch.Rows = append(s.batch.Rows, vals)
	if len(s.batch.Rows)+len(s.batch.Bad) >= BatchSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		return s.flush()
	}
	return nil
}

// bad records the i-th row of the range as malformed.
func (s *rowSink) bad(i int, reason, raw string) error {
	if s.columns == nil && i+1 >= s.headerRow {
		return fmt.Errorf("gsheets: %s: header row %d cannot be read: %s", s.label, s.first+s.headerRow-1, reason)
	}
	s.batch.Bad = append(s.batch.Bad, ingest.BadRecord{Where: s.where(i), Reason: reason, Raw: raw})
	if len(s.batch.Rows)+len(s.batch.Bad) >= BatchSize {
		return s.flush()
	}
	return nil
}

func (s *rowSink) flush() error {
	if len(s.batch.Rows) == 0 && len(s.batch.Bad) == 0 {
		return nil
	}
	b := s.batch
	s.batch = ingest.Batch{Columns: s.columns}
	return s.emit(b)
}

// finish emits what is left. A tab without its header row is an error
// rather than an empty table: a wrong tab, range or header_row would
// otherwise replace the destination with nothing.
func (s *rowSink) finish() error {
	if s.columns == nil {
		return fmt.Errorf("gsheets: %s: no header row: row %d is past the last row with values", s.label, s.first+s.headerRow-1)
	}
	return s.flush()
}

// headerNames names the columns from the header cells: snake_case, blanks
// as column_<n> (n counting from the range's first column), duplicates
// made unique with _2, _3, ...
func headerNames(cells []string) []string {
	used := make(map[string]bool, len(cells))
	out := make([]string, len(cells))
	for i, c := range cells {
		name := snakeCase(c)
		if name == "" {
			name = "column_" + strconv.Itoa(i+1)
		}
		if used[name] {
			for k := 2; ; k++ {
				if cand := name + "_" + strconv.Itoa(k); !used[cand] {
					name = cand
					break
				}
			}
		}
		used[name] = true
		out[i] = name
	}
	return out
}

// snakeCase normalises a header: letters lowercased, a word break before
// an upper-case letter that follows a lower-case letter or digit (userId →
// user_id) or that starts a word after an acronym (HTTPStatus →
// http_status), every run of other characters one underscore, none at
// either end.
func snakeCase(s string) string {
	rs := []rune(strings.TrimSpace(s))
	var b strings.Builder
	gap := false // an underscore is due before the next letter or digit
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			gap = true
			continue
		}
		if unicode.IsUpper(r) && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				gap = true
			}
		}
		if gap && b.Len() > 0 {
			b.WriteByte('_')
		}
		gap = false
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// columnLetters spells a 1-based column number as the sheet does (1 → A,
// 27 → AA).
func columnLetters(n int) string {
	var out []byte
	for n > 0 {
		n--
		out = append([]byte{byte('A' + n%26)}, out...)
		n /= 26
	}
	return string(out)
}

// csvLine spells cells as one CSV line, for a bad record's raw text.
func csvLine(cells []string) string {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(cells)
	w.Flush()
	return strings.TrimRight(buf.String(), "\r\n")
}
