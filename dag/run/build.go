package run

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/materialize"
	"github.com/kilnhq/kiln/compiler"
	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/sqlparse"
)

// Builder runs compiled nodes against a warehouse.
type Builder struct {
	Compiler    *compiler.Compiler
	Warehouse   adapters.Warehouse
	FullRefresh bool
	// Seeds holds seed files read and validated before the run.
	Seeds map[string]*materialize.SeedData
	// CheckSQL parses SQL compiled during the run with the Postgres grammar
	// before sending it (Postgres targets).
	CheckSQL bool
	// Ingest loads source tables that declare `ingest:` (nil: none do).
	Ingest *Ingester
	// Progress, when set, hears how far each running load is: rows and
	// bytes read so far, at most every ProgressEvery per load. It may be
	// called from several goroutines at once.
	Progress func(id string, rows, bytes int64)
}

// compileLate compiles a node whose SQL depends on execute-time information,
// now that its parents exist.
func (b *Builder) compileLate(ctx context.Context, n *compiler.Node) error {
	if err := b.Compiler.CompileNow(ctx, n.UniqueID, Introspector{W: b.Warehouse}); err != nil {
		return err
	}
	if err := b.Compiler.WriteCompiled([]string{n.UniqueID}); err != nil {
		return err
	}
	if b.CheckSQL {
		var se *sqlparse.SyntaxError
		if errors.As(sqlparse.Check(n.Compiled), &se) {
			return diag.At(diag.Pos{File: n.OriginalFilePath}, "SQL syntax error: %s (line %d of compiled SQL %s)", se.Msg, se.Line, b.Compiler.CompiledPath(n))
		}
	}
	return nil
}

// Exec builds one node; it is an ExecFunc.
func (b *Builder) Exec(ctx context.Context, id string) Outcome {
	n := b.Compiler.Node(id)
	rel := adapters.Relation{Database: n.Database, Schema: n.Schema, Identifier: n.Alias}
	var applied materialize.Applied
	var err error
	if (n.Type == compiler.Model || n.Type == compiler.Test || n.Type == compiler.Snapshot) && n.Materialized() != "ephemeral" && b.Compiler.NeedsExecute(id) {
		if err := b.compileLate(ctx, n); err != nil {
			return Outcome{Status: StatusError, Err: err, Message: err.Error()}
		}
	}
	if n.Type == compiler.Test {
		return b.runTest(ctx, n)
	}
	if n.Type == compiler.Source {
		if spec := n.Ingest(); spec != nil {
			return b.load(ctx, n, spec)
		}
		return Outcome{Status: StatusSuccess, Message: "SOURCE"}
	}
	if n.Materialized() == "ephemeral" {
		return Outcome{Status: StatusSuccess, Message: "EPHEMERAL"}
	}
	hooked, after, err := b.hooks(ctx, n, rel)
	if err != nil {
		return Outcome{Status: StatusError, Err: b.explain(n, err), Message: b.explain(n, err).Error()}
	}
	applied, err = b.materialize(hooked, n, rel)
	if err == nil {
		err = after(ctx)
	}
	if len(applied.SQL) > 0 && n.Type != compiler.Seed {
		if werr := b.Compiler.WriteRun(n, strings.Join(applied.SQL, ";\n\n")+";"); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return Outcome{Status: StatusError, Err: b.explain(n, err), Message: b.explain(n, err).Error()}
	}
	res := applied.Result
	msg := res.Code
	if res.Code != "CREATE VIEW" {
		msg = fmt.Sprintf("%s %d", res.Code, res.RowsAffected)
	}
	return Outcome{Status: StatusSuccess, Message: msg, RowsAffected: res.RowsAffected, Code: res.Code}
}

// materialize builds n with its materialization.
func (b *Builder) materialize(ctx context.Context, n *compiler.Node, rel adapters.Relation) (materialize.Applied, error) {
	var applied materialize.Applied
	var err error
	switch n.Materialized() {
	case "seed":
		data := b.Seeds[n.UniqueID]
		if data == nil {
			return applied, fmt.Errorf("seed %s was not read", n.Name)
		}
		applied, err = materialize.Seed(ctx, b.Warehouse, rel, data, b.Compiler.FullRefresh(n))
	case "view":
		applied, err = materialize.View(ctx, b.Warehouse, rel, n.Compiled)
	case "table":
		applied, err = materialize.Table(ctx, b.Warehouse, rel, n.Compiled)
	case "incremental":
		opts := incrementalOptions(n, b.Compiler.FullRefresh(n))
		opts.FullSQL = func(ctx context.Context) (string, error) {
			return b.Compiler.FullSQL(ctx, n, Introspector{W: b.Warehouse})
		}
		applied, err = materialize.Incremental(ctx, b.Warehouse, rel, n.Compiled, opts)
	case "snapshot":
		applied, err = materialize.Snapshot(ctx, b.Warehouse, rel, n.Compiled, snapshotOptions(n))
	default:
		err = fmt.Errorf("unknown materialization %q", n.Materialized())
	}
	return applied, err
}

// explain turns a warehouse error into one that names the node's file and,
// when known, the line of the compiled SQL.
func (b *Builder) explain(n *compiler.Node, err error) error {
	var we *adapters.Error
	if !errors.As(err, &we) {
		return diag.At(diag.Pos{File: n.OriginalFilePath}, "%v", err)
	}
	pos := diag.Pos{File: n.OriginalFilePath}
	msg := we.Error()
	if line := compiledLine(n.Compiled, we); line > 0 {
		msg += fmt.Sprintf("\n  at line %d of compiled SQL %s", line, b.Compiler.CompiledPath(n))
	} else if n.Compiled != "" {
		msg += fmt.Sprintf("\n  compiled SQL: %s", b.Compiler.CompiledPath(n))
	}
	return &diag.Diagnostic{Pos: pos, Msg: msg}
}

// compiledLine maps the error position in the executed statement to a line
// of the compiled SQL, which the statement embeds.
func compiledLine(compiled string, we *adapters.Error) int {
	if we.Position <= 0 || we.SQL == "" || compiled == "" {
		return 0
	}
	body := strings.TrimSpace(compiled)
	start := strings.Index(we.SQL, body)
	if start < 0 {
		return 0
	}
	r := []rune(we.SQL)
	if we.Position > len(r) {
		return 0
	}
	off := len(string(r[:we.Position-1]))
	if off < start || off > start+len(body) {
		return 0
	}
	lead := len(compiled) - len(strings.TrimLeft(compiled, " \t\r\n"))
	line, _ := diag.LineCol(compiled, lead+off-start)
	return line
}
