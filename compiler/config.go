package compiler

import (
	"strings"

	"github.com/kilnhq/kiln/compiler/project"
)

// mapValuedConfigs are config keys whose values are mappings, so a mapping
// under them is a value rather than a sub-folder.
var mapValuedConfigs = map[string]bool{
	"column_types": true, "persist_docs": true, "grants": true, "meta": true,
	"docs": true, "contract": true, "quoting": true, "vars": true,
}

// applyProjectConfig applies a dbt_project.yml config tree (models:, seeds:)
// to cfg along fqn: keys at each level apply to everything below it.
func applyProjectConfig(cfg *Config, tree *project.Node, fqn []string) {
	if tree == nil || tree.Kind != project.MapNode {
		return
	}
	level := tree
	applyLevel(cfg, level)
	for _, part := range fqn {
		next := level.Get(part)
		if next == nil || next.Kind != project.MapNode {
			return
		}
		level = next
		applyLevel(cfg, level)
	}
}

func applyLevel(cfg *Config, level *project.Node) {
	for _, k := range level.Keys {
		v := level.Map[k]
		key := k
		if strings.HasPrefix(k, "+") {
			key = k[1:]
		} else if v.Kind == project.MapNode && !mapValuedConfigs[k] {
			continue // a sub-folder
		} else if !knownConfig(k) {
			continue
		}
		cfg.Set(normaliseKey(key), v.Value(), level.KeyPos[k])
	}
}

func normaliseKey(k string) string {
	switch k {
	case "pre-hook":
		return "pre_hook"
	case "post-hook":
		return "post_hook"
	}
	return k
}

var knownConfigs = map[string]bool{
	"materialized": true, "schema": true, "database": true, "alias": true, "tags": true,
	"enabled": true, "column_types": true, "quote_columns": true, "pre-hook": true,
	"post-hook": true, "pre_hook": true, "post_hook": true, "persist_docs": true,
	"full_refresh": true, "unique_key": true, "on_schema_change": true, "grants": true,
	"meta": true, "docs": true, "incremental_strategy": true, "contract": true,
	"delimiter": true, "severity": true, "store_failures": true, "where": true,
	"limit": true, "warn_if": true, "error_if": true, "fail_calc": true, "sql_header": true,
	"bind": true, "indexes": true, "group": true, "access": true, "quoting": true,
}

func knownConfig(k string) bool { return knownConfigs[k] }

// applyMapConfig applies a schema-file `config:` mapping.
func applyMapConfig(cfg *Config, n *project.Node) {
	if n == nil || n.Kind != project.MapNode {
		return
	}
	for _, k := range n.Keys {
		cfg.Set(normaliseKey(strings.TrimPrefix(k, "+")), n.Map[k].Value(), n.KeyPos[k])
	}
}
