// Package dag holds the node graph of a project (dominikbraun/graph): parents
// and children, topological order, cycle reports, and the ancestors and
// descendants that selection walks.
package dag

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dominikbraun/graph"
)

// Graph is a directed acyclic graph of node ids; edges point parent → child.
type Graph struct {
	g        graph.Graph[string, string]
	parents  map[string][]string
	children map[string][]string
}

// CycleError lists the nodes of a dependency cycle, in order.
type CycleError struct {
	Nodes []string
}

func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(append(e.Nodes, e.Nodes[0]), " → ")
}

// New builds a graph from each node's parents. Parents not in the map are
// ignored. It returns a *CycleError when the graph has a cycle.
func New(parents map[string][]string) (*Graph, error) {
	g := graph.New(graph.StringHash, graph.Directed())
	d := &Graph{g: g, parents: map[string][]string{}, children: map[string][]string{}}
	ids := make([]string, 0, len(parents))
	for id := range parents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		_ = g.AddVertex(id)
	}
	for _, id := range ids {
		for _, p := range parents[id] {
			if _, ok := parents[p]; !ok {
				continue
			}
			if err := g.AddEdge(p, id); err != nil && err != graph.ErrEdgeAlreadyExists {
				return nil, fmt.Errorf("adding edge %s → %s: %w", p, id, err)
			}
			d.parents[id] = append(d.parents[id], p)
			d.children[p] = append(d.children[p], id)
		}
	}
	for _, m := range []map[string][]string{d.parents, d.children} {
		for k := range m {
			sort.Strings(m[k])
		}
	}
	if cyc := d.findCycle(ids); cyc != nil {
		return nil, &CycleError{Nodes: cyc}
	}
	return d, nil
}

// findCycle returns one cycle's nodes, or nil.
func (d *Graph) findCycle(ids []string) []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(id string) bool
	visit = func(id string) bool {
		color[id] = grey
		stack = append(stack, id)
		for _, c := range d.children[id] {
			switch color[c] {
			case grey:
				for i, s := range stack {
					if s == c {
						found = append([]string{}, stack[i:]...)
					}
				}
				return true
			case white:
				if visit(c) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
		return false
	}
	for _, id := range ids {
		if color[id] == white && visit(id) {
			return found
		}
	}
	return nil
}

// Parents returns the direct parents of id.
func (d *Graph) Parents(id string) []string { return d.parents[id] }

// Children returns the direct children of id.
func (d *Graph) Children(id string) []string { return d.children[id] }

// Order returns every node in a topological order (ties by id).
func (d *Graph) Order() []string {
	order, err := graph.StableTopologicalSort(d.g, func(a, b string) bool { return a < b })
	if err != nil {
		return nil
	}
	return order
}

// Walk collects the nodes reachable from id through next, up to depth steps
// (depth < 0: no limit), excluding id itself.
func (d *Graph) walk(id string, depth int, next func(string) []string) []string {
	seen := map[string]bool{id: true}
	frontier := []string{id}
	var out []string
	for step := 0; len(frontier) > 0 && (depth < 0 || step < depth); step++ {
		var nf []string
		for _, f := range frontier {
			for _, n := range next(f) {
				if !seen[n] {
					seen[n] = true
					out = append(out, n)
					nf = append(nf, n)
				}
			}
		}
		frontier = nf
	}
	return out
}

// Ancestors returns id's ancestors up to depth generations (depth < 0: all).
func (d *Graph) Ancestors(id string, depth int) []string { return d.walk(id, depth, d.Parents) }

// Descendants returns id's descendants up to depth generations (depth < 0: all).
func (d *Graph) Descendants(id string, depth int) []string { return d.walk(id, depth, d.Children) }
