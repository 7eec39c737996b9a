// Package project loads a dbt-compatible project from disk: the project file
// (dbt_project.yml or kiln_project.yml), profiles.yml, schema YAML, and the
// model, seed, macro, test and analysis files, each with its position so
// later stages can report errors at file:line.
package project
