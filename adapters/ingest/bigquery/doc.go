// Package bigquery is kiln's "bigquery" ingest connector: it reads a
// BigQuery table or the result of a query through the BigQuery v2 REST API
// (google.golang.org/api/bigquery/v2) and hands each result page to the
// loader as one ingest.Batch.
//
// A source is a billing project (the project jobs run in), an optional
// default dataset and location, and credentials: a service-account key
// (credentials_json or credentials_file), else Application Default
// Credentials. A table is a table name or a query.
//
// Columns are known before reading: tables.get gives a table's schema; a
// query is described by a dry-run job (jobs.insert with dryRun), which
// returns its result schema without running it or billing bytes.
//
// Read runs one query job (jobs.query with standard SQL, timestamps as
// int64 microseconds, the cursor filter as a named parameter at full
// precision), polls jobs.getQueryResults until the job is complete and then
// pages through the result with page tokens; a goroutine fetches and
// decodes the next page while the loader writes the previous one. Cells
// arrive as strings in the REST "f"/"v" form and are converted by the
// result schema: INT64 to int64, FLOAT64 to float64, NUMERIC and BIGNUMERIC
// as decimal text, BOOL, STRING, BYTES (base64) to []byte, TIMESTAMP to a
// UTC time, DATE, DATETIME, JSON parsed, RECORD to an object and REPEATED
// to an array (both JSON); TIME, GEOGRAPHY, INTERVAL and RANGE as text. A
// cell that does not decode is a bad record (ingest.BadRecord), so it fails
// the load or goes to the rejects table as on_bad_rows says.
//
// Calls are retried with exponential backoff on 429, 5xx, rate-limit
// reasons and network errors; jobs.query carries a request id so a retried
// call does not start a second job.
package bigquery
