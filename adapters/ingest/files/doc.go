// Package files is the "files" ingest connector: it loads local CSV, JSON
// lines, JSON and Parquet files, plain or compressed with gzip (.gz) or
// zstd (.zst), picked by a path or a glob (with **) under the source's
// folder.
//
//	sources:
//	  - name: landing
//	    schema: raw_landing
//	    ingest: {connector: files, path: /data/landing}
//	    tables:
//	      - name: orders
//	        ingest: {glob: "orders/**/*.csv.gz", delimiter: ";", null_string: "NA", mode: append}
//	      - name: events
//	        ingest: {path: events.json, records: data.items}
//
// Records stream file by file in batches of at most 10,000 rows, each
// naming its file (the loader writes it to _kiln_file). With mode: append
// only files not loaded before are read: the state keeps each loaded
// file's path, size and modification time, and a file whose size or time
// changed is read again whole. (mode: merge skips seen files the same way;
// replace and --full-refresh read every file.)
package files
