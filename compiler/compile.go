package compiler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/jinja"
	"github.com/kilnhq/kiln/internal/pool"
)

// Compile fills Compiled for the given models and analyses (and the
// ephemeral models they inline). Templates that need execute-time
// information are rendered again with adapter (which may be nil).
func (c *Compiler) Compile(ctx context.Context, ids []string, adapter jinja.Adapter) error {
	todo := map[string]*Node{}
	var add func(id string)
	add = func(id string) {
		n := c.Nodes[id]
		if n == nil || todo[id] != nil || !n.isSQL() {
			return
		}
		todo[id] = n
		for _, d := range n.DependsOn {
			if dn := c.Nodes[d]; dn != nil && dn.Materialized() == "ephemeral" {
				add(d)
			}
		}
	}
	for _, id := range ids {
		add(id)
	}
	list := make([]*Node, 0, len(todo))
	for _, n := range todo {
		list = append(list, n)
	}
	errs := make([]error, len(list))
	pool.Each(ctx, len(list), 0, func(i int) { errs[i] = c.compileBody(ctx, list[i], adapter) })
	if err := ctx.Err(); err != nil {
		return err
	}
	var all diag.List
	for _, e := range errs {
		all.Add(e)
	}
	if err := all.Err(); err != nil {
		return err
	}
	for _, n := range list {
		c.inlineEphemerals(n)
	}
	return nil
}

// FullSQL renders an incremental model as for a full rebuild
// (is_incremental() false), with its ephemerals inlined. The builder uses it
// when on_schema_change asks for a full refresh.
func (c *Compiler) FullSQL(ctx context.Context, n *Node, adapter jinja.Adapter) (string, error) {
	tpl, err := c.Env.Parse(n.OriginalFilePath, n.templateSource())
	if err != nil {
		return "", err
	}
	b := &contextBuilder{c: c, node: n, execute: true, ctx: ctx, adapter: adapter, full: true}
	res, err := c.Env.Render(tpl, &jinja.Context{Ctx: ctx, Globals: b.globals(), Dialect: c.opts.Target.Profile.Type, Adapter: adapter, Execute: true, Log: c.opts.Log})
	if err != nil {
		return "", err
	}
	return c.withEphemerals(n, res.Output), nil
}

// NeedsExecute reports whether id's SQL depends on execute-time information
// (run_query, introspection, the execute flag), itself or through an
// ephemeral model it inlines. Such nodes are compiled right before they run,
// once their parents exist, as dbt does.
func (c *Compiler) NeedsExecute(id string) bool {
	n := c.Nodes[id]
	if n == nil || !n.isSQL() {
		return false
	}
	if n.parsed.used {
		return true
	}
	for _, e := range c.ephemeralClosure(n) {
		if e.parsed.used {
			return true
		}
	}
	return false
}

// CompileNow compiles one node while a run is in progress. Calls are
// serialised because they share the ephemeral models they inline.
func (c *Compiler) CompileNow(ctx context.Context, id string, adapter jinja.Adapter) error {
	c.lazy.Lock()
	defer c.lazy.Unlock()
	return c.Compile(ctx, []string{id}, adapter)
}

// compileBody computes n's SQL without inlined ephemerals.
func (c *Compiler) compileBody(ctx context.Context, n *Node, adapter jinja.Adapter) error {
	n.bodyOnly = ""
	if !n.parsed.used && !n.lateRender {
		names := make([]string, len(n.parsed.calls))
		for i, cl := range n.parsed.calls {
			switch cl.kind {
			case callRef:
				t, err := c.resolveRef(n, cl.pkg, cl.name)
				if err != nil {
					return err
				}
				names[i] = c.relationFor(t).String()
			case callSource:
				t, err := c.resolveSource(n, cl.name, cl.tbl)
				if err != nil {
					return err
				}
				names[i] = t.RelationName()
			case callThis:
				names[i] = n.RelationName()
			}
		}
		n.Compiled = substitute(n.parsed.output, names)
		return nil
	}
	tpl := n.tpl
	if tpl == nil {
		var err error
		if tpl, err = c.Env.Parse(n.OriginalFilePath, n.templateSource()); err != nil {
			return err
		}
	}
	b := &contextBuilder{c: c, node: n, execute: true, ctx: ctx, adapter: adapter}
	res, err := c.Env.Render(tpl, &jinja.Context{
		Ctx: ctx, Globals: b.globals(), Dialect: c.opts.Target.Profile.Type,
		Adapter: adapter, Execute: true, Log: c.opts.Log,
	})
	if err != nil {
		if n.Test != nil && n.Test.Generic {
			return diag.At(n.Test.Pos, "test %s: %s", n.Name, stripPos(err))
		}
		return err
	}
	n.Compiled = res.Output
	return nil
}

