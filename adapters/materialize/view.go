package materialize

import (
	"context"

	"github.com/kilnhq/kiln/adapters"
)

// View builds rel as a view over a SELECT statement and swaps it in
// atomically. Applied.Result has code "CREATE VIEW" and RowsAffected -1, as
// dbt reports. On error the old relation is left as it was.
func View(ctx context.Context, wh adapters.Warehouse, rel adapters.Relation, sql string) (Applied, error) {
	d := wh.Dialect()
	return swap(ctx, wh, rel, adapters.KindView, func(ctx context.Context, tx adapters.Tx, rec *recorder, tmp adapters.Relation) (adapters.Result, error) {
		if _, err := rec.exec(ctx, tx, "create view "+d.Render(tmp)+" as (\n"+body(sql)+"\n)"); err != nil {
			return adapters.Result{}, err
		}
		return adapters.Result{RowsAffected: -1, Code: "CREATE VIEW"}, nil
	})
}
