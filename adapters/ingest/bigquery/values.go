package bigquery

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	bq "google.golang.org/api/bigquery/v2"
)

// baseType is a field's type in its standard SQL spelling (the REST API
// answers with the legacy names: INTEGER, FLOAT, BOOLEAN, RECORD).
func baseType(f *bq.TableFieldSchema) string {
	switch t := strings.ToUpper(f.Type); t {
	case "INTEGER":
		return "INT64"
	case "FLOAT":
		return "FLOAT64"
	case "BOOLEAN":
		return "BOOL"
	case "RECORD":
		return "STRUCT"
	case "DECIMAL":
		return "NUMERIC"
	case "BIGDECIMAL":
		return "BIGNUMERIC"
	default:
		return t
	}
}

func repeated(f *bq.TableFieldSchema) bool { return strings.EqualFold(f.Mode, "REPEATED") }

// portableType is the column type the loader creates for a field.
func portableType(f *bq.TableFieldSchema) string {
	if repeated(f) {
		return "json"
	}
	switch baseType(f) {
	case "INT64":
		return "bigint"
	case "FLOAT64":
		return "float"
	case "NUMERIC", "BIGNUMERIC":
		return "numeric"
	case "BOOL":
		return "boolean"
	case "BYTES":
		// Not a portable type the loader knows: it creates the column as
		// bytea (BLOB in DuckDB) and passes the []byte values through.
		return "bytea"
	case "DATE":
		return "date"
	case "TIMESTAMP", "DATETIME":
		return "timestamp"
	case "JSON", "STRUCT":
		return "json"
	}
	// STRING, TIME, GEOGRAPHY, INTERVAL, RANGE and types to come.
	return "text"
}

// decodeCell converts one top-level cell of the REST "f"/"v" form.
func decodeCell(f *bq.TableFieldSchema, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if repeated(f) || baseType(f) == "STRUCT" {
		return decodeNested(f, v)
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%s value is %s, not a string", baseType(f), describeJSON(v))
	}
	switch t := baseType(f); t {
	case "INT64":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("INT64 value %q is not an integer", clip(s))
		}
		return n, nil
	case "FLOAT64":
		x, err := parseFloat(s)
		if err != nil {
			return nil, err
		}
		return x, nil
	case "NUMERIC", "BIGNUMERIC":
		if !decimalRe.MatchString(s) {
			return nil, fmt.Errorf("%s value %q is not a decimal number", t, clip(s))
		}
		return s, nil
	case "BOOL":
		return parseBool(s)
	case "BYTES":
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("BYTES value %q is not base64", clip(s))
		}
		return b, nil
	case "DATE":
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil, fmt.Errorf("DATE value %q is not YYYY-MM-DD", clip(s))
		}
		return d, nil
	case "DATETIME":
		return parseDatetime(s)
	case "TIMESTAMP":
		return parseTimestamp(s)
	case "JSON":
		return parseJSON(s)
	}
	return s, nil
}

// decodeNested converts a cell to JSON-ready values: a RECORD to an
// object, a REPEATED field to an array, numbers as json.Number (exact),
// times as ISO 8601 text, BYTES as their base64 text.
func decodeNested(f *bq.TableFieldSchema, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if repeated(f) {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("REPEATED %s value is %s, not an array", baseType(f), describeJSON(v))
		}
		elem := *f
		elem.Mode = "NULLABLE"
		out := make([]any, len(list))
		for i, e := range list {
			x, err := decodeNested(&elem, unwrapV(e))
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i+1, err)
			}
			out[i] = x
		}
		return out, nil
	}
	if baseType(f) == "STRUCT" {
		cells, err := recordCells(v)
		if err != nil {
			return nil, err
		}
		if len(cells) != len(f.Fields) {
			return nil, fmt.Errorf("RECORD value has %d fields, the schema %d", len(cells), len(f.Fields))
		}
		out := make(map[string]any, len(cells))
		for i, sub := range f.Fields {
			x, err := decodeNested(sub, unwrapV(cells[i]))
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", sub.Name, err)
			}
			out[sub.Name] = x
		}
		return out, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%s value is %s, not a string", baseType(f), describeJSON(v))
	}
	switch t := baseType(f); t {
	case "INT64":
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return nil, fmt.Errorf("INT64 value %q is not an integer", clip(s))
		}
		return json.Number(s), nil
	case "FLOAT64":
		x, err := parseFloat(s)
		if err != nil {
			return nil, err
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return s, nil // JSON has no NaN or Infinity
		}
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), nil
	case "NUMERIC", "BIGNUMERIC":
		if !decimalRe.MatchString(s) {
			return nil, fmt.Errorf("%s value %q is not a decimal number", t, clip(s))
		}
		return json.Number(s), nil
	case "BOOL":
		return parseBool(s)
	case "BYTES":
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("BYTES value %q is not base64", clip(s))
		}
		return s, nil
	case "DATE":
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return nil, fmt.Errorf("DATE value %q is not YYYY-MM-DD", clip(s))
		}
		return s, nil
	case "DATETIME":
		d, err := parseDatetime(s)
		if err != nil {
			return nil, err
		}
		return d.Format("2006-01-02T15:04:05.999999"), nil
	case "TIMESTAMP":
		ts, err := parseTimestamp(s)
		if err != nil {
			return nil, err
		}
		return ts.Format("2006-01-02T15:04:05.999999Z"), nil
	case "JSON":
		return parseJSON(s)
	}
	return s, nil
}

