// Package manifest writes target/manifest.json and target/run_results.json
// with dbt's field names, so tools that read dbt artifacts read kiln's.
package manifest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/kilnhq/kiln/compiler"
)

// Meta is the artifact metadata block.
type Meta struct {
	InvocationID string
	GeneratedAt  time.Time
	Target       string
	AdapterType  string
	Version      string
}

func metadata(m Meta, schema string) map[string]any {
	return map[string]any{
		"dbt_schema_version": "https://schemas.getdbt.com/dbt/" + schema,
		"dbt_version":        m.Version,
		"generated_at":       m.GeneratedAt.Format(time.RFC3339Nano),
		"invocation_id":      m.InvocationID,
		"adapter_type":       m.AdapterType,
		"env":                map[string]any{},
	}
}

// Write writes target/manifest.json for every node of c.
func Write(dir string, c *compiler.Compiler, m Meta) error {
	nodes := map[string]any{}
	sources := map[string]any{}
	parents := map[string][]string{}
	children := map[string][]string{}
	for _, id := range c.SortedIDs() {
		n := c.Node(id)
		if _, ok := children[id]; !ok {
			children[id] = []string{}
		}
		parents[id] = append([]string{}, n.DependsOn...)
		for _, p := range n.DependsOn {
			children[p] = append(children[p], id)
		}
		entry := map[string]any{
			"unique_id":          id,
			"resource_type":      string(n.Type),
			"name":               n.Name,
			"package_name":       n.Package,
			"path":               n.Path,
			"original_file_path": n.OriginalFilePath,
			"fqn":                n.FQN,
			"database":           n.Database,
			"schema":             n.Schema,
			"description":        n.Description,
			"tags":               nonNil(n.Config.Tags()),
			"config":             n.Config.Values,
		}
		if n.Type == compiler.Source {
			entry["source_name"] = n.SourceName
			entry["identifier"] = n.Alias
			entry["relation_name"] = n.RelationName()
			entry["loaded_at_field"] = n.SourceTable.LoadedAtField
			sources[id] = entry
			continue
		}
		entry["alias"] = n.Alias
		entry["relation_name"] = n.RelationName()
		entry["raw_code"] = n.Raw
		entry["language"] = "sql"
		entry["checksum"] = map[string]any{"name": "sha256", "checksum": n.Checksum}
		entry["depends_on"] = map[string]any{"nodes": nonNil(n.DependsOn), "macros": []string{}}
		if n.Compiled != "" {
			entry["compiled"] = true
			entry["compiled_code"] = n.Compiled
			entry["compiled_path"] = filepath.ToSlash(c.CompiledPath(n))
		} else {
			entry["compiled"] = false
		}
		cols := map[string]any{}
		if n.Patch != nil {
			for _, col := range n.Patch.Columns {
				cols[col.Name] = map[string]any{"name": col.Name, "description": col.Description, "data_type": nilIfEmpty(col.DataType)}
			}
		}
		entry["columns"] = cols
		nodes[id] = entry
	}
	for k := range children {
		sort.Strings(children[k])
	}
	doc := map[string]any{
		"metadata":   metadata(m, "manifest/v12.json"),
		"nodes":      nodes,
		"sources":    sources,
		"macros":     map[string]any{},
		"docs":       map[string]any{},
		"exposures":  map[string]any{},
		"metrics":    map[string]any{},
		"parent_map": parents,
		"child_map":  children,
	}
	return writeJSON(filepath.Join(dir, "manifest.json"), doc)
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Result is one node's entry in run_results.json.
type Result struct {
	UniqueID      string
	Status        string
	Started       time.Time
	Completed     time.Time
	ExecutionTime float64
	Message       string
	Failures      *int64
	RowsAffected  int64
	Code          string
	CompiledCode  string
	RelationName  string
}

// WriteRunResults writes target/run_results.json.
func WriteRunResults(dir string, m Meta, elapsed time.Duration, args map[string]any, results []Result) error {
	sort.Slice(results, func(i, j int) bool { return results[i].UniqueID < results[j].UniqueID })
	out := make([]any, 0, len(results))
	for _, r := range results {
		timing := []any{}
		if !r.Started.IsZero() {
			timing = []any{
				map[string]any{"name": "compile", "started_at": r.Started.UTC().Format(time.RFC3339Nano), "completed_at": r.Started.UTC().Format(time.RFC3339Nano)},
				map[string]any{"name": "execute", "started_at": r.Started.UTC().Format(time.RFC3339Nano), "completed_at": r.Completed.UTC().Format(time.RFC3339Nano)},
			}
		}
		var msg any = r.Message
		if r.Message == "" {
			msg = nil
		}
		var failures any
		if r.Failures != nil {
			failures = *r.Failures
		}
		out = append(out, map[string]any{
			"unique_id":        r.UniqueID,
			"status":           r.Status,
			"timing":           timing,
			"thread_id":        "Thread-1",
			"execution_time":   r.ExecutionTime,
			"message":          msg,
			"failures":         failures,
			"adapter_response": map[string]any{"_message": fmt.Sprintf("%s %d", r.Code, r.RowsAffected), "code": r.Code, "rows_affected": r.RowsAffected},
			"compiled":         r.CompiledCode != "",
			"compiled_code":    r.CompiledCode,
			"relation_name":    nilIfEmpty(r.RelationName),
		})
	}
	doc := map[string]any{
		"metadata":     metadata(m, "run-results/v6.json"),
		"results":      out,
		"elapsed_time": elapsed.Seconds(),
		"args":         args,
	}
	return writeJSON(filepath.Join(dir, "run_results.json"), doc)
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
