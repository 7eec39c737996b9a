// Package template holds the project `kiln init` scaffolds. It is also the
// README's quick-start project and builds green on the embedded DuckDB
// default.
package template

import "embed"

// FS is the template project's files.
//
//go:embed dbt_project.yml models seeds macros tests raw
var FS embed.FS
