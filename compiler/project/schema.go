package project

import (
	"context"

	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/internal/pool"
)

// Patch is what a schema file says about one model or seed.
type Patch struct {
	Name        string
	Pos         diag.Pos
	Description string
	Config      *Node // may be nil
	Columns     []*ColumnSpec
	Tests       []*Node // model-level tests
	Meta        map[string]any
	// Relation is a YAML snapshot's `relation:` (e.g. "ref('orders')").
	Relation *Node
}

// ColumnSpec documents one column.
type ColumnSpec struct {
	Name        string
	Pos         diag.Pos
	Description string
	DataType    string
	Quote       bool
	Tests       []*Node
}

// Source is one `sources:` entry.
type Source struct {
	Name          string
	Pos           diag.Pos
	Description   string
	Database      string
	Schema        string // defaults to Name
	LoadedAtField string
	Freshness     *Node
	Quoting       *Node
	Config        *Node
	Ingest        *Node // kiln extension, ignored by dbt
	Tables        []*SourceTable
}

// SourceTable is one table of a source.
type SourceTable struct {
	Name          string
	Pos           diag.Pos
	Identifier    string // defaults to Name
	Description   string
	LoadedAtField string
	Freshness     *Node
	Quoting       *Node
	Columns       []*ColumnSpec
	Tests         []*Node
	Ingest        *Node
}

func (p *Project) loadSchemas() error {
	var errs diag.List
	p.ModelPatches = map[string]*Patch{}
	p.SeedPatches = map[string]*Patch{}
	p.SnapshotPatches = map[string]*Patch{}
	sourceSeen := map[string]*Source{}
	docs, docErrs := parseYAMLFiles(p.Schemas)
	for i := range p.Schemas {
		doc, err := docs[i], docErrs[i]
		if err != nil {
			errs.Add(err)
			continue
		}
		if doc.Kind != MapNode {
			if !doc.IsNull() {
				errs.Addf(doc.Pos, "a schema file must be a YAML mapping with `version: 2`")
			}
			continue
		}
		for key, into := range map[string]map[string]*Patch{"models": p.ModelPatches, "seeds": p.SeedPatches, "snapshots": p.SnapshotPatches} {
			list := doc.Get(key)
			if list.IsNull() {
				continue
			}
			if list.Kind != ListNode {
				errs.Addf(list.Pos, "`%s:` must be a list", key)
				continue
			}
			for _, item := range list.List {
				patch, err := parsePatch(item)
				if err != nil {
					errs.Add(err)
					continue
				}
				if prev, dup := into[patch.Name]; dup {
					errs.Addf(patch.Pos, "%s %q is described twice (also at %s)", key[:len(key)-1], patch.Name, prev.Pos)
					continue
				}
				into[patch.Name] = patch
			}
		}
		if list := doc.Get("sources"); !list.IsNull() {
			if list.Kind != ListNode {
				errs.Addf(list.Pos, "`sources:` must be a list")
				continue
			}
			for _, item := range list.List {
				src, err := parseSource(item)
				if err != nil {
					errs.Add(err)
					continue
				}
				if prev, dup := sourceSeen[src.Name]; dup {
					errs.Addf(src.Pos, "source %q is defined twice (also at %s)", src.Name, prev.Pos)
					continue
				}
				sourceSeen[src.Name] = src
				p.Sources = append(p.Sources, src)
			}
		}
	}
	return errs.Err()
}

// parseYAMLFiles parses files in parallel; results are by index.
func parseYAMLFiles(files []*File) ([]*Node, []error) {
	docs := make([]*Node, len(files))
	errs := make([]error, len(files))
	pool.Each(context.Background(), len(files), 0, func(i int) {
		docs[i], errs[i] = ParseYAML(files[i].Path, []byte(files[i].Source))
	})
	return docs, errs
}

func needName(n *Node, what string) (string, error) {
	if n.Kind != MapNode {
		return "", diag.At(n.Pos, "each %s entry must be a mapping with a `name:`", what)
	}
	name := n.Get("name").String()
	if name == "" {
		return "", diag.At(n.Pos, "%s entry without a `name:`", what)
	}
	return name, nil
}

