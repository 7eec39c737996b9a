// Package adaptertest holds the conformance suite every kiln warehouse
// adapter must pass, and helpers that give tests across the repository a
// fresh DuckDB file or a fresh Postgres database.
//
// Postgres tests need KILN_TEST_POSTGRES_URL, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. Without it
// they skip locally and fail when CI is set.
package adaptertest
