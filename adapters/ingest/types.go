package ingest

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// kind is the loader's type of a column. Inferred kinds widen along
// boolean | integer → bigint → numeric | date → timestamp | json, and any
// two kinds without a common one meet at text.
type kind int

const (
	kindNull kind = iota // no non-NULL value seen yet
	kindBoolean
	kindInteger
	kindBigint
	kindNumeric
	kindDate
	kindTimestamp
	kindJSON
	kindText
	// kindRaw is a source column type the loader does not know; values
	// are passed to the warehouse as they come.
	kindRaw
)

// portable names the kind as a portable type for Dialect.TypeName.
func (k kind) portable() string {
	switch k {
	case kindBoolean:
		return "boolean"
	case kindInteger:
		return "integer"
	case kindBigint:
		return "bigint"
	case kindNumeric:
		return "numeric"
	case kindDate:
		return "date"
	case kindTimestamp:
		return "timestamp"
	case kindJSON:
		return "json"
	}
	return "text"
}

func (k kind) numeric() bool  { return k == kindInteger || k == kindBigint || k == kindNumeric }
func (k kind) temporal() bool { return k == kindDate || k == kindTimestamp }

// widen returns the narrowest kind holding both a and b.
func widen(a, b kind) kind {
	switch {
	case a == b:
		return a
	case a == kindNull:
		return b
	case b == kindNull:
		return a
	case a.numeric() && b.numeric(), a.temporal() && b.temporal():
		return max(a, b)
	}
	return kindText
}

// kindOfType reads a warehouse or portable type spelling.
func kindOfType(typ string) kind {
	t := strings.ToLower(strings.TrimSpace(typ))
	switch {
	case t == "json", t == "jsonb":
		return kindJSON
	case strings.Contains(t, "char"), strings.Contains(t, "text"), strings.Contains(t, "string"):
		return kindText
	case strings.HasPrefix(t, "timestamp"), strings.HasPrefix(t, "datetime"):
		return kindTimestamp
	case t == "date":
		return kindDate
	case strings.HasPrefix(t, "bool"):
		return kindBoolean
	case t == "integer", t == "int", t == "int4", t == "smallint", t == "int2":
		return kindInteger
	case t == "bigint", t == "int8", t == "hugeint":
		return kindBigint
	case strings.HasPrefix(t, "numeric"), strings.HasPrefix(t, "decimal"), strings.HasPrefix(t, "float"),
		strings.HasPrefix(t, "double"), t == "real":
		return kindNumeric
	}
	return kindRaw
}

