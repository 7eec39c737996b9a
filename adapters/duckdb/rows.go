package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/big"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/kilnhq/kiln/adapters"
)

// resultRows adapts *sql.Rows to adapters.Rows.
type resultRows struct {
	ctx  context.Context
	rows *sql.Rows
	cols []adapters.Column
	sql  string
}

func (r *resultRows) Columns() []adapters.Column { return r.cols }

func (r *resultRows) Next() bool { return r.rows.Next() }

func (r *resultRows) Values() ([]any, error) {
	raw := make([]any, len(r.cols))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		return nil, wrapErr(r.ctx, err, r.sql)
	}
	for i, v := range raw {
		raw[i] = plain(v)
	}
	return raw, nil
}

func (r *resultRows) Err() error { return wrapErr(r.ctx, r.rows.Err(), r.sql) }

func (r *resultRows) Close() { _ = r.rows.Close() }

// plain converts a duckdb-go value to int64, float64, string, bool,
// time.Time, []byte, nil, or slices/maps of those.
func plain(v any) any {
	switch x := v.(type) {
	case nil, int64, float64, string, bool, time.Time, []byte:
		return x
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return fmt.Sprint(x)
	case float32:
		return float64(x)
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		return x.String()
	case duckdb.Decimal:
		return x.Float64()
	case duckdb.UUID:
		return x.String()
	case *duckdb.UUID:
		return x.String()
	case duckdb.Interval:
		return fmt.Sprintf("%d months %d days %d microseconds", x.Months, x.Days, x.Micros)
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
	}
	return v
}
