// Package builtin is kiln's own library of built-in macros: the cross-database
// helpers dbt projects call as dbt.<name>(...) (date_trunc, dateadd, datediff,
// type_string, listagg, split_part, ...) and the generate_*_name macros that
// decide where models are built.
//
// The macros are plain Jinja in the embedded .sql files. Each public macro
// dispatches through adapter.dispatch(name, 'dbt') to default__<name>, or a
// postgres__/duckdb__ variant where the dialects differ, so a project can
// override any of them by defining its own default__<name> or
// <dialect>__<name>. Every macro produces SQL valid for both Postgres 15 and
// DuckDB.
//
// Pass Files to jinja.NewEnv as its builtinFiles.
package builtin
