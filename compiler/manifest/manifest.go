// Package manifest writes target/manifest.json and target/run_results.json
// with dbt's field names, so tools that read dbt artifacts read kiln's.
package manifest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/kilnhq/kiln/compiler"
	"github.com/kilnhq/kiln/internal/pool"
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

// node is one manifest entry (models, seeds, analyses and sources share
// it; fields that do not apply are omitted).
type node struct {
	UniqueID         string         `json:"unique_id"`
	ResourceType     string         `json:"resource_type"`
	Name             string         `json:"name"`
	PackageName      string         `json:"package_name"`
	Path             string         `json:"path"`
	OriginalFilePath string         `json:"original_file_path"`
	FQN              []string       `json:"fqn"`
	Database         string         `json:"database"`
	Schema           string         `json:"schema"`
	Alias            string         `json:"alias,omitempty"`
	Identifier       string         `json:"identifier,omitempty"`
	SourceName       string         `json:"source_name,omitempty"`
	LoadedAtField    string         `json:"loaded_at_field,omitempty"`
	RelationName     string         `json:"relation_name"`
	Description      string         `json:"description"`
	Tags             []string       `json:"tags"`
	Config           map[string]any `json:"config"`
	RawCode          *string        `json:"raw_code,omitempty"`
	Language         string         `json:"language,omitempty"`
	Checksum         *checksum      `json:"checksum,omitempty"`
	DependsOn        *dependsOn     `json:"depends_on,omitempty"`
	Compiled         *bool          `json:"compiled,omitempty"`
	CompiledCode     string         `json:"compiled_code,omitempty"`
	CompiledPath     string         `json:"compiled_path,omitempty"`
	Columns          map[string]col `json:"columns"`
	// Tests only.
	TestMetadata *testMetadata `json:"test_metadata,omitempty"`
	ColumnName   *string       `json:"column_name,omitempty"`
	AttachedNode *string       `json:"attached_node,omitempty"`
}

type testMetadata struct {
	Name      string         `json:"name"`
	Kwargs    map[string]any `json:"kwargs"`
	Namespace *string        `json:"namespace"`
}

type checksum struct {
	Name     string `json:"name"`
	Checksum string `json:"checksum"`
}

type dependsOn struct {
	Nodes  []string `json:"nodes"`
	Macros []string `json:"macros"`
}

type col struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	DataType    *string `json:"data_type"`
}

// Write writes target/manifest.json for every node of c.
func Write(dir string, c *compiler.Compiler, m Meta) error {
	type entry struct {
		id     string
		source bool
		e      node
	}
	var entries []entry
	parents := map[string][]string{}
	children := map[string][]string{}
	for _, id := range c.SortedIDs() {
		n := c.Node(id)
		if _, ok := children[id]; !ok {
			children[id] = []string{}
		}
		parents[id] = nonNil(n.DependsOn)
		for _, p := range n.DependsOn {
			children[p] = append(children[p], id)
		}
		e := node{
			UniqueID: id, ResourceType: string(n.Type), Name: n.Name, PackageName: n.Package,
			Path: n.Path, OriginalFilePath: n.OriginalFilePath, FQN: n.FQN,
			Database: n.Database, Schema: n.Schema, RelationName: n.RelationName(),
			Description: n.Description, Tags: nonNil(n.Config.Tags()), Config: n.Config.Values,
			Columns: map[string]col{},
		}
		if n.Type == compiler.Source {
			e.SourceName, e.Identifier, e.LoadedAtField = n.SourceName, n.Alias, n.SourceTable.LoadedAtField
			for _, cs := range n.SourceTable.Columns {
				e.Columns[cs.Name] = col{Name: cs.Name, Description: cs.Description, DataType: strPtr(cs.DataType)}
			}
			entries = append(entries, entry{id, true, e})
			continue
		}
		compiled := n.Compiled != ""
		e.Alias, e.RawCode, e.Language = n.Alias, &n.Raw, "sql"
		e.Checksum = &checksum{Name: "sha256", Checksum: n.Checksum}
		e.DependsOn = &dependsOn{Nodes: nonNil(n.DependsOn), Macros: []string{}}
		e.Compiled = &compiled
		if compiled {
			e.CompiledCode = n.Compiled
			e.CompiledPath = filepath.ToSlash(c.CompiledPath(n))
		}
		if t := n.Test; t != nil {
			if t.Generic {
				e.TestMetadata = &testMetadata{Name: t.Name, Kwargs: t.Kwargs, Namespace: strPtr(t.Namespace)}
				e.ColumnName = strPtr(t.Column)
			}
			e.AttachedNode = strPtr(t.AttachedNode)
		}
		if n.Patch != nil {
			for _, cs := range n.Patch.Columns {
				e.Columns[cs.Name] = col{Name: cs.Name, Description: cs.Description, DataType: strPtr(cs.DataType)}
			}
		}
		entries = append(entries, entry{id, false, e})
	}
	for k := range children {
		sort.Strings(children[k])
	}
	// Encoding tens of thousands of entries is the slow part: do it on all
	// cores, then assemble the document from the encoded entries.
	raw := make([]json.RawMessage, len(entries))
	errs := make([]error, len(entries))
	pool.Each(context.Background(), len(entries), 0, func(i int) {
		raw[i], errs[i] = json.Marshal(entries[i].e)
	})
	for i, en := range entries {
		if errs[i] != nil {
			return fmt.Errorf("encoding manifest entry %s: %w", en.id, errs[i])
		}
	}
	// Entries are in id order; write the objects by hand so the encoded
	// entries are copied, not re-validated.
	object := func(w *bufio.Writer, sources bool) {
		w.WriteByte('{')
		first := true
		for i, en := range entries {
			if en.source != sources {
				continue
			}
			if !first {
				w.WriteByte(',')
			}
			first = false
			key, _ := json.Marshal(en.id)
			w.Write(key)
			w.WriteByte(':')
			w.Write(raw[i])
		}
		w.WriteByte('}')
	}
	return writeFile(filepath.Join(dir, "manifest.json"), func(w *bufio.Writer) error {
		parts := []struct {
			key   string
			value any
		}{{"metadata", metadata(m, "manifest/v12.json")}, {"nodes", nil}, {"sources", nil},
			{"macros", map[string]any{}}, {"docs", map[string]any{}}, {"exposures", map[string]any{}},
			{"metrics", map[string]any{}}, {"parent_map", parents}, {"child_map", children}}
		for i, p := range parts {
			if i == 0 {
				w.WriteByte('{')
			} else {
				w.WriteByte(',')
			}
			w.WriteString(`"` + p.key + `":`)
			switch p.key {
			case "nodes":
				object(w, false)
			case "sources":
				object(w, true)
			default:
				b, err := json.Marshal(p.value)
				if err != nil {
					return err
				}
				w.Write(b)
			}
		}
		_, err := w.WriteString("}\n")
		return err
	})
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
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
	return writeFile(path, func(w *bufio.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	})
}

// writeFile writes path through a temporary file renamed into place, so a
// reader never sees half a file.
func writeFile(path string, write func(w *bufio.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := write(w); err != nil {
		f.Close()
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
