package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/materialize"
	"github.com/kilnhq/kiln/compiler"
	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/manifest"
	"github.com/kilnhq/kiln/compiler/project"
	"github.com/kilnhq/kiln/compiler/sqlparse"
	"github.com/kilnhq/kiln/dag/run"
	"github.com/kilnhq/kiln/internal/pool"
)

// Version is kiln's version string.
const Version = "0.1.0"

func (s *session) meta() manifest.Meta {
	return manifest.Meta{InvocationID: s.id, GeneratedAt: time.Now().UTC(), Target: s.target.Name, AdapterType: s.target.Profile.Type, Version: Version}
}

func (a *app) parse() error {
	s, err := a.load("parse")
	if err != nil {
		return err
	}
	if err := manifest.Write(s.targetDir(), s.compiler, s.meta()); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Parsed %d nodes; wrote %s\n", len(s.compiler.Nodes), filepath.Join(s.project.TargetPath, "manifest.json"))
	return nil
}

// compileSelected compiles ids (models and analyses), validates their SQL
// and writes target/compiled and target/manifest.json. wh may be nil. With
// deferExec, nodes that need execute-time information are left for the
// builder to compile right before they run. The syntax check, the compiled
// files and the manifest are independent, so they run concurrently.
func (a *app) compileSelected(s *session, ids []string, wh adapters.Warehouse, deferExec bool) error {
	if deferExec {
		now := make([]string, 0, len(ids))
		for _, id := range ids {
			if !s.compiler.NeedsExecute(id) {
				now = append(now, id)
			}
		}
		ids = now
	}
	var err error
	if wh != nil {
		err = s.compiler.Compile(a.ctx, ids, run.Introspector{W: wh})
	} else {
		err = s.compiler.Compile(a.ctx, ids, nil)
	}
	if err != nil {
		return invalid(err)
	}
	var wg sync.WaitGroup
	var writeErr, manifestErr error
	wg.Add(2)
	go func() { defer wg.Done(); writeErr = s.compiler.WriteCompiled(ids) }()
	go func() { defer wg.Done(); manifestErr = manifest.Write(s.targetDir(), s.compiler, s.meta()) }()
	var errs diag.List
	for _, ce := range checkSQL(s, ids) {
		msg := fmt.Sprintf("SQL syntax error: %s (line %d of compiled SQL %s)", ce.err.Msg, ce.err.Line, s.compiler.CompiledPath(ce.node))
		if s.target.Profile.Type == "postgres" {
			errs.Add(&diag.Diagnostic{Pos: diag.Pos{File: ce.node.OriginalFilePath}, Msg: msg})
		} else if a.f.logFormat == "text" {
			fmt.Fprintf(a.stderr, "warning: %s: %s (DuckDB may still accept it)\n", ce.node.OriginalFilePath, msg)
		}
	}
	wg.Wait()
	if writeErr != nil {
		return writeErr
	}
	if manifestErr != nil {
		return manifestErr
	}
	if err := errs.Err(); err != nil {
		return invalid(err)
	}
	return nil
}

func (a *app) compile() error {
	s, err := a.load("compile")
	if err != nil {
		return err
	}
	ids, err := s.selectNodes(a, compiler.Model, compiler.Analysis)
	if err != nil {
		return err
	}
	var wh adapters.Warehouse
	for _, id := range ids {
		if s.compiler.NeedsExecute(id) {
			// run_query and introspection need the warehouse, as in dbt.
			if wh, err = s.open(a.ctx); err != nil {
				return err
			}
			defer wh.Close()
			break
		}
	}
	if err := a.compileSelected(s, ids, wh, false); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Compiled %d nodes to %s\n", len(ids), filepath.Join(s.project.TargetPath, "compiled"))
	return nil
}

