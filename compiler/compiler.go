package compiler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/jinja"
	"github.com/kilnhq/kiln/compiler/project"
	"github.com/kilnhq/kiln/internal/pool"
)

// Options are the inputs of a parse besides the project.
type Options struct {
	Target       *project.Target
	Env          map[string]string // environment for env_var()
	Builtins     []jinja.SourceFile
	FullRefresh  bool
	Command      string
	InvocationID string
	StartedAt    time.Time
	Log          func(string)
}

// Compiler holds a parsed project: its nodes and the Jinja environment.
type Compiler struct {
	Project *project.Project
	Env     *jinja.Env
	Nodes   map[string]*Node // by unique id
	// byName maps model, seed and analysis names to nodes (for ref).
	byName    map[string]*Node
	sources   map[[2]string]*Node
	targetMap map[string]any
	opts      Options
	database  string
	lazy      sync.Mutex      // serialises CompileNow
	disabled  map[string]bool // names of disabled models and seeds
}

// TargetDatabase is the database name relations use by default.
func TargetDatabase(t *project.Target) string {
	p := t.Profile
	if p.Type == "duckdb" {
		if p.Path == "" || p.Path == ":memory:" {
			return "memory"
		}
		base := filepath.Base(p.Path)
		return strings.TrimSuffix(base, filepath.Ext(base))
	}
	return p.DBName
}

// Parse renders every file of p once and builds the nodes. Errors are
// collected across files.
func Parse(ctx context.Context, p *project.Project, opts Options) (*Compiler, error) {
	macroFiles := make([]jinja.SourceFile, 0, len(p.Macros)+len(p.Generic))
	for _, f := range append(append([]*project.File{}, p.Macros...), p.Generic...) {
		macroFiles = append(macroFiles, jinja.SourceFile{Path: f.Path, Source: f.Source})
	}
	env, err := jinja.NewEnv(p.Name, opts.Builtins, macroFiles)
	if err != nil {
		return nil, err
	}
	if opts.StartedAt.IsZero() {
		opts.StartedAt = time.Now().UTC()
	}
	c := &Compiler{
		Project: p, Env: env, opts: opts,
		Nodes:    map[string]*Node{},
		byName:   map[string]*Node{},
		sources:  map[[2]string]*Node{},
		disabled: map[string]bool{},
	}
	c.database = TargetDatabase(opts.Target)
	prof := opts.Target.Profile
	c.targetMap = map[string]any{
		"name": opts.Target.Name, "schema": prof.Schema, "type": prof.Type, "threads": prof.Threads,
		"database": c.database, "dbname": c.database, "host": prof.Host, "port": prof.Port,
		"user": prof.User, "path": prof.Path, "profile_name": p.Profile,
	}
	var errs diag.List
	errs.Add(c.addSources())
	errs.Add(c.addSeeds())
	errs.Add(c.addSQLNodes(ctx, Model, p.Models, p.ModelPaths))
	errs.Add(c.addSQLNodes(ctx, Analysis, p.Analyses, p.AnalysisPaths))
	if err := errs.Err(); err != nil {
		return nil, err
	}
	errs.Add(c.renderSnapshots(ctx))
	if err := errs.Err(); err != nil {
		return nil, err
	}
	errs.Add(c.addTests())
	if err := errs.Err(); err != nil {
		return nil, err
	}
	errs.Add(c.renderTests(ctx))
	if err := errs.Err(); err != nil {
		return nil, err
	}
	errs.Add(c.resolveDeps())
	return c, errs.Err()
}

