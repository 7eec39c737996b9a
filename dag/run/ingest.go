package run

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/compiler"
	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/project"
)

// loaderKeys are the table-level `ingest:` keys the loader reads; the rest
// belong to the connector.
var loaderKeys = map[string]bool{
	"connector": true, "mode": true, "primary_key": true, "cursor": true, "lookback": true,
	"on_bad_rows": true, "flatten": true,
}

// Ingester loads source tables with the registered connectors. One opened
// connector source is shared by the tables of a dbt source.
type Ingester struct {
	Registry *ingest.Registry
	// Render renders Jinja (env_var) in configuration strings.
	Render func(src string, pos diag.Pos) (string, error)
	// Root is the project directory; relative source `path`s start there.
	Root string

	mu      sync.Mutex
	sources map[string]ingest.Source
}

// Close closes the opened sources.
func (in *Ingester) Close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, s := range in.sources {
		_ = s.Close()
	}
	in.sources = nil
}

// Validate checks every ingest declaration of nodes against its connector's
// spec: the connector exists, keys are known, required keys are set.
func (in *Ingester) Validate(nodes []*compiler.Node) error {
	var errs diag.List
	seenSource := map[string]bool{}
	for _, n := range nodes {
		spec := n.Ingest()
		if spec == nil {
			continue
		}
		pos := n.SourceTable.Pos
		if spec.Source != nil {
			pos = spec.Source.Pos
		}
		if spec.Connector == "" {
			errs.Addf(pos, "source %s.%s has `ingest:` but no `connector:` (known: %s)", n.SourceName, n.Name, strings.Join(in.Registry.Names(), ", "))
			continue
		}
		conn, err := in.Registry.Get(spec.Connector)
		if err != nil {
			d := diag.At(connectorPos(spec), "%v", err)
			if s := diag.Closest(spec.Connector, in.Registry.Names()); s != "" {
				d.Hint = fmt.Sprintf("did you mean `%s`?", s)
			}
			errs.Add(d)
			continue
		}
		if !seenSource[n.SourceName] {
			seenSource[n.SourceName] = true
			errs.Add(checkFields(conn, spec.Source, "source", nil))
		}
		errs.Add(checkFields(conn, spec.Table, "table", loaderKeys))
		for _, f := range conn.Spec {
			if !f.Required {
				continue
			}
			inSource, inTable := spec.Source.Get(f.Name) != nil, spec.Table.Get(f.Name) != nil
			ok := (f.Level == "source" && inSource) || (f.Level == "table" && inTable) || (f.Level != "source" && f.Level != "table" && (inSource || inTable))
			if !ok {
				where := spec.Table
				if where == nil || f.Level == "source" {
					where = spec.Source
				}
				p := n.SourceTable.Pos
				if where != nil {
					p = where.Pos
				}
				errs.Addf(p, "%s connector needs `%s` (%s) for %s.%s", conn.Name, f.Name, f.Doc, n.SourceName, n.Name)
			}
		}
		if m := spec.Table.Get("mode"); m != nil {
			switch m.String() {
			case "replace", "append", "merge":
				if m.String() == "merge" && spec.Table.Get("primary_key").IsNull() {
					errs.Addf(m.Pos, "mode merge needs `primary_key`")
				}
			default:
				errs.Addf(m.Pos, "unknown mode %q (use replace, append or merge)", m.String())
			}
		}
	}
	return errs.Err()
}

func connectorPos(spec *compiler.IngestSpec) diag.Pos {
	for _, m := range []*project.Node{spec.Table, spec.Source} {
		if c := m.Get("connector"); c != nil {
			return c.Pos
		}
	}
	return diag.Pos{}
}

// checkFields reports keys of m that the connector does not know at level.
func checkFields(conn ingest.Connector, m *project.Node, level string, extra map[string]bool) error {
	if m == nil || m.Kind != project.MapNode {
		return nil
	}
	known := map[string]bool{"connector": true}
	var names []string
	for _, f := range conn.Spec {
		if f.Level == level || f.Level == "any" || f.Level == "" {
			known[f.Name] = true
			names = append(names, f.Name)
		}
	}
	for k := range extra {
		known[k] = true
		names = append(names, k)
	}
	sort.Strings(names)
	var errs diag.List
	for _, k := range m.Keys {
		if known[k] {
			continue
		}
		d := diag.At(m.KeyPos[k], "unknown %s setting `%s` for the %s connector", level, k, conn.Name)
		if s := diag.Closest(k, names); s != "" {
			d.Hint = fmt.Sprintf("did you mean `%s`?", s)
		} else {
			d.Hint = "known: " + strings.Join(names, ", ")
		}
		errs.Add(d)
	}
	return errs.Err()
}

// config converts a YAML mapping to a connector Config, rendering env_var.
func (in *Ingester) config(m *project.Node, skip map[string]bool) (ingest.Config, error) {
	cfg := ingest.Config{Values: map[string]any{}, Pos: func(key string) string {
		if m == nil {
			return ""
		}
		if key == "" {
			return m.Pos.String()
		}
		if p, ok := m.KeyPos[key]; ok {
			return p.String()
		}
		return m.Pos.String()
	}}
	if m == nil || m.Kind != project.MapNode {
		return cfg, nil
	}
	for _, k := range m.Keys {
		if skip[k] {
			continue
		}
		v, err := in.render(m.Map[k])
		if err != nil {
			return cfg, err
		}
		cfg.Values[k] = v
	}
	return cfg, nil
}

