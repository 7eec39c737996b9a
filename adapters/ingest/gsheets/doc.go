// Package gsheets is kiln's "gsheets" ingest connector: it loads one tab of
// a Google Sheets spreadsheet as a table.
//
// A source authenticates with a service-account key (credentials_json or
// credentials_file) and reads through the Sheets API v4: spreadsheets.get
// resolves the tab (by name, by gid, or the first one), values.get reads
// its cells (FORMATTED_VALUE by default: what the sheet shows, typed by
// inference as for CSV files). Without credentials it reads a sheet shared
// with "Anyone with the link" through the CSV export
// (docs.google.com/spreadsheets/d/<id>/export?format=csv&gid=<gid>), which
// needs the tab's gid rather than its name.
//
//	sources:
//	  - name: finance
//	    schema: raw_finance
//	    ingest:
//	      connector: gsheets
//	      credentials_json: "{{ env_var('GOOGLE_SA_KEY') }}"
//	      spreadsheet_id: 1AbC...xyz
//	    tables:
//	      - name: budget
//	        ingest: {sheet: Budget 2024, range: "A1:F"}
//
// The header row names the columns, normalised to snake_case ("Order Date"
// → order_date, "userID" → user_id); blank headers become column_<n> and
// duplicates get _2, _3, ... suffixes. Empty cells are NULL, rows shorter
// than the header are padded with NULL, rows with no value at all are
// skipped (trailing ones included) and a row with a value beyond the
// header's last column is a bad record ("Budget 2024!row 17"). Rows reach
// the loader as text in batches of at most 10,000.
//
// Requests answered 429 or 5xx (and 403 rate-limit reasons), and network
// errors, are retried with exponential backoff honouring Retry-After; 400,
// 401, 403 and 404 are not. A read keeps no state of its own: incremental
// loads use a cursor column, which the loader filters on.
package gsheets
