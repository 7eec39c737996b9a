// Package pgsource is kiln's "postgres" ingest connector: it reads tables or
// queries of a Postgres database with COPY (...) TO STDOUT in the binary
// format and streams the rows to the loader in batches.
//
// A source opens one connection pool, so several tables of one source can be
// read in parallel. Each table is described once (a statement Describe, the
// same as a "limit 0" query) to learn its column names and types; types the
// decoder does not read natively are cast in the COPY's select list
// (arrays to jsonb, anything else to text), so every column decodes from
// the binary format.
//
// Incremental reads filter at the source: "cursor > since" (minus the
// lookback window for date and timestamp cursors), with since rendered as a
// full-precision literal cast to the cursor column's type, since COPY takes
// no bind parameters.
package pgsource
