package cli

import (
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/bigquery"
	"github.com/kilnhq/kiln/adapters/ingest/files"
	"github.com/kilnhq/kiln/adapters/ingest/ftpsource"
	"github.com/kilnhq/kiln/adapters/ingest/gsheets"
	"github.com/kilnhq/kiln/adapters/ingest/httpsource"
	"github.com/kilnhq/kiln/adapters/ingest/pgsource"
	"github.com/kilnhq/kiln/adapters/ingest/s3source"
	"github.com/kilnhq/kiln/adapters/ingest/sftpsource"
	"github.com/kilnhq/kiln/compiler"
	"github.com/kilnhq/kiln/dag/run"
)

// connectors is the registry of raw-ingest connectors kiln ships.
func connectors() *ingest.Registry {
	return ingest.NewRegistry(
		files.Connector(), httpsource.Connector(nil), pgsource.Connector(),
		s3source.Connector(), sftpsource.Connector(), ftpsource.Connector(),
		gsheets.Connector(), bigquery.Connector(),
	)
}

// ingester sets up loading for the sources of s.
func (a *app) ingester(s *session) *run.Ingester {
	sr := &compiler.StringRenderer{Env: a.env, Vars: s.project.Vars}
	return &run.Ingester{Registry: connectors(), Render: sr.Render, Root: s.project.Root}
}

// loadable drops source nodes that declare no `ingest:`: something else
// loads them, so there is nothing to run.
func loadable(s *session, ids []string) []string {
	out := ids[:0]
	for _, id := range ids {
		n := s.compiler.Node(id)
		if n.Type == compiler.Source && n.Ingest() == nil {
			continue
		}
		out = append(out, id)
	}
	return out
}

func nodesOf(s *session, ids []string) []*compiler.Node {
	out := make([]*compiler.Node, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.compiler.Node(id))
	}
	return out
}
