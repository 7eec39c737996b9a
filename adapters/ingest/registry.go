package ingest

import (
	"fmt"
	"sort"
	"strings"
)

// Registry holds the connectors a kiln binary knows, by name. Build one in
// cmd with NewRegistry; there is no global registry.
type Registry struct {
	byName map[string]Connector
}

// NewRegistry returns a registry of cs. A duplicate or empty name panics:
// that is a programming error in the binary, not a user error.
func NewRegistry(cs ...Connector) *Registry {
	r := &Registry{byName: make(map[string]Connector, len(cs))}
	for _, c := range cs {
		if c.Name == "" {
			panic("ingest: connector with an empty name")
		}
		if _, dup := r.byName[c.Name]; dup {
			panic(fmt.Sprintf("ingest: connector %q registered twice", c.Name))
		}
		r.byName[c.Name] = c
	}
	return r
}

// Get returns the connector named name, or an error listing the known ones.
func (r *Registry) Get(name string) (Connector, error) {
	if c, ok := r.byName[name]; ok {
		return c, nil
	}
	known := r.Names()
	if len(known) == 0 {
		return Connector{}, fmt.Errorf("unknown ingest connector %q (no connectors are registered)", name)
	}
	return Connector{}, fmt.Errorf("unknown ingest connector %q (known: %s)", name, strings.Join(known, ", "))
}

// Names lists the registered connector names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