// execute runs `run`, `seed` or `build`.
func (a *app) execute(command string) error {
	s, err := a.load(command)
	if err != nil {
		return err
	}
	var types []compiler.ResourceType
	graph := s.graph
	switch command {
	case "run":
		types = []compiler.ResourceType{compiler.Model}
	case "seed":
		types = []compiler.ResourceType{compiler.Seed}
	case "test":
		types = []compiler.ResourceType{compiler.Test}
	case "snapshot":
		types = []compiler.ResourceType{compiler.Snapshot}
	case "ingest":
		types = []compiler.ResourceType{compiler.Source}
	default:
		types = []compiler.ResourceType{compiler.Source, compiler.Model, compiler.Seed, compiler.Snapshot, compiler.Test}
		if g, err := s.gatedGraph(); err == nil {
			graph = g
		}
	}
	ids, err := s.selectNodes(a, types...)
	if err != nil {
		return err
	}
	ids = loadable(s, ids)
	ingester := a.ingester(s)
	if err := ingester.Validate(nodesOf(s, ids)); err != nil {
		return invalid(err)
	}
	defer ingester.Close()
	// Read every seed before touching the warehouse: a malformed CSV is a
	// project error and nothing is written.
	seeds := map[string]*materialize.SeedData{}
	var errs diag.List
	for _, id := range ids {
		n := s.compiler.Node(id)
		if n.Type != compiler.Seed {
			continue
		}
		data, err := materialize.ReadCSV(s.project.Abs(n.OriginalFilePath), columnTypes(n))
		if err != nil {
			var ce *materialize.CSVError
			if errors.As(err, &ce) {
				errs.Addf(diag.Pos{File: n.OriginalFilePath, Line: ce.Line}, "malformed seed CSV: %s", ce.Msg)
				continue
			}
			errs.Add(err)
			continue
		}
		seeds[id] = data
	}
	if err := errs.Err(); err != nil {
		return invalid(err)
	}
	wh, err := s.open(a.ctx)
	if err != nil {
		return err
	}
	defer wh.Close()
	unlock, err := a.lockTarget(s, wh)
	if err != nil {
		return err
	}
	defer unlock()
	if err := a.compileSelected(s, ids, wh, true); err != nil {
		return err
	}
	if err := s.compiler.CheckTestColumns(ids); err != nil {
		return invalid(err)
	}
	b := &run.Builder{Compiler: s.compiler, Warehouse: wh, FullRefresh: a.f.fullRefresh, Seeds: seeds, CheckSQL: s.target.Profile.Type == "postgres", Ingest: ingester}
	out := a.newPrinter(s)
	b.Progress = out.progress
	if err := a.runHooks(s, wh, false, nil); err != nil {
		return &exitError{code: ExitFailed, err: err}
	}
	out.header(len(ids))
	t0 := time.Now()
	results := run.Schedule(a.ctx, graph, ids, s.target.Profile.Threads, b.Exec, out.event)
	elapsed := time.Since(t0)
	failed := out.summary(results, elapsed)
	if a.ctx.Err() == nil {
		if err := a.runHooks(s, wh, true, results); err != nil {
			return &exitError{code: ExitFailed, err: err}
		}
	}
	if err := a.writeResults(s, command, results, elapsed); err != nil {
		return err
	}
	if a.ctx.Err() != nil {
		return &exitError{code: ExitCancel, err: errors.New("interrupted: run cancelled")}
	}
	if failed {
		return &exitError{code: ExitFailed}
	}
	return nil
}