// ephemeralClosure lists the ephemeral ancestors n inlines, parents first.
func (c *Compiler) ephemeralClosure(n *Node) []*Node {
	var out []*Node
	seen := map[string]bool{}
	var visit func(x *Node)
	visit = func(x *Node) {
		for _, d := range x.DependsOn {
			dn := c.Nodes[d]
			if dn == nil || dn.Materialized() != "ephemeral" || seen[d] {
				continue
			}
			seen[d] = true
			visit(dn)
			out = append(out, dn)
		}
	}
	visit(n)
	return out
}

var leadingWith = regexp.MustCompile(`(?is)^(\s*(?:(?:--[^\n]*\n)|(?:/\*.*?\*/)|\s)*)with\b`)

func (c *Compiler) inlineEphemerals(n *Node) {
	if len(c.ephemeralClosure(n)) == 0 {
		return
	}
	body := n.Compiled
	n.Compiled = c.withEphemerals(n, body)
	n.bodyOnly = body
	n.Ephemerals = n.Ephemerals[:0]
	for _, e := range c.ephemeralClosure(n) {
		n.Ephemerals = append(n.Ephemerals, e.UniqueID)
	}
}

// withEphemerals prepends n's ephemeral ancestors to body as CTEs.
func (c *Compiler) withEphemerals(n *Node, body string) string {
	eph := c.ephemeralClosure(n)
	if len(eph) == 0 {
		return body
	}
	var ctes []string
	for _, e := range eph {
		ctes = append(ctes, fmt.Sprintf("%s as (\n%s\n)", cteName(e), strings.TrimSpace(e.bodySQL())))
	}
	block := strings.Join(ctes, ", ")
	if loc := leadingWith.FindStringSubmatchIndex(body); loc != nil {
		return body[:loc[1]] + " " + block + "," + body[loc[1]:]
	}
	return "with " + block + "\n" + body
}

// bodySQL is the node's compiled SQL without inlined CTEs.
func (n *Node) bodySQL() string {
	if n.bodyOnly != "" {
		return n.bodyOnly
	}
	return n.Compiled
}

// WriteCompiled writes target/compiled/<project>/<path> for each node.
// Folders are written in parallel, each folder's files by one goroutine
// (creating files in one directory concurrently contends on its lock). The
// error reported is that of the first failing node in ids order, and no
// new folder is started once a file has failed.
func (c *Compiler) WriteCompiled(ids []string) error {
	errs := make([]error, len(ids))
	var groups [][]int
	byDir := map[string]int{}
	for i, id := range ids {
		n := c.Nodes[id]
		if n == nil || n.Compiled == "" {
			continue
		}
		dir := filepath.Dir(n.targetFile())
		g, ok := byDir[dir]
		if !ok {
			g = len(groups)
			byDir[dir] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	var failed atomic.Bool
	pool.Each(context.Background(), len(groups), 0, func(g int) {
		for j, i := range groups[g] {
			if failed.Load() {
				return
			}
			n := c.Nodes[ids[i]]
			if errs[i] = c.writeTargetIn(j == 0, "compiled", n, n.Compiled); errs[i] != nil {
				failed.Store(true)
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// CompiledPath is where n's compiled SQL is written.
func (c *Compiler) CompiledPath(n *Node) string {
	return filepath.Join(c.Project.TargetPath, "compiled", c.Project.Name, filepath.FromSlash(n.targetFile()))
}

// WriteRun writes the SQL executed for n under target/run.
func (c *Compiler) WriteRun(n *Node, sql string) error { return c.writeTarget("run", n, sql) }

func (c *Compiler) writeTarget(kind string, n *Node, sql string) error {
	return c.writeTargetIn(true, kind, n, sql)
}

// writeTargetIn is writeTarget; mkdir false skips creating the directory
// (already done for an earlier file of the same folder).
func (c *Compiler) writeTargetIn(mkdir bool, kind string, n *Node, sql string) error {
	path := filepath.Join(c.Project.Root, c.Project.TargetPath, kind, c.Project.Name, filepath.FromSlash(n.targetFile()))
	if mkdir {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("writing %s SQL of %s: %w", kind, n.Name, err)
		}
	}
	if !strings.HasSuffix(sql, "\n") {
		sql += "\n"
	}
	// Rewriting an identical file costs a create on slow disks and touches
	// its mtime for watchers; skip it.
	if old, err := os.ReadFile(path); err == nil && string(old) == sql {
		return nil
	}
	if err := os.WriteFile(path, []byte(sql), 0o644); err != nil {
		return fmt.Errorf("writing %s SQL of %s: %w", kind, n.Name, err)
	}
	return nil
}

// targetFile is where n's SQL goes under target/compiled and target/run:
// its own path, or for generic tests <schema file>/<test name>.sql as dbt
// writes them.
func (n *Node) targetFile() string {
	if n.Test != nil && n.Test.Generic {
		return n.OriginalFilePath + "/" + n.Test.CompiledName + ".sql"
	}
	return n.OriginalFilePath
}