// unwrapV returns x["v"] of an {"v": x} element.
func unwrapV(e any) any {
	if m, ok := e.(map[string]any); ok {
		if v, ok := m["v"]; ok && len(m) == 1 {
			return v
		}
	}
	return e
}

// recordCells returns the "f" list of a RECORD value.
func recordCells(v any) ([]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("RECORD value is %s, not an object", describeJSON(v))
	}
	cells, ok := m["f"].([]any)
	if !ok {
		return nil, fmt.Errorf(`RECORD value has no "f" list`)
	}
	return cells, nil
}

var decimalRe = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

func parseFloat(s string) (float64, error) {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// ParseFloat reports a finite value out of range as ±Inf with an
		// error; BigQuery never sends one.
		return 0, fmt.Errorf("FLOAT64 value %q is not a number", clip(s))
	}
	return x, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("BOOL value %q is not true or false", clip(s))
}

// parseDatetime reads a DATETIME ("2024-03-01T12:00:00.000001", a space
// also allowed) as a UTC time; there is no zone.
func parseDatetime(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02T15:04:05.999999999", strings.Replace(s, " ", "T", 1))
	if err != nil {
		if d, err := time.Parse(time.DateOnly, s); err == nil {
			return d, nil
		}
		return time.Time{}, fmt.Errorf("DATETIME value %q is not YYYY-MM-DDTHH:MM:SS[.ffffff]", clip(s))
	}
	return t.Truncate(time.Microsecond), nil
}

// parseTimestamp reads a TIMESTAMP in the forms the REST API sends:
// microseconds since the epoch (useInt64Timestamp, asked for), float
// seconds ("1.709294400000001E9", the default) or ISO 8601.
func parseTimestamp(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMicro(n).UTC(), nil
	}
	if len(s) >= 10 && s[4] == '-' {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999 MST", "2006-01-02T15:04:05.999999999"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC().Truncate(time.Microsecond), nil
			}
		}
	} else if decimalRe.MatchString(s) {
		// Float seconds: exact decimal arithmetic, rounded to the
		// microsecond (the float form carries no more).
		r, ok := new(big.Rat).SetString(s)
		if ok {
			r.Mul(r, big.NewRat(1e6, 1))
			f, _ := r.Float64()
			if math.Abs(f) < 1<<62 {
				n := new(big.Int).Quo(r.Num(), r.Denom())
				rem := new(big.Rat).Sub(r, new(big.Rat).SetInt(n))
				// Round half away from zero.
				if rem.Abs(rem).Cmp(big.NewRat(1, 2)) >= 0 {
					if r.Sign() >= 0 {
						n.Add(n, big.NewInt(1))
					} else {
						n.Sub(n, big.NewInt(1))
					}
				}
				return time.UnixMicro(n.Int64()).UTC(), nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("TIMESTAMP value %q is not microseconds, seconds or ISO 8601", clip(s))
}

// parseJSON reads a JSON cell, keeping numbers exact.
func parseJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("JSON value %q is not JSON: %v", clip(s), err)
	}
	if dec.More() {
		return nil, fmt.Errorf("JSON value %q has text after the JSON", clip(s))
	}
	return v, nil
}

func describeJSON(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// clip shortens a value quoted in an error, at a rune boundary.
func clip(s string) string {
	if len(s) <= 60 {
		return s
	}
	cut := 60
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// rawRow spells a result row for a bad record: its cells by column name,
// as the API sent them.
func rawRow(fields []*bq.TableFieldSchema, cells []*bq.TableCell) string {
	m := make(map[string]any, len(cells))
	for i, c := range cells {
		name := fmt.Sprintf("_%d", i+1)
		if i < len(fields) {
			name = fields[i].Name
		}
		if c != nil {
			m[name] = c.V
		} else {
			m[name] = nil
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return fmt.Sprint(m)
	}
	return strings.TrimSpace(buf.String())
}
