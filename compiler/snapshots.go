package compiler

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/project"
)

// Snapshot is dbt's snapshot resource type.
const Snapshot ResourceType = "snapshot"

var snapshotBlockRe = regexp.MustCompile(`(?s)\{%[-+]?\s*snapshot\s+([A-Za-z_][A-Za-z0-9_]*)\s*[-+]?%\}(.*?)\{%[-+]?\s*endsnapshot\s*[-+]?%\}`)

// addSnapshots creates snapshot nodes from `{% snapshot %}` blocks in
// snapshot paths and from YAML snapshots (`snapshots:` entries with a
// `relation:`).
func (c *Compiler) addSnapshots() []*Node {
	var nodes []*Node
	seen := map[string]bool{}
	for _, f := range c.Project.Snaps {
		rel, _ := project.RelDir(f.Path, c.Project.SnapshotPaths)
		for _, m := range snapshotBlockRe.FindAllStringSubmatchIndex(f.Source, -1) {
			name := f.Source[m[2]:m[3]]
			n := c.newSnapshot(name, f.Path, dirOf(rel))
			// Keep only this block's body, blanking the rest but its
			// newlines, so errors point at the file's own lines.
			n.Raw = f.Source
			n.snapSrc = blankExcept(f.Source, m[4], m[5])
			line, _ := diag.LineCol(f.Source, m[0])
			n.snapPos = diag.Pos{File: f.Path, Line: line}
			nodes = append(nodes, n)
			seen[name] = true
		}
	}
	for _, name := range project.SortedKeys(c.Project.SnapshotPatches) {
		patch := c.Project.SnapshotPatches[name]
		if patch.Relation.IsNull() || seen[name] {
			continue
		}
		rel := strings.TrimSpace(patch.Relation.String())
		rel = strings.TrimSuffix(strings.TrimPrefix(rel, "{{"), "}}")
		n := c.newSnapshot(name, patch.Pos.File, nil)
		n.snapSrc = "select * from {{ " + strings.TrimSpace(rel) + " }}"
		n.Raw = n.snapSrc
		n.snapPos = patch.Pos
		nodes = append(nodes, n)
	}
	return nodes
}

func (c *Compiler) newSnapshot(name, file string, dirs []string) *Node {
	n := &Node{
		UniqueID:         fmt.Sprintf("snapshot.%s.%s", c.Project.Name, name),
		Type:             Snapshot,
		Name:             name,
		Package:          c.Project.Name,
		Path:             file,
		OriginalFilePath: file,
		FQN:              append(append([]string{c.Project.Name}, dirs...), name),
		Config:           newConfig(),
	}
	n.Config.Set("materialized", "snapshot", n.Pos())
	applyProjectConfig(&n.Config, c.Project.SnapshotsConfig, n.FQN)
	if patch := c.Project.SnapshotPatches[name]; patch != nil {
		n.Patch = patch
		n.Description = patch.Description
		applyMapConfig(&n.Config, patch.Config)
	}
	return n
}

func dirOf(rel string) []string { return dirParts(rel) }

// blankExcept replaces every character of s outside [from, to) with a
// space, keeping newlines.
func blankExcept(s string, from, to int) string {
	b := []byte(s)
	for i := range b {
		if (i < from || i >= to) && b[i] != '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// checkSnapshot validates a snapshot's configuration once config() calls
// are applied.
func checkSnapshot(n *Node) error {
	var errs diag.List
	pos := func(key string) diag.Pos {
		if p, ok := n.Config.Pos[key]; ok && p.File != "" {
			return p
		}
		return n.snapPos
	}
	strategy := n.Config.String("strategy")
	switch strategy {
	case "timestamp":
		if n.Config.String("updated_at") == "" {
			errs.Addf(pos("strategy"), "snapshot %s: strategy timestamp needs `updated_at`", n.Name)
		}
	case "check":
		if len(toStrings(n.Config.Values["check_cols"])) == 0 {
			errs.Addf(pos("strategy"), "snapshot %s: strategy check needs `check_cols` (a list of columns, or 'all')", n.Name)
		}
	case "":
		errs.Addf(n.snapPos, "snapshot %s needs a `strategy` (timestamp or check)", n.Name)
	default:
		errs.Addf(pos("strategy"), "snapshot %s: unknown strategy %q (use timestamp or check)", n.Name, strategy)
	}
	if len(toStrings(n.Config.Values["unique_key"])) == 0 {
		errs.Addf(n.snapPos, "snapshot %s needs a `unique_key`", n.Name)
	}
	switch hd := n.Config.String("hard_deletes"); hd {
	case "", "ignore", "invalidate", "new_record":
	default:
		errs.Addf(pos("hard_deletes"), "snapshot %s: hard_deletes must be ignore, invalidate or new_record, not %q", n.Name, hd)
	}
	return errs.Err()
}
