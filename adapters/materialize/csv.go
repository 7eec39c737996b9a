package materialize

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// CSVError is a malformed seed file, located at the line of the offending
// record (1-based).
type CSVError struct {
	Path string
	Line int
	Msg  string
}

// Error formats the error as path:line: msg.
func (e *CSVError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg) }

// SeedColumn is one seed column and its type: a portable type name
// ("integer", "bigint", "numeric", "boolean", "date", "timestamp", "text")
// when inferred, or the warehouse type given in column_types verbatim.
type SeedColumn struct {
	Name     string
	Type     string
	Override bool
}

// SeedData is a parsed seed: its columns and its rows as Go values (int64,
// float64, bool, time.Time, string, or nil for an empty cell) that both
// warehouses load.
type SeedData struct {
	Path    string
	Columns []SeedColumn
	Rows    [][]any
}

// ReadCSV parses the seed at path. The first record is the header; cells
// are typed by inference (see inferType) unless columnTypes names the
// column, in which case its value is the warehouse type and cells are
// converted according to what that type looks like. Errors in the file are
// *CSVError.
func ReadCSV(path string, columnTypes map[string]string) (*SeedData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading seed: %w", err)
	}
	defer f.Close()
	header, records, lines, err := readRecords(path, f)
	if err != nil {
		return nil, err
	}
	data := &SeedData{Path: path, Columns: make([]SeedColumn, len(header))}
	kinds := make([]valueKind, len(header))
	for i, name := range header {
		if typ, ok := lookupFold(columnTypes, name); ok {
			data.Columns[i] = SeedColumn{Name: name, Type: typ, Override: true}
			kinds[i] = kindOfWarehouseType(typ)
			continue
		}
		k := inferKind(records, i)
		data.Columns[i] = SeedColumn{Name: name, Type: k.portable(), Override: false}
		kinds[i] = k
	}
	data.Rows = make([][]any, len(records))
	for r, rec := range records {
		row := make([]any, len(rec))
		for i, cell := range rec {
			v, err := kinds[i].convert(cell)
			if err != nil {
				return nil, &CSVError{Path: path, Line: lines[r], Msg: fmt.Sprintf("column %s: %v", header[i], err)}
			}
			row[i] = v
		}
		data.Rows[r] = row
	}
	return data, nil
}

func lookupFold(m map[string]string, name string) (string, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// readRecords reads the header and records, returning each record's line.
func readRecords(path string, r io.Reader) ([]string, [][]string, []int, error) {
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, nil, &CSVError{Path: path, Line: 1, Msg: "empty file: a header row is required"}
	}
	if err != nil {
		return nil, nil, nil, csvErr(path, err)
	}
	headerLine, _ := cr.FieldPos(0)
	seen := map[string]bool{}
	for i, name := range header {
		switch {
		case !utf8.ValidString(name):
			return nil, nil, nil, &CSVError{Path: path, Line: headerLine, Msg: fmt.Sprintf("header %d is not valid UTF-8", i+1)}
		case strings.TrimSpace(name) == "":
			return nil, nil, nil, &CSVError{Path: path, Line: headerLine, Msg: fmt.Sprintf("header %d is empty", i+1)}
		case seen[strings.ToLower(name)]:
			return nil, nil, nil, &CSVError{Path: path, Line: headerLine, Msg: fmt.Sprintf("duplicate header %q", name)}
		}
		seen[strings.ToLower(name)] = true
	}
	var records [][]string
	var lines []int
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, nil, csvErr(path, err)
		}
		line, _ := cr.FieldPos(0)
		for _, cell := range rec {
			if !utf8.ValidString(cell) {
				return nil, nil, nil, &CSVError{Path: path, Line: line, Msg: "invalid UTF-8"}
			}
		}
		records = append(records, rec)
		lines = append(lines, line)
	}
	return header, records, lines, nil
}

// csvErr locates an encoding/csv error at the line its record starts on.
func csvErr(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			msg = "wrong number of fields (the header has a different count)"
		}
		return &CSVError{Path: path, Line: pe.StartLine, Msg: msg}
	}
	return fmt.Errorf("reading seed %s: %w", path, err)
}