func checksum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (c *Compiler) addSources() error {
	var errs diag.List
	for _, s := range c.Project.Sources {
		for _, t := range s.Tables {
			db := s.Database
			if db == "" {
				db = c.database
			}
			n := &Node{
				UniqueID:         fmt.Sprintf("source.%s.%s.%s", c.Project.Name, s.Name, t.Name),
				Type:             Source,
				Name:             t.Name,
				Package:          c.Project.Name,
				OriginalFilePath: t.Pos.File,
				Path:             t.Pos.File,
				FQN:              []string{c.Project.Name, s.Name, t.Name},
				Description:      t.Description,
				Config:           newConfig(),
				Database:         db,
				Schema:           s.Schema,
				Alias:            t.Identifier,
				SourceName:       s.Name,
				SourceTable:      t,
				SourceDef:        s,
			}
			c.Nodes[n.UniqueID] = n
			c.sources[[2]string{s.Name, t.Name}] = n
		}
	}
	return errs.Err()
}

func (c *Compiler) addSeeds() error {
	var errs diag.List
	for _, f := range c.Project.Seeds {
		rel, _ := project.RelDir(f.Path, c.Project.SeedPaths)
		name := strings.TrimSuffix(filepath.Base(f.Path), filepath.Ext(f.Path))
		n := &Node{
			UniqueID:         fmt.Sprintf("seed.%s.%s", c.Project.Name, name),
			Type:             Seed,
			Name:             name,
			Package:          c.Project.Name,
			Path:             rel,
			OriginalFilePath: f.Path,
			FQN:              fqn(c.Project.Name, rel),
			Config:           newConfig(),
		}
		n.Config.Set("materialized", "seed", n.Pos())
		applyProjectConfig(&n.Config, c.Project.SeedsConfig, n.FQN[:len(n.FQN)])
		if patch := c.Project.SeedPatches[name]; patch != nil {
			n.Patch = patch
			n.Description = patch.Description
			applyMapConfig(&n.Config, patch.Config)
		}
		errs.Add(c.register(n))
	}
	return errs.Err()
}

// fqn builds dbt's fully qualified name from a path relative to its folder.
func fqn(project, rel string) []string {
	parts := strings.Split(strings.TrimSuffix(rel, filepath.Ext(rel)), "/")
	return append([]string{project}, parts...)
}

func (c *Compiler) register(n *Node) error {
	if !n.Config.Bool("enabled", true) {
		c.disabled[n.Name] = true
		return nil
	}
	if prev, dup := c.byName[n.Name]; dup {
		return diag.At(diag.Pos{File: n.OriginalFilePath, Line: 1},
			"two resources are named %q: %s and %s; rename one of them (names must be unique across models, seeds and analyses)",
			n.Name, prev.OriginalFilePath, n.OriginalFilePath)
	}
	c.byName[n.Name] = n
	c.Nodes[n.UniqueID] = n
	return c.nameRelation(n)
}

func (c *Compiler) addSQLNodes(ctx context.Context, typ ResourceType, files []*project.File, dirs []string) error {
	nodes := make([]*Node, len(files))
	errsBy := make([]error, len(files))
	for i, f := range files {
		rel, _ := project.RelDir(f.Path, dirs)
		name := strings.TrimSuffix(filepath.Base(f.Path), ".sql")
		n := &Node{
			UniqueID:         fmt.Sprintf("%s.%s.%s", typ, c.Project.Name, name),
			Type:             typ,
			Name:             name,
			Package:          c.Project.Name,
			Path:             rel,
			OriginalFilePath: f.Path,
			FQN:              fqn(c.Project.Name, rel),
			Raw:              f.Source,
			Checksum:         checksum(f.Source),
			Config:           newConfig(),
		}
		if typ == Model {
			n.Config.Set("materialized", "view", n.Pos())
			applyProjectConfig(&n.Config, c.Project.ModelsConfig, n.FQN)
			if patch := c.Project.ModelPatches[name]; patch != nil {
				n.Patch = patch
				n.Description = patch.Description
				applyMapConfig(&n.Config, patch.Config)
			}
		}
		nodes[i] = n
	}
	pool.Each(ctx, len(nodes), 0, func(i int) { errsBy[i] = c.parseRender(nodes[i]) })
	if err := ctx.Err(); err != nil {
		return err
	}
	var errs diag.List
	for i, n := range nodes {
		if errsBy[i] != nil {
			errs.Add(errsBy[i])
			continue
		}
		errs.Add(c.register(n))
	}
	return errs.Err()
}