func columnTypes(n *compiler.Node) map[string]string {
	m, ok := n.Config.Values["column_types"].(map[string]any)
	if !ok {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func (a *app) writeResults(s *session, command string, results map[string]run.Outcome, elapsed time.Duration) error {
	var rs []manifest.Result
	for id, o := range results {
		n := s.compiler.Node(id)
		r := manifest.Result{
			UniqueID: id, Status: string(o.Status), Started: o.Started, Completed: o.Started.Add(o.Elapsed),
			ExecutionTime: o.Elapsed.Seconds(), Message: o.Message, RowsAffected: o.RowsAffected, Code: o.Code,
			CompiledCode: n.Compiled,
		}
		if n.Type == compiler.Test && (o.Status == run.StatusPass || o.Status == run.StatusWarn || o.Status == run.StatusFail) {
			f := o.Failures
			r.Failures = &f
		}
		if n.Type != compiler.Source {
			r.RelationName = n.RelationName()
		}
		rs = append(rs, r)
	}
	args := map[string]any{"which": command, "select": a.f.selects, "exclude": a.f.excludes, "full_refresh": a.f.fullRefresh, "target": s.target.Name}
	return manifest.WriteRunResults(s.targetDir(), s.meta(), elapsed, args, rs)
}

func (a *app) ls() error {
	s, err := a.load("ls")
	if err != nil {
		return err
	}
	ids, err := s.selectNodes(a)
	if err != nil {
		return err
	}
	for _, id := range ids {
		n := s.compiler.Node(id)
		if a.f.resourceType != "" && string(n.Type) != a.f.resourceType {
			continue
		}
		switch a.f.output {
		case "name":
			fmt.Fprintln(a.stdout, n.Name)
		case "path":
			fmt.Fprintln(a.stdout, n.OriginalFilePath)
		case "json":
			b, _ := json.Marshal(map[string]any{"unique_id": id, "name": n.Name, "resource_type": n.Type, "original_file_path": n.OriginalFilePath, "materialized": n.Materialized(), "depends_on": n.DependsOn, "tags": n.Config.Tags()})
			fmt.Fprintln(a.stdout, string(b))
		default:
			if n.Type == compiler.Source {
				fmt.Fprintf(a.stdout, "source:%s\n", strings.Join(n.FQN, "."))
			} else {
				fmt.Fprintln(a.stdout, strings.Join(n.FQN, "."))
			}
		}
	}
	return nil
}

func (a *app) show() error {
	s, err := a.load("show")
	if err != nil {
		return err
	}
	var sql, title string
	if a.f.inline != "" {
		sql, title = a.f.inline, "inline query"
	}
	wh, err := s.open(a.ctx)
	if err != nil {
		return err
	}
	defer wh.Close()
	if sql == "" {
		ids, err := s.selectNodes(a, compiler.Model, compiler.Seed, compiler.Analysis, compiler.Source, compiler.Test)
		if err != nil {
			return err
		}
		if len(ids) > 1 {
			// Selecting a model also selects its tests: show the model.
			var own []string
			for _, id := range ids {
				if s.compiler.Node(id).Type != compiler.Test {
					own = append(own, id)
				}
			}
			if len(own) > 0 {
				ids = own
			}
		}
		if len(ids) != 1 {
			return invalid(fmt.Errorf("kiln show needs --select naming exactly one node (or --inline SQL); %d selected", len(ids)))
		}
		n := s.compiler.Node(ids[0])
		title = n.Name
		switch n.Type {
		case compiler.Seed, compiler.Source:
			sql = "select * from " + n.RelationName()
		default:
			if err := a.compileSelected(s, ids, wh, false); err != nil {
				return err
			}
			sql = n.Compiled
		}
	}
	rows, err := wh.Query(a.ctx, fmt.Sprintf("select * from (\n%s\n) as kiln_show limit %d", strings.TrimRight(strings.TrimSpace(sql), ";"), a.f.limit))
	if err != nil {
		return &exitError{code: ExitFailed, err: fmt.Errorf("previewing %s: %w", title, err)}
	}
	defer rows.Close()
	return printTable(a.stdout, title, rows)
}

func (a *app) clean() error {
	vars, err := a.parseVars()
	if err != nil {
		return err
	}
	sr := &compiler.StringRenderer{Env: a.env, Vars: vars}
	p, err := project.Load(a.f.projectDir, project.LoadOptions{Render: sr.Render, Vars: vars})
	if err != nil {
		return invalid(err)
	}
	for _, t := range p.CleanTargets {
		abs := filepath.Clean(filepath.Join(p.Root, t))
		rel, err := filepath.Rel(p.Root, abs)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			return invalid(fmt.Errorf("clean-targets entry %q is outside the project directory; refusing to delete it", t))
		}
		if err := os.RemoveAll(abs); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Cleaned %s\n", t)
	}
	return nil
}

type sqlCheckError struct {
	node *compiler.Node
	err  *sqlparse.SyntaxError
}

// checkSQL parses every compiled model with the Postgres grammar, in
// parallel, and returns the failures in ids order.
func checkSQL(s *session, ids []string) []sqlCheckError {
	found := make([]*sqlparse.SyntaxError, len(ids))
	pool.Each(context.Background(), len(ids), 0, func(i int) {
		n := s.compiler.Node(ids[i])
		if n.Compiled == "" || n.Type != compiler.Model {
			return
		}
		var se *sqlparse.SyntaxError
		if errors.As(sqlparse.Check(n.Compiled), &se) {
			found[i] = se
		}
	})
	var out []sqlCheckError
	for i, se := range found {
		if se != nil {
			out = append(out, sqlCheckError{node: s.compiler.Node(ids[i]), err: se})
		}
	}
	return out
}

// runHooks runs the project's on-run-start (end false) or on-run-end hooks.
// on-run-end templates see `results` (status and node of each result) and
// `schemas` (the schemas the run built into), as in dbt.
func (a *app) runHooks(s *session, wh adapters.Warehouse, end bool, results map[string]run.Outcome) error {
	var extra map[string]any
	if end {
		var rs []any
		schemas := map[string]bool{}
		for _, id := range s.compiler.SortedIDs() {
			o, ok := results[id]
			if !ok {
				continue
			}
			n := s.compiler.Node(id)
			rs = append(rs, map[string]any{"status": string(o.Status), "message": o.Message, "failures": o.Failures,
				"execution_time": o.Elapsed.Seconds(), "node": map[string]any{"unique_id": id, "name": n.Name, "resource_type": string(n.Type), "schema": n.Schema}})
			if n.Type != compiler.Test && n.Schema != "" {
				schemas[n.Schema] = true
			}
		}
		var list []any
		for _, sc := range project.SortedKeys(schemas) {
			list = append(list, sc)
		}
		extra = map[string]any{"results": rs, "schemas": list, "database_schemas": list}
	}
	stmts, err := s.compiler.RunHooks(a.ctx, end, run.Introspector{W: wh}, extra)
	if err != nil {
		return err
	}
	name := "on-run-start"
	if end {
		name = "on-run-end"
	}
	for i, sql := range stmts {
		if _, err := wh.Exec(a.ctx, sql); err != nil {
			return fmt.Errorf("%s hook %d failed: %w", name, i+1, err)
		}
	}
	return nil
}
