package files_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/duckdb"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
)

func TestParquet(t *testing.T) {
	dir := t.TempDir()
	// DuckDB writes the fixture; the connector reads it without DuckDB.
	writer, err := duckdb.Open(ctx, adaptertest.DuckDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	out := filepath.Join(dir, "data", "orders.parquet")
	if err := mkdir(filepath.Dir(out)); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Exec(ctx, `copy (
		select * from (values
			(1, 'a', 1.5, timestamp '2024-01-01 10:00:00.123456', date '2024-01-01', true, 12.34::decimal(10,2), 1234567890123::bigint, {'x': 1, 'y': 'z'}),
			(2, null, null, null, null, null, null, null, null)
		) v(id, name, amount, ts, d, flag, price, big, obj)
	) to '`+out+`' (format parquet, row_group_size 1)`); err != nil {
		t.Fatal(err)
	}
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dest := ingesttest.Rel(wh, "raw", "orders")
		ingesttest.Load(t, wh, dest, openTable(t, dir, map[string]any{"glob": "**/*.parquet"}), ingest.LoadOptions{})
		got := ingesttest.Select(t, wh, dest, "id, name, amount, ts, d, flag, price, big, obj__x, obj__y, _kiln_file")
		want := "1|a|1.5|2024-01-01 10:00:00.123456|2024-01-01 00:00:00|true|12.34|1234567890123|1|z|data/orders.parquet " +
			"2|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|data/orders.parquet"
		if got != want {
			t.Errorf("parquet rows:\n got %s\nwant %s", got, want)
		}
		types := ingesttest.ColumnTypes(t, wh, dest)
		for col, typ := range map[string]string{"ts": "timestamp", "d": "date", "flag": "bool", "big": "bigint"} {
			if !strings.Contains(types[col], typ) {
				t.Errorf("%s typed %s, want %s", col, types[col], typ)
			}
		}
	})
}