func listOf(n *Node, key string) ([]*Node, error) {
	c := n.Get(key)
	if c.IsNull() {
		return nil, nil
	}
	if c.Kind != ListNode {
		return nil, diag.At(c.Pos, "`%s:` must be a list", key)
	}
	return c.List, nil
}

func testsOf(n *Node) ([]*Node, error) {
	var out []*Node
	for _, key := range []string{"data_tests", "tests"} {
		l, err := listOf(n, key)
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	return out, nil
}

func parseColumns(n *Node) ([]*ColumnSpec, error) {
	items, err := listOf(n, "columns")
	if err != nil {
		return nil, err
	}
	var errs diag.List
	var cols []*ColumnSpec
	for _, c := range items {
		name, err := needName(c, "column")
		if err != nil {
			errs.Add(err)
			continue
		}
		tests, err := testsOf(c)
		errs.Add(err)
		var quote bool
		if q := c.Get("quote"); q != nil {
			quote, _ = q.Scalar.(bool)
		}
		cols = append(cols, &ColumnSpec{
			Name:        name,
			Pos:         c.Pos,
			Description: c.Get("description").String(),
			DataType:    c.Get("data_type").String(),
			Quote:       quote,
			Tests:       tests,
		})
	}
	return cols, errs.Err()
}

func parsePatch(n *Node) (*Patch, error) {
	name, err := needName(n, "model")
	if err != nil {
		return nil, err
	}
	cols, err := parseColumns(n)
	if err != nil {
		return nil, err
	}
	tests, err := testsOf(n)
	if err != nil {
		return nil, err
	}
	cfg := n.Get("config")
	if cfg != nil && !cfg.IsNull() && cfg.Kind != MapNode {
		return nil, diag.At(cfg.Pos, "`config:` must be a mapping")
	}
	meta, _ := n.Get("meta").Value().(map[string]any)
	return &Patch{
		Name:        name,
		Pos:         n.Pos,
		Description: n.Get("description").String(),
		Config:      cfg,
		Columns:     cols,
		Tests:       tests,
		Meta:        meta,
		Relation:    n.Get("relation"),
	}, nil
}

func parseSource(n *Node) (*Source, error) {
	name, err := needName(n, "source")
	if err != nil {
		return nil, err
	}
	s := &Source{
		Name:          name,
		Pos:           n.Pos,
		Description:   n.Get("description").String(),
		Database:      n.Get("database").String(),
		Schema:        n.Get("schema").String(),
		LoadedAtField: n.Get("loaded_at_field").String(),
		Freshness:     n.Get("freshness"),
		Quoting:       n.Get("quoting"),
		Config:        n.Get("config"),
		Ingest:        n.Get("ingest"),
	}
	if s.Schema == "" {
		s.Schema = name
	}
	tables, err := listOf(n, "tables")
	if err != nil {
		return nil, err
	}
	var errs diag.List
	seen := map[string]bool{}
	for _, t := range tables {
		tn, err := needName(t, "source table")
		if err != nil {
			errs.Add(err)
			continue
		}
		if seen[tn] {
			errs.Addf(t.Pos, "table %q appears twice in source %q", tn, name)
			continue
		}
		seen[tn] = true
		cols, err := parseColumns(t)
		errs.Add(err)
		tests, err := testsOf(t)
		errs.Add(err)
		st := &SourceTable{
			Name:          tn,
			Pos:           t.Pos,
			Identifier:    t.Get("identifier").String(),
			Description:   t.Get("description").String(),
			LoadedAtField: t.Get("loaded_at_field").String(),
			Freshness:     t.Get("freshness"),
			Quoting:       t.Get("quoting"),
			Columns:       cols,
			Tests:         tests,
			Ingest:        t.Get("ingest"),
		}
		if st.Identifier == "" {
			st.Identifier = tn
		}
		if st.LoadedAtField == "" {
			st.LoadedAtField = s.LoadedAtField
		}
		s.Tables = append(s.Tables, st)
	}
	return s, errs.Err()
}