func (in *Ingester) render(n *project.Node) (any, error) {
	switch n.Kind {
	case project.MapNode:
		out := map[string]any{}
		for _, k := range n.Keys {
			v, err := in.render(n.Map[k])
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case project.ListNode:
		out := make([]any, len(n.List))
		for i, c := range n.List {
			v, err := in.render(c)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	if s, ok := n.Scalar.(string); ok && strings.Contains(s, "{{") && in.Render != nil {
		return in.Render(s, n.Pos)
	}
	return n.Value(), nil
}

// source opens (once) the connector source of a dbt source.
func (in *Ingester) source(ctx context.Context, n *compiler.Node, spec *compiler.IngestSpec) (ingest.Source, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.sources[n.SourceName]; ok {
		return s, nil
	}
	conn, err := in.Registry.Get(spec.Connector)
	if err != nil {
		return nil, err
	}
	cfg, err := in.config(spec.Source, map[string]bool{"connector": true})
	if err != nil {
		return nil, err
	}
	// Local paths are relative to the project folder: the files
	// connector's folder, and key and known_hosts files of the others.
	for _, k := range []string{"path", "credentials_file", "private_key_file", "known_hosts"} {
		if k == "path" && conn.Name != "files" {
			continue
		}
		if p, ok := cfg.Values[k].(string); ok && p != "" && !filepath.IsAbs(p) && !strings.HasPrefix(p, "~") {
			cfg.Values[k] = filepath.Join(in.Root, p)
		}
	}
	s, err := conn.Open(ctx, cfg)
	if err != nil {
		return nil, diag.At(spec.Source.Pos, "opening %s source %s: %v", conn.Name, n.SourceName, err)
	}
	if in.sources == nil {
		in.sources = map[string]ingest.Source{}
	}
	in.sources[n.SourceName] = s
	return s, nil
}

// load runs one source table's ingest.
func (b *Builder) load(ctx context.Context, n *compiler.Node, spec *compiler.IngestSpec) Outcome {
	fail := func(err error) Outcome {
		return Outcome{Status: StatusError, Err: err, Message: err.Error()}
	}
	in := b.Ingest
	if in == nil {
		return fail(fmt.Errorf("source %s.%s has `ingest:` but ingestion is not set up", n.SourceName, n.Name))
	}
	src, err := in.source(ctx, n, spec)
	if err != nil {
		return fail(err)
	}
	tcfg, err := in.config(spec.Table, loaderKeys)
	if err != nil {
		return fail(err)
	}
	table, err := src.Table(ctx, tcfg)
	if err != nil {
		return fail(diag.At(n.SourceTable.Pos, "source %s.%s: %v", n.SourceName, n.Name, err))
	}
	opts := ingest.LoadOptions{
		Key:         n.SourceName + "." + n.Name,
		Mode:        spec.Table.Get("mode").String(),
		Cursor:      spec.Table.Get("cursor").String(),
		OnBadRows:   spec.Table.Get("on_bad_rows").String(),
		FullRefresh: b.Compiler.FullRefresh(n),
	}
	if pk := spec.Table.Get("primary_key"); pk != nil {
		opts.PrimaryKey, _ = pk.StringList()
	}
	if f, ok := spec.Table.Get("flatten").Value().(int64); ok {
		opts.Flatten = int(f)
	}
	if lb := spec.Table.Get("lookback").String(); lb != "" {
		d, err := time.ParseDuration(lb)
		if err != nil {
			return fail(diag.At(spec.Table.Get("lookback").Pos, "lookback %q: use a duration such as 2h or 30m", lb))
		}
		opts.Lookback = d
	}
	if b.Progress != nil {
		opts.Progress = throttle(ProgressEvery, func(rows, bytes int64) { b.Progress(n.UniqueID, rows, bytes) })
	}
	rel := adapters.Relation{Database: n.Database, Schema: n.Schema, Identifier: n.Alias}
	res, err := ingest.Load(ctx, b.Warehouse, rel, table, opts)
	if err != nil {
		return fail(diag.At(n.SourceTable.Pos, "loading %s.%s: %v", n.SourceName, n.Name, err))
	}
	msg := fmt.Sprintf("%s %d", strings.ToUpper(res.Mode), res.Inserted)
	if res.Updated > 0 {
		msg += fmt.Sprintf(" (+%d updated)", res.Updated)
	}
	if res.Rejected > 0 {
		msg += fmt.Sprintf(", %d rejected", res.Rejected)
	}
	if res.Fallback != "" {
		// The fast path gave up: say why the load was slower than usual.
		why := res.Fallback
		if len(why) > 100 {
			why = why[:97] + "..."
		}
		msg += ", read record by record: " + why
	}
	return Outcome{Status: StatusSuccess, Message: msg, RowsAffected: res.Inserted + res.Updated, Bytes: res.Bytes, Code: strings.ToUpper(res.Mode)}
}

// ProgressEvery is how often a load reports its progress.
const ProgressEvery = 500 * time.Millisecond

// throttle calls f at most once per every; calls in between are dropped.
func throttle(every time.Duration, f func(rows, bytes int64)) func(rows, bytes int64) {
	var mu sync.Mutex
	var last time.Time
	return func(rows, bytes int64) {
		mu.Lock()
		now := time.Now()
		if now.Sub(last) < every {
			mu.Unlock()
			return
		}
		last = now
		mu.Unlock()
		f(rows, bytes)
	}
}
