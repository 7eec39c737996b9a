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
//
// Incremental builds the table in full the first time (with the swap) and
// afterwards stages the model's rows in <name>__kiln_tmp, then, in one
// transaction, widens or adds columns as on_schema_change says and applies
// the rows with the append, delete+insert or merge strategy.
//
// Snapshot keeps SCD type 2 history: the first run creates the table with
// dbt's dbt_scd_id/dbt_updated_at/dbt_valid_from/dbt_valid_to columns; later
// runs stage inserts, updates and deletes and apply them in one transaction.
//
// Hooks given with WithHooks run inside each builder's transaction.
package materialize
