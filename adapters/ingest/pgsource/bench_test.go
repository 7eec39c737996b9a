package pgsource

import (
	"context"
	"testing"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// BenchmarkCopyRead reads 1M narrow rows (bigint, integer, timestamp, text)
// per iteration and reports rows/s. Compare with
// psql -c "COPY (select * from narrow) TO STDOUT" > /dev/null on the same table.
func BenchmarkCopyRead(b *testing.B) {
	const rows = 1_000_000
	src := open(b, sourceDB(b, `create table public.narrow as
		select g::bigint as id, (g % 1000)::int as n,
			timestamp '2024-01-01' + g * interval '1 second' as ts, 'name ' || g as s
		from generate_series(1, 1000000) g`, `vacuum analyze public.narrow`))
	tbl := table(b, src, "table", "public.narrow")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		_, err := tbl.Read(context.Background(), ingest.ReadRequest{}, func(bt ingest.Batch) error {
			n += len(bt.Rows)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
