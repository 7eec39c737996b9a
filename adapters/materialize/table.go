package materialize

import (
	"context"

	"github.com/kilnhq/kiln/adapters"
)

// Table builds rel as a table from a SELECT statement and swaps it in
// atomically. Applied.Result reports the rows in the new table with code
// "SELECT". On error the old relation is left as it was.
func Table(ctx context.Context, wh adapters.Warehouse, rel adapters.Relation, sql string) (Applied, error) {
	d := wh.Dialect()
	return swap(ctx, wh, rel, adapters.KindTable, func(ctx context.Context, tx adapters.Tx, rec *recorder, tmp adapters.Relation) (adapters.Result, error) {
		res, err := rec.exec(ctx, tx, "create table "+d.Render(tmp)+" as (\n"+body(sql)+"\n)")
		if err != nil {
			return res, err
		}
		return adapters.Result{RowsAffected: res.RowsAffected, Code: "SELECT"}, nil
	})
}
