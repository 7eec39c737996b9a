package postgres

import (
	"context"
	"fmt"
	"math/big"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kilnhq/kiln/adapters"
)

// resultRows adapts pgx.Rows to adapters.Rows.
type resultRows struct {
	ctx  context.Context
	rows pgx.Rows
	cols []adapters.Column
	sql  string
}

func (r *resultRows) Columns() []adapters.Column { return r.cols }

func (r *resultRows) Next() bool { return r.rows.Next() }

func (r *resultRows) Values() ([]any, error) {
	vals, err := r.rows.Values()
	if err != nil {
		return nil, wrapErr(r.ctx, err, r.sql)
	}
	raw := r.rows.RawValues()
	for i, f := range r.rows.FieldDescriptions() {
		switch {
		case vals[i] == nil:
		case f.DataTypeOID == pgtype.JSONOID || f.DataTypeOID == pgtype.JSONBOID:
			vals[i] = jsonText(raw[i], f.DataTypeOID, f.Format)
		default:
			vals[i] = plain(vals[i])
		}
	}
	return vals, nil
}

func (r *resultRows) Err() error { return wrapErr(r.ctx, r.rows.Err(), r.sql) }

func (r *resultRows) Close() { r.rows.Close() }

// jsonText returns JSON as its text rather than decoded Go values, so both
// warehouses report JSON alike.
func jsonText(raw []byte, oid uint32, format int16) string {
	if oid == pgtype.JSONBOID && format == pgtype.BinaryFormatCode && len(raw) > 0 {
		raw = raw[1:] // jsonb binary format starts with a version byte
	}
	return string(raw)
}

// plain converts a pgx value to int64, float64, string, bool, time.Time,
// []byte, nil, or slices/maps of those.
func plain(v any) any {
	switch x := v.(type) {
	case nil, int64, float64, string, bool, time.Time, []byte:
		return x
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int8:
		return int64(x)
	case float32:
		return float64(x)
	case uint32:
		return int64(x)
	case pgtype.Numeric:
		f, err := x.Float64Value()
		if err != nil || !f.Valid {
			return nil
		}
		return f.Float64
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		return x.String()
	case [16]byte:
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
	case netip.Prefix:
		return x.String()
	case netip.Addr:
		return x.String()
	case pgtype.Interval:
		if !x.Valid {
			return nil
		}
		return fmt.Sprintf("%d months %d days %d microseconds", x.Months, x.Days, x.Microseconds)
	case pgtype.Time:
		if !x.Valid {
			return nil
		}
		d := time.Duration(x.Microseconds) * time.Microsecond
		return time.Time{}.Add(d).Format("15:04:05.999999")
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	case fmt.Stringer:
		return x.String()
	}
	return v
}
