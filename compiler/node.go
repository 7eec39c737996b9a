package compiler

import (
	"fmt"
	"sort"

	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/jinja"
	"github.com/kilnhq/kiln/compiler/project"
)

// ResourceType is dbt's resource_type.
type ResourceType string

// Resource types.
const (
	Model    ResourceType = "model"
	Seed     ResourceType = "seed"
	Source   ResourceType = "source"
	Analysis ResourceType = "analysis"
	Test     ResourceType = "test"
)

// Materializations kiln knows.
var Materializations = []string{"view", "table", "ephemeral", "incremental", "seed"}

// Node is one resource of the project.
type Node struct {
	UniqueID         string
	Type             ResourceType
	Name             string
	Package          string
	Path             string // relative to its resource folder
	OriginalFilePath string // relative to the project root
	FQN              []string
	Raw              string
	Checksum         string
	Description      string
	Config           Config
	Patch            *project.Patch

	Database string
	Schema   string
	Alias    string

	// Source-only fields.
	SourceName  string
	SourceTable *project.SourceTable
	SourceDef   *project.Source

	// Test-only fields.
	Test *TestSpec

	DependsOn []string // unique ids of parents, sorted
	Compiled  string   // compiled SQL (models, analyses)
	// Ephemerals are the ephemeral models inlined into Compiled, in order.
	Ephemerals []string

	tpl *jinja.Template
	// lateRender: not rendered at parse time (generic tests, whose
	// dependencies are known from their arguments); rendered when compiled.
	lateRender bool
	// Snapshots: the template text (the block's body) and where it starts.
	snapSrc  string
	snapPos  diag.Pos
	bodyOnly string
	parsed   parsedRender
}

// Materialized is the node's materialization.
func (n *Node) Materialized() string {
	switch n.Type {
	case Seed:
		return "seed"
	case Test:
		return "test"
	case Snapshot:
		return "snapshot"
	}
	return n.Config.String("materialized")
}

// templateSource is the text rendered for n.
func (n *Node) templateSource() string {
	if n.Test != nil && n.Test.Generic {
		return testCall(n.Test.Name, n.Test.Kwargs)
	}
	if n.snapSrc != "" {
		return n.snapSrc
	}
	return n.Raw
}

// isSQL reports whether the node is rendered from a template.
func (n *Node) isSQL() bool {
	return n.Type == Model || n.Type == Analysis || n.Type == Test || n.Type == Snapshot
}

// Relation returns the node's relation as templates see it.
func (n *Node) Relation() *jinja.Relation {
	typ := "table"
	if n.Materialized() == "view" {
		typ = "view"
	}
	return &jinja.Relation{Database: n.Database, Schema: n.Schema, Identifier: n.Alias, Type: typ}
}

// RelationName is the relation rendered for SQL ("db"."schema"."alias").
func (n *Node) RelationName() string { return n.Relation().Render() }

// Pos is the node's file position.
func (n *Node) Pos() diag.Pos { return diag.Pos{File: n.OriginalFilePath, Line: 1} }

// Config is a node's merged configuration.
type Config struct {
	Values map[string]any
	// Pos records where each key was last set.
	Pos map[string]diag.Pos
}

func newConfig() Config { return Config{Values: map[string]any{}, Pos: map[string]diag.Pos{}} }

// Set sets a key, merging tags additively as dbt does.
func (c *Config) Set(key string, v any, pos diag.Pos) {
	switch key {
	case "tags":
		c.Values[key] = mergeTags(c.Values[key], v)
	case "pre-hook", "pre_hook":
		c.Values["pre_hook"] = appendHooks(c.Values["pre_hook"], v)
	case "post-hook", "post_hook":
		c.Values["post_hook"] = appendHooks(c.Values["post_hook"], v)
	default:
		c.Values[key] = v
	}
	c.Pos[key] = pos
}

// String returns a string config value ("" when unset).
func (c Config) String(key string) string {
	v, ok := c.Values[key]
	if !ok || v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// Bool returns a boolean config value with a default.
func (c Config) Bool(key string, def bool) bool {
	switch v := c.Values[key].(type) {
	case bool:
		return v
	case string:
		return v == "true" || v == "True"
	}
	return def
}

// Tags returns the node's tags, sorted and unique.
func (c Config) Tags() []string { return toStrings(c.Values["tags"]) }

func mergeTags(old, add any) any {
	set := map[string]bool{}
	for _, t := range toStrings(old) {
		set[t] = true
	}
	for _, t := range toStrings(add) {
		set[t] = true
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func toStrings(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// appendHooks accumulates hooks (strings, or {sql, transaction} maps) from
// every level of configuration, as dbt does.
func appendHooks(old, add any) []any {
	out, _ := old.([]any)
	switch x := add.(type) {
	case nil:
	case []any:
		out = append(out, x...)
	case []string:
		for _, s := range x {
			out = append(out, s)
		}
	default:
		out = append(out, x)
	}
	return out
}
