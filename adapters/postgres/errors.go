package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kilnhq/kiln/adapters"
)

// wrapErr keeps a Postgres error whole as *adapters.Error. A cancelled ctx
// is joined in so errors.Is(err, context.Canceled) holds.
func wrapErr(ctx context.Context, err error, sql string) error {
	if err == nil {
		return nil
	}
	e := &adapters.Error{Message: err.Error(), SQL: sql, Err: err}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		e.SQLState = pgErr.Code
		e.Message = pgErr.Message
		e.Detail = pgErr.Detail
		e.Hint = pgErr.Hint
		e.Position = int(pgErr.Position)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		e.Err = errors.Join(err, ctxErr)
	}
	return e
}
