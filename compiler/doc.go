// Package compiler turns a loaded project into compiled nodes: it renders
// every model with the dbt context, resolves ref() and source() into a graph,
// inlines ephemeral models and writes target/compiled.
//
// Rendering happens once per file at parse time with placeholders for
// relation names; the placeholders are replaced once every node's schema and
// alias are known. Only templates that touch execute-time features
// (introspection, run_query, the execute flag) are rendered a second time.
package compiler
