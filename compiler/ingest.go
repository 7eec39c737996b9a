package compiler

import (
	"github.com/kilnhq/kiln/compiler/project"
)

// IngestSpec is how a source table is loaded (kiln's `ingest:` extension of
// dbt's source YAML): the source-level settings and the table's own.
type IngestSpec struct {
	Connector string
	Source    *project.Node // the source's `ingest:` mapping (may be nil)
	Table     *project.Node // the table's `ingest:` mapping (may be nil)
}

// Ingest returns how a source node is loaded, or nil when it is not (a
// plain dbt source, loaded by something else).
func (n *Node) Ingest() *IngestSpec {
	if n.Type != Source || n.SourceDef == nil {
		return nil
	}
	src, tbl := n.SourceDef.Ingest, n.SourceTable.Ingest
	if src.IsNull() && tbl.IsNull() {
		return nil
	}
	if tbl != nil && tbl.Kind == project.ScalarNode && tbl.Scalar == false {
		return nil // `ingest: false` opts one table out
	}
	spec := &IngestSpec{Source: src, Table: tbl}
	for _, m := range []*project.Node{tbl, src} {
		if c := m.Get("connector").String(); c != "" {
			spec.Connector = c
			break
		}
	}
	return spec
}