// renderSnapshots parses snapshot blocks and YAML snapshots, renders them
// once like models and validates their configuration.
func (c *Compiler) renderSnapshots(ctx context.Context) error {
	nodes := c.addSnapshots()
	errs := make([]error, len(nodes))
	pool.Each(ctx, len(nodes), 0, func(i int) {
		if err := c.parseRender(nodes[i]); err != nil {
			errs[i] = err
			return
		}
		errs[i] = checkSnapshot(nodes[i])
	})
	var all diag.List
	for i, n := range nodes {
		if errs[i] != nil {
			all.Add(errs[i])
			continue
		}
		if !n.Config.Bool("enabled", true) {
			continue
		}
		if prev, dup := c.byName[n.Name]; dup {
			all.Addf(n.snapPos, "two resources are named %q: %s and %s", n.Name, prev.OriginalFilePath, n.OriginalFilePath)
			continue
		}
		c.byName[n.Name] = n
		c.Nodes[n.UniqueID] = n
		all.Add(c.nameRelation(n))
	}
	return all.Err()
}

// parseRender renders a node once with placeholders and applies the
// configs it set.
func (c *Compiler) parseRender(n *Node) error {
	tpl, err := c.Env.Parse(n.OriginalFilePath, n.templateSource())
	if err != nil {
		return err
	}
	rec := &parsedRender{}
	b := &contextBuilder{c: c, node: n, recorder: rec}
	res, err := c.Env.Render(tpl, &jinja.Context{Globals: b.globals(), Dialect: c.opts.Target.Profile.Type, Log: c.opts.Log})
	if err != nil {
		return err
	}
	rec.output = res.Output
	rec.used = rec.used || res.UsedExecute
	if rec.used {
		// Only nodes rendered again at execute time need the parsed
		// template; the others compile by substitution, so dropping it
		// keeps the AST of large projects out of the heap.
		n.tpl = tpl
	}
	for _, kw := range rec.configs {
		pos := configPos(n)
		for k, v := range kw {
			n.Config.Set(normaliseKey(k), v, pos)
		}
	}
	n.parsed = *rec
	return nil
}

var configCall = regexp.MustCompile(`config\s*\(`)

func configPos(n *Node) diag.Pos {
	return findPos(n, configCall)
}

// findPos returns the first line of n's source matching re (line 1 if none).
func findPos(n *Node, re *regexp.Regexp) diag.Pos {
	if n.Test != nil && n.Test.Generic {
		return n.Test.Pos
	}
	if loc := re.FindStringIndex(n.Raw); loc != nil {
		l, col := diag.LineCol(n.Raw, loc[0])
		return diag.Pos{File: n.OriginalFilePath, Line: l, Col: col}
	}
	return n.Pos()
}

func refPos(n *Node, name string) diag.Pos {
	return findPos(n, regexp.MustCompile(`ref\s*\(\s*(['"][^'"]*['"]\s*,\s*)?['"]`+regexp.QuoteMeta(name)+`['"]`))
}

func sourcePos(n *Node, src, tbl string) diag.Pos {
	return findPos(n, regexp.MustCompile(`source\s*\(\s*['"]`+regexp.QuoteMeta(src)+`['"]\s*,\s*['"]`+regexp.QuoteMeta(tbl)+`['"]`))
}

