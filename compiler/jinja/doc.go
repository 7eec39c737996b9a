// Package jinja renders dbt-flavoured Jinja with gonja/v2: macros from macro
// paths callable from any template and from each other (with dbt's
// `return()`), `{% call %}` blocks, adapter.dispatch, the `dbt` macro
// namespace and kiln's built-in cross-database macros. The compiler supplies
// the per-node context (ref, source, config, this, ...) through Context.
package jinja
