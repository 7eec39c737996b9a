// Package ingesttest is the conformance suite every ingest connector
// passes, and the helpers its tests share.
//
// A connector's test serves the suite's fixture (Steps) in its own source
// format and hands Run a function opening a Table on step 0 or step 1:
//
//	func TestConformance(t *testing.T) {
//		ingesttest.Run(t, func(t *testing.T, step int) ingest.Table {
//			dir := t.TempDir()
//			writeCSV(t, dir, ingesttest.Steps[step]) // the connector's format
//			src, err := files.Connector().Open(ctx, ingest.Config{Values: map[string]any{"path": dir}})
//			...
//			tbl, err := src.Table(ctx, ingest.Config{Values: map[string]any{"path": "rows.csv"}})
//			...
//			return tbl
//		})
//	}
//
// Run loads the steps into a fresh DuckDB and, when KILN_TEST_POSTGRES_URL
// is set, a fresh Postgres database (adaptertest), and checks replace,
// append and merge, the cursor and state round trip, that a failing Read
// commits nothing, and the inferred column types. Values may reach the
// loader as Go values or as their text (CSV): the suite compares text.
package ingesttest
