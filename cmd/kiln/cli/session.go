package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/postgres"
	"github.com/kilnhq/kiln/compiler"
	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/jinja/builtin"
	"github.com/kilnhq/kiln/compiler/project"
	"github.com/kilnhq/kiln/dag"
	"github.com/kilnhq/kiln/dag/selector"
)

// session is a loaded, parsed project with its graph.
type session struct {
	project  *project.Project
	target   *project.Target
	compiler *compiler.Compiler
	graph    *dag.Graph
	started  time.Time
	id       string
	lock     *lockPlan // how this command shares the target; see lock.go
}

func invocationID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// load reads, parses and graphs the project. Every error here is a project
// or invocation error (exit 2).
func (a *app) load(command string) (*session, error) {
	vars, err := a.parseVars()
	if err != nil {
		return nil, err
	}
	sr := &compiler.StringRenderer{Env: a.env, Vars: vars}
	p, err := project.Load(a.f.projectDir, project.LoadOptions{Render: sr.Render, Vars: vars})
	if err != nil {
		return nil, invalid(err)
	}
	sr.Vars = p.Vars
	home, _ := os.UserHomeDir()
	t, err := project.ResolveTarget(p, project.ProfileOptions{ProfilesDir: a.f.profilesDir, Target: a.f.target, Home: home, Render: sr.Render})
	if err != nil {
		return nil, invalid(err)
	}
	if a.f.threads > 0 {
		t.Profile.Threads = a.f.threads
	}
	files, err := builtin.Files()
	if err != nil {
		return nil, err
	}
	s := &session{project: p, target: t, started: time.Now().UTC(), id: invocationID()}
	s.lock = a.lockPlan(command)
	c, err := compiler.Parse(a.ctx, p, compiler.Options{
		Target: t, Env: a.env, Builtins: files, FullRefresh: a.f.fullRefresh,
		Command: command, InvocationID: s.id, StartedAt: s.started,
		Log: func(msg string) { a.logLine(msg) },
	})
	if err != nil {
		return nil, invalid(err)
	}
	s.compiler = c
	parents := map[string][]string{}
	for _, id := range c.SortedIDs() {
		parents[id] = c.Node(id).DependsOn
	}
	g, err := dag.New(parents)
	if err != nil {
		var ce *dag.CycleError
		if errors.As(err, &ce) {
			return nil, invalid(cycleError(c, ce))
		}
		return nil, invalid(err)
	}
	s.graph = g
	return s, nil
}

func cycleError(c *compiler.Compiler, ce *dag.CycleError) error {
	msg := "models depend on each other in a cycle:"
	for _, id := range ce.Nodes {
		n := c.Node(id)
		msg += fmt.Sprintf("\n  %s (%s)", n.Name, n.OriginalFilePath)
	}
	first := c.Node(ce.Nodes[0])
	return &diag.Diagnostic{Pos: diag.Pos{File: first.OriginalFilePath, Line: 1}, Msg: msg, Hint: "remove one of these ref() calls to break the cycle"}
}

// selectNodes applies --select/--exclude and keeps the given resource types.
func (s *session) selectNodes(a *app, types ...compiler.ResourceType) ([]string, error) {
	var nodes []selector.Node
	for _, id := range s.compiler.SortedIDs() {
		n := s.compiler.Node(id)
		nodes = append(nodes, selector.Node{ID: id, Name: n.Name, Type: string(n.Type), Path: n.OriginalFilePath, FQN: n.FQN, Tags: n.Config.Tags(), SourceName: n.SourceName})
	}
	ids, err := selector.Select(s.graph, nodes, a.f.selects, a.f.excludes)
	if err != nil {
		return nil, invalid(err)
	}
	ids = s.withTests(ids, a.f.excludes)
	keep := map[compiler.ResourceType]bool{}
	for _, t := range types {
		keep[t] = true
	}
	out := ids[:0]
	for _, id := range ids {
		n := s.compiler.Node(id)
		if len(types) > 0 && !keep[n.Type] {
			continue
		}
		if n.Materialized() == "ephemeral" && len(types) > 0 && !keep[compiler.Analysis] {
			continue // ephemerals are inlined, not run
		}
		out = append(out, id)
	}
	return out, nil
}

// withTests adds, as dbt's eager indirect selection does, every test that
// depends on a selected node, unless an --exclude names it.
func (s *session) withTests(ids, excludes []string) []string {
	if len(ids) == len(s.compiler.Nodes) {
		return ids
	}
	selected := map[string]bool{}
	for _, id := range ids {
		selected[id] = true
	}
	excluded := map[string]bool{}
	if len(excludes) > 0 {
		var nodes []selector.Node
		for _, id := range s.compiler.SortedIDs() {
			n := s.compiler.Node(id)
			nodes = append(nodes, selector.Node{ID: id, Name: n.Name, Type: string(n.Type), Path: n.OriginalFilePath, FQN: n.FQN, Tags: n.Config.Tags(), SourceName: n.SourceName})
		}
		ex, _ := selector.Select(s.graph, nodes, excludes, nil)
		for _, id := range ex {
			excluded[id] = true
		}
	}
	for _, id := range s.compiler.SortedIDs() {
		n := s.compiler.Node(id)
		if n.Type != compiler.Test || selected[id] || excluded[id] {
			continue
		}
		for _, p := range n.DependsOn {
			if selected[p] {
				ids = append(ids, id)
				selected[id] = true
				break
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// gatedGraph is the graph `kiln build` runs: each test of a node also
// becomes a parent of that node's children, so a failing test stops them.
func (s *session) gatedGraph() (*dag.Graph, error) {
	parents := map[string][]string{}
	for _, id := range s.compiler.SortedIDs() {
		parents[id] = append([]string{}, s.compiler.Node(id).DependsOn...)
	}
	for _, id := range s.compiler.SortedIDs() {
		n := s.compiler.Node(id)
		if n.Type != compiler.Test || n.Test.AttachedNode == "" {
			continue
		}
		ancestors := map[string]bool{}
		for _, a := range s.graph.Ancestors(id, -1) {
			ancestors[a] = true
		}
		for _, child := range s.graph.Children(n.Test.AttachedNode) {
			if child == id || ancestors[child] || s.compiler.Node(child).Type == compiler.Test {
				continue
			}
			parents[child] = append(parents[child], id)
		}
	}
	return dag.New(parents)
}

// open connects to the target warehouse.
func (s *session) open(ctx context.Context) (adapters.Warehouse, error) {
	p := s.target.Profile
	switch p.Type {
	case "duckdb":
		if p.Path != ":memory:" {
			if err := os.MkdirAll(filepath.Dir(p.Path), 0o755); err != nil {
				return nil, err
			}
		}
		return s.openDuckDB(ctx, p)
	case "postgres", "redshift":
		w, err := postgres.Open(ctx, p)
		if err != nil {
			return nil, invalid(err)
		}
		return w, nil
	}
	return nil, invalid(fmt.Errorf("unsupported warehouse type %q", p.Type))
}

func (s *session) targetDir() string {
	return filepath.Join(s.project.Root, s.project.TargetPath)
}
