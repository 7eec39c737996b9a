// Package selector implements the --select / --exclude grammar: names,
// methods (tag:, path:, source:, resource_type:, fqn:), and the graph
// operators `+` (with optional depth) and `@`.
package selector

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/dag"
)

// Node is what selection needs to know about a node.
type Node struct {
	ID         string
	Name       string
	Type       string // model, seed, source, analysis, test
	Path       string // original file path
	FQN        []string
	Tags       []string
	SourceName string
}

// Select returns the ids chosen by selectors minus those chosen by excludes,
// sorted. Empty selectors select every node. Each selector string may hold
// several space-separated selectors (union).
func Select(g *dag.Graph, nodes []Node, selectors, excludes []string) ([]string, error) {
	chosen := map[string]bool{}
	sels := split(selectors)
	if len(sels) == 0 {
		for _, n := range nodes {
			chosen[n.ID] = true
		}
	}
	for _, s := range sels {
		ids, err := one(g, nodes, s)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			chosen[id] = true
		}
	}
	for _, s := range split(excludes) {
		ids, err := one(g, nodes, s)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			delete(chosen, id)
		}
	}
	out := make([]string, 0, len(chosen))
	for id := range chosen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, nil
}

func split(l []string) []string {
	var out []string
	for _, s := range l {
		out = append(out, strings.Fields(s)...)
	}
	return out
}

// one evaluates a single selector (intersections with ',' are supported).
func one(g *dag.Graph, nodes []Node, sel string) ([]string, error) {
	if strings.Contains(sel, ",") {
		var result map[string]bool
		for _, part := range strings.Split(sel, ",") {
			ids, err := one(g, nodes, part)
			if err != nil {
				return nil, err
			}
			set := map[string]bool{}
			for _, id := range ids {
				if result == nil || result[id] {
					set[id] = true
				}
			}
			result = set
		}
		var out []string
		for id := range result {
			out = append(out, id)
		}
		return out, nil
	}
	m := opRe.FindStringSubmatch(sel)
	at, body := m[1] == "@", m[3]
	up, down := 0, 0
	if m[2] != "" {
		up = depth(m[2])
	}
	if m[4] != "" {
		down = depth(m[4])
	}
	base, err := match(nodes, body)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, id := range base {
		set[id] = true
		if up != 0 {
			for _, a := range g.Ancestors(id, up) {
				set[a] = true
			}
		}
		if at {
			down = -1
		}
		if down != 0 {
			for _, d := range g.Descendants(id, down) {
				set[d] = true
				if at {
					for _, a := range g.Ancestors(d, -1) {
						set[a] = true
					}
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	return out, nil
}

var opRe = regexp.MustCompile(`^(@)?(\d*\+)?(.*?)(\+\d*)?$`)

// depth turns "+", "2+" or "+3" into a depth: 0 none, -1 unlimited.
func depth(op string) int {
	op = strings.Trim(op, "+")
	if op == "" {
		return -1
	}
	d, _ := strconv.Atoi(op)
	return d
}

// match evaluates a selector without graph operators.
func match(nodes []Node, s string) ([]string, error) {
	method, value := "", s
	if i := strings.Index(s, ":"); i > 0 {
		method, value = s[:i], s[i+1:]
	}
	var out []string
	for _, n := range nodes {
		ok := false
		switch method {
		case "":
			ok = n.Name == value || fqnMatch(n.FQN, value) || (n.Type == "source" && n.SourceName+"."+n.Name == value)
			if !ok && strings.ContainsAny(value, "/") {
				ok = pathMatch(n.Path, value)
			}
		case "tag":
			for _, t := range n.Tags {
				if t == value {
					ok = true
				}
			}
		case "path":
			ok = pathMatch(n.Path, value)
		case "source":
			ok = n.Type == "source" && (n.SourceName == value || n.SourceName+"."+n.Name == value || value == "*")
		case "resource_type":
			ok = n.Type == value
		case "fqn":
			ok = fqnMatch(n.FQN, value)
		default:
			return nil, fmt.Errorf("unknown selector method %q in %q (known: tag, path, source, resource_type, fqn)", method, s)
		}
		if ok {
			out = append(out, n.ID)
		}
	}
	if len(out) == 0 && method == "" {
		var names []string
		for _, n := range nodes {
			names = append(names, n.Name)
		}
		msg := fmt.Sprintf("--select %q matches no node", s)
		if c := diag.Closest(value, names); c != "" {
			msg += fmt.Sprintf(" (did you mean `%s`?)", c)
		}
		return nil, &NoMatchError{Msg: msg}
	}
	return out, nil
}

// NoMatchError says a plain name selector matched nothing.
type NoMatchError struct{ Msg string }

func (e *NoMatchError) Error() string { return e.Msg }

func pathMatch(p, value string) bool {
	value = strings.TrimSuffix(value, "/")
	if p == value || strings.HasPrefix(p, value+"/") {
		return true
	}
	ok, _ := path.Match(value, p)
	return ok
}

// fqnMatch matches dotted names: "staging.stg_orders", "staging.*", "proj.staging".
func fqnMatch(fqn []string, value string) bool {
	parts := strings.Split(value, ".")
	for start := 0; start <= 1 && start < len(fqn); start++ {
		rest := fqn[start:]
		if len(parts) > len(rest) {
			continue
		}
		ok := true
		for i, p := range parts {
			if p == "*" {
				return ok
			}
			if rest[i] != p {
				ok = false
				break
			}
		}
		if ok && len(parts) > 1 {
			return true
		}
	}
	return false
}
