// Package duckdb is kiln's adapter for an embedded DuckDB database file.
//
// Open builds a *Warehouse from a dbt-duckdb profile (path, extensions,
// settings). Relations are rendered "catalog"."schema"."name" like
// dbt-duckdb, where the catalog is the file's basename without extension.
// Transactions run on one dedicated connection with explicit BEGIN/COMMIT so
// that Tx.Load can use DuckDB's appender on that same connection.
package duckdb
