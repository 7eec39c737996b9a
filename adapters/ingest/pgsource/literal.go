package pgsource

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// cursorLiteral renders since as a SQL literal of the cursor's type with
// full precision: timestamps to the microsecond (truncated, never rounded
// up, so "> literal" still means "> since"), numbers exactly. Lookback is
// subtracted from date and timestamp cursors; other cursor types refuse a
// lookback.
func cursorLiteral(t colType, since any, lookback time.Duration) (string, error) {
	if lookback < 0 {
		return "", errors.New("lookback is negative")
	}
	if t.isTimeType() {
		ts, err := sinceTime(since)
		if err != nil {
			return "", err
		}
		ts = ts.Add(-lookback)
		if t.portable == "date" {
			// The day in the value's own zone: a date is not an instant.
			return quoteString(ts.Format("2006-01-02")) + "::date", nil
		}
		ts = ts.UTC().Truncate(time.Microsecond)
		lit := quoteString(ts.Format("2006-01-02 15:04:05.000000"))
		if t.sqlName == "timestamptz" {
			return lit[:len(lit)-1] + "+00'::timestamptz", nil
		}
		return lit + "::timestamp", nil
	}
	if lookback != 0 {
		return "", fmt.Errorf("lookback needs a date or timestamp cursor, not %s", t)
	}
	var s string
	switch v := since.(type) {
	case string:
		s = v
	case int64:
		s = strconv.FormatInt(v, 10)
	case int:
		s = strconv.Itoa(v)
	case int32:
		s = strconv.FormatInt(int64(v), 10)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", fmt.Errorf("since %v is not a number", v)
		}
		s = strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		s = v.String()
	case time.Time:
		s = v.UTC().Format("2006-01-02 15:04:05.999999Z07:00")
	case fmt.Stringer:
		s = v.String()
	default:
		return "", fmt.Errorf("since has unsupported type %T", since)
	}
	if t.sqlName == "" {
		// A type the connector does not name: leave the literal untyped so
		// Postgres gives it the column's own type.
		return quoteString(s), nil
	}
	return quoteString(s) + "::" + t.sqlName, nil
}

// sinceLayouts are the text forms of a timestamp cursor a state may hold:
// RFC 3339 (JSON) and Postgres' own output.
var sinceLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// sinceTime reads a date or timestamp cursor value; text without a zone is
// UTC, as timestamps are emitted.
func sinceTime(since any) (time.Time, error) {
	switch v := since.(type) {
	case time.Time:
		return v, nil
	case pgtype.Timestamp:
		return v.Time, nil
	case pgtype.Timestamptz:
		return v.Time, nil
	case pgtype.Date:
		return v.Time, nil
	case string:
		for _, l := range sinceLayouts {
			if t, err := time.Parse(l, strings.TrimSpace(v)); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("since %q is not a timestamp", v)
	}
	return time.Time{}, fmt.Errorf("since has type %T; a date or timestamp cursor wants a time", since)
}

// quoteString renders a string literal that reads the same whatever
// standard_conforming_strings is.
func quoteString(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}
