// Package materialize builds relations in any adapters.Warehouse: tables and
// views built aside and swapped in atomically, seeds parsed from CSV and bulk
// loaded, and schema helpers.
//
// Every builder returns an Applied: the statements it ran, in order, so the
// caller can write them to target/run/, and what the main statement
// reported. BEGIN and COMMIT appear in the list as "begin" and "commit";
// Tx.Load appears as a comment naming the table and row count.
//
// A swap follows dbt-postgres with kiln's names: drop leftover
// <name>__kiln_tmp and <name>__kiln_backup; create the schema if missing;
// begin; build <name>__kiln_tmp; rename the live relation (table or view) to
// <name>__kiln_backup; rename the tmp one to <name>; commit; drop the backup.
// On warehouses implementing adapters.ViewDependents (Postgres) the views
// that read the live relation are captured before the rename and, inside the
// same transaction, the backup is dropped with cascade and those views are
// created again so they read the new relation. Their grants, comments and
// owners are not carried over.
package materialize