// resolveDeps checks refs and sources, validates configs and records parents.
func (c *Compiler) resolveDeps() error {
	var errs diag.List
	for _, id := range c.SortedIDs() {
		n := c.Nodes[id]
		if !n.isSQL() {
			continue
		}
		if n.Type == Model {
			m := n.Materialized()
			if !contains(Materializations, m) || m == "seed" {
				d := diag.At(materializedPos(n), "unknown materialization %q", m)
				if s := diag.Closest(m, Materializations); s != "" {
					d.Hint = fmt.Sprintf("did you mean `%s`?", s)
				} else {
					d.Hint = "use view, table, incremental or ephemeral"
				}
				errs.Add(d)
			}
		}
		deps := map[string]bool{}
		for _, cl := range n.parsed.calls {
			switch cl.kind {
			case callRef:
				t, err := c.resolveRef(n, cl.pkg, cl.name)
				if err != nil {
					errs.Add(err)
					continue
				}
				deps[t.UniqueID] = true
			case callSource:
				t, err := c.resolveSource(n, cl.name, cl.tbl)
				if err != nil {
					errs.Add(err)
					continue
				}
				deps[t.UniqueID] = true
			}
		}
		n.DependsOn = n.DependsOn[:0]
		for d := range deps {
			n.DependsOn = append(n.DependsOn, d)
		}
		sort.Strings(n.DependsOn)
	}
	return errs.Err()
}

func materializedPos(n *Node) diag.Pos {
	if p, ok := n.Config.Pos["materialized"]; ok && p.File != "" {
		return p
	}
	return n.Pos()
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (c *Compiler) resolveRef(from *Node, pkg, name string) (*Node, error) {
	if pkg != "" && pkg != c.Project.Name {
		return nil, diag.At(refPos(from, name), "ref('%s', '%s'): package %q is not installed", pkg, name, pkg)
	}
	t, ok := c.byName[name]
	if !ok || t.Type == Analysis {
		d := diag.At(refPos(from, name), "%s %q refers to %q, which was not found", from.Type, from.Name, name)
		names := make([]string, 0, len(c.byName))
		for k, v := range c.byName {
			if v.Type != Analysis {
				names = append(names, k)
			}
		}
		if s := diag.Closest(name, names); s != "" {
			d.Hint = fmt.Sprintf("did you mean `%s`?", s)
		}
		return nil, d
	}
	return t, nil
}

func (c *Compiler) resolveSource(from *Node, src, tbl string) (*Node, error) {
	t, ok := c.sources[[2]string{src, tbl}]
	if ok {
		return t, nil
	}
	d := diag.At(sourcePos(from, src, tbl), "%s %q uses source('%s', '%s'), which was not found", from.Type, from.Name, src, tbl)
	var cands []string
	for k := range c.sources {
		if k[0] == src {
			cands = append(cands, k[1])
		}
	}
	if len(cands) > 0 {
		if s := diag.Closest(tbl, cands); s != "" {
			d.Hint = fmt.Sprintf("did you mean source('%s', '%s')?", src, s)
		} else {
			sort.Strings(cands)
			d.Hint = fmt.Sprintf("source %q has tables: %s", src, strings.Join(cands, ", "))
		}
	} else {
		var srcs []string
		seen := map[string]bool{}
		for k := range c.sources {
			if !seen[k[0]] {
				seen[k[0]] = true
				srcs = append(srcs, k[0])
			}
		}
		if s := diag.Closest(src, srcs); s != "" {
			d.Hint = fmt.Sprintf("did you mean source('%s', ...)?", s)
		} else {
			d.Hint = "declare it under `sources:` in a schema .yml file"
		}
	}
	return nil, d
}

// relationFor is the relation a ref/source to n renders as.
func (c *Compiler) relationFor(n *Node) *jinja.Relation {
	if n.Materialized() == "ephemeral" {
		return &jinja.Relation{Identifier: n.Name, CTE: cteName(n), Type: "cte"}
	}
	return n.Relation()
}

func cteName(n *Node) string { return "__dbt__cte__" + n.Name }

// SortedIDs returns every node id, sorted.
func (c *Compiler) SortedIDs() []string {
	ids := make([]string, 0, len(c.Nodes))
	for id := range c.Nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// FullRefresh reports whether n is rebuilt from scratch: --full-refresh,
// unless the node's `full_refresh` config says otherwise.
func (c *Compiler) FullRefresh(n *Node) bool {
	if v, ok := n.Config.Values["full_refresh"].(bool); ok {
		return v
	}
	return c.opts.FullRefresh
}

// Node returns a node by unique id.
func (c *Compiler) Node(id string) *Node { return c.Nodes[id] }
