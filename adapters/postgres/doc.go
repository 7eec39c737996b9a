// Package postgres is kiln's adapter for PostgreSQL, built on pgxpool.
//
// Open builds a *Warehouse from a dbt-postgres profile. Relations are
// rendered "database"."schema"."name" like dbt-postgres. Warehouse errors are
// kept whole as *adapters.Error (SQLSTATE, detail, hint, position), a
// cancelled context cancels the running statement on the server, Tx.Load
// uses COPY FROM, and DependentViews lets the build logic recreate views that
// would otherwise be lost when a relation they read is replaced.
package postgres
