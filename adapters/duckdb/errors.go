package duckdb

import (
	"context"
	"errors"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/kilnhq/kiln/adapters"
)

// wrapErr keeps a DuckDB error whole as *adapters.Error. A cancelled ctx is
// joined in so errors.Is(err, context.Canceled) holds.
func wrapErr(ctx context.Context, err error, sql string) error {
	if err == nil {
		return nil
	}
	e := &adapters.Error{Message: err.Error(), SQL: sql, Err: err}
	var de *duckdb.Error
	if errors.As(err, &de) {
		e.Message = de.Msg
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		e.Err = errors.Join(err, ctxErr)
	}
	return e
}