var (
	integerRe = regexp.MustCompile(`^[+-]?(0|[1-9][0-9]*)$`)
	numericRe = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
	dateRe    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	tsRe      = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?$`)
)

// kindOf is the narrowest kind of one value. Strings vote for the type
// they spell (integers without leading zeros, decimals, true/false, ISO
// 8601 dates and timestamps); empty strings do not vote.
func kindOf(v any) kind {
	switch x := v.(type) {
	case nil:
		return kindNull
	case bool:
		return kindBoolean
	case int64:
		return intKind(x)
	case int:
		return intKind(int64(x))
	case int32, int16, int8, uint8, uint16:
		return kindInteger
	case uint32, uint64, uint:
		return kindBigint
	case float64, float32:
		return kindNumeric
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return intKind(n)
		}
		return kindNumeric
	case time.Time:
		// A time at midnight UTC votes for date; any other time widens
		// the column to timestamp.
		if u := x.UTC(); u.Equal(u.Truncate(24 * time.Hour)) {
			return kindDate
		}
		return kindTimestamp
	case string:
		return kindOfString(x)
	case map[string]any, []any:
		return kindJSON
	}
	return kindText
}

func intKind(n int64) kind {
	if n > math.MaxInt32 || n < math.MinInt32 {
		return kindBigint
	}
	return kindInteger
}

func kindOfString(s string) kind {
	switch {
	case s == "":
		return kindNull
	case isInteger(s):
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return kindText
		}
		return intKind(n)
	case onlyBytes(s, "0123456789+-.eE") && numericRe.MatchString(s):
		// "007.5"-style identifiers stay text; "0.5" is a number.
		if t := strings.TrimLeft(s, "+-"); len(t) > 1 && t[0] == '0' && t[1] != '.' && t[1] != 'e' && t[1] != 'E' {
			return kindText
		}
		return kindNumeric
	case strings.EqualFold(s, "true"), strings.EqualFold(s, "false"):
		return kindBoolean
	case len(s) == 10 && dateRe.MatchString(s):
		if _, err := time.Parse(time.DateOnly, s); err == nil {
			return kindDate
		}
	case len(s) >= 16 && s[4] == '-' && tsRe.MatchString(s):
		if _, err := parseTimestamp(s); err == nil {
			return kindTimestamp
		}
	}
	return kindText
}

// isInteger reports whether integerRe matches s, without the regexp.
func isInteger(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	if i == len(s) {
		return false
	}
	if s[i] == '0' {
		return i+1 == len(s)
	}
	for ; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// onlyBytes reports whether every byte of s is one of set (ASCII): a
// quick test that rules out a regexp match before running it.
func onlyBytes(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}

// timestampLayouts are tried in order by parseTimestamp; zonedLayouts
// says which end with a zone.
var (
	timestampLayouts = []string{
		"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999Z07",
		"2006-01-02T15:04:05.999999999", "2006-01-02T15:04Z07:00", "2006-01-02T15:04",
	}
	zonedLayouts = []bool{true, true, true, false, true, false}
)

// parseTimestamp reads an ISO 8601 timestamp; with a zone it is converted
// to UTC, without one it is taken as UTC. Precision is microseconds, as
// in both warehouses.
func parseTimestamp(s string) (time.Time, error) {
	s = strings.Replace(s, " ", "T", 1)
	// A zone needs Z, + or - after the date: without one the zoned
	// layouts cannot match, and are not tried (a failed time.Parse is
	// costly).
	zoned := len(s) > 10 && strings.ContainsAny(s[10:], "Zz+-")
	for i, layout := range timestampLayouts {
		if zonedLayouts[i] && !zoned {
			continue
		}
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Microsecond), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 timestamp", s)
}

// convert returns v as a Go value for a column of kind k. Nested values
// for json columns stay Go values (the writer encodes them).
func convert(v any, k kind) (any, error) {
	if v == nil {
		return nil, nil
	}
	// Values already in the form the switch below returns are returned
	// as they are, saving an allocation each (the common case for
	// database sources, whose columns are typed).
	switch x := v.(type) {
	case string:
		if k == kindText {
			return v, nil
		}
	case int64:
		if k == kindBigint || k == kindInteger && intKind(x) == kindInteger {
			return v, nil
		}
	}
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			v = i
		} else if f, err := n.Float64(); err == nil {
			v = f
		} else {
			v = string(n)
		}
	}
	if s, ok := v.(string); ok && s == "" && k != kindText && k != kindRaw {
		return nil, nil
	}
	switch k {
	case kindText:
		return toText(v)
	case kindRaw:
		if t, ok := v.(time.Time); ok {
			return t.UTC().Truncate(time.Microsecond), nil
		}
		return v, nil
	case kindInteger, kindBigint:
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case int:
			n = int64(x)
		case int32:
			n = int64(x)
		case int16:
			n = int64(x)
		case int8:
			n = int64(x)
		case uint8:
			n = int64(x)
		case uint16:
			n = int64(x)
		case uint32:
			n = int64(x)
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return nil, fmt.Errorf("%v is not an integer", x)
			}
			n = int64(x)
		case string:
			i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not an integer", x)
			}
			n = i
		default:
			return nil, fmt.Errorf("%v (%T) is not an integer", v, v)
		}
		if k == kindInteger && intKind(n) != kindInteger {
			return nil, fmt.Errorf("%d does not fit 32 bits", n)
		}
		return n, nil
	case kindNumeric:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case int:
			return float64(x), nil
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", x)
			}
			return f, nil
		}
		if n, err := convert(v, kindBigint); err == nil {
			return float64(n.(int64)), nil
		}
		return nil, fmt.Errorf("%v (%T) is not a number", v, v)
	case kindBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
		return nil, fmt.Errorf("%v is not true or false", v)
	case kindDate:
		switch x := v.(type) {
		case time.Time:
			y, m, d := x.Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
		case string:
			t, err := time.Parse(time.DateOnly, strings.TrimSpace(x))
			if err != nil {
				return nil, fmt.Errorf("%q is not a YYYY-MM-DD date", x)
			}
			return t, nil
		}
		return nil, fmt.Errorf("%v (%T) is not a date", v, v)
	case kindTimestamp:
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Truncate(time.Microsecond), nil
		case string:
			x = strings.TrimSpace(x)
			if dateRe.MatchString(x) {
				return time.Parse(time.DateOnly, x)
			}
			return parseTimestamp(x)
		}
		return nil, fmt.Errorf("%v (%T) is not a timestamp", v, v)
	case kindJSON:
		return normalizeJSON(v), nil
	}
	return v, nil
}

// toText spells a value as text: timestamps in ISO form, nested values
// as JSON.
func toText(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case time.Time:
		x = x.UTC()
		if x.Equal(x.Truncate(24 * time.Hour)) {
			return x.Format(time.DateOnly), nil
		}
		return x.Format("2006-01-02 15:04:05.999999"), nil
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	}
	return fmt.Sprint(v), nil
}

// normalizeJSON turns times into strings so nested values marshal the
// same on every warehouse.
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case time.Time:
		s, _ := toText(x)
		return s
	case []byte:
		return string(x)
	}
	return v
}

// flatten expands nested objects of row (named by cols) into
// parent__child columns up to depth levels; deeper objects and all arrays
// stay nested (json). Keys of an object are taken in sorted order.
func flatten(prefix string, v any, depth int, emit func(name string, v any)) {
	m, ok := v.(map[string]any)
	if !ok || depth <= 0 {
		emit(prefix, v)
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		emit(prefix, nil)
		return
	}
	for _, k := range keys {
		flatten(prefix+"__"+k, m[k], depth-1, emit)
	}
}

// exactNumeric is a decimal's text, validated by convert, for a Postgres
// numeric column: it keeps every digit and the written scale.
type exactNumeric string

// NumericValue lets pgx encode it as numeric.
func (n exactNumeric) NumericValue() (pgtype.Numeric, error) {
	var v pgtype.Numeric
	if err := v.Scan(string(n)); err != nil {
		return v, err
	}
	return v, nil
}
