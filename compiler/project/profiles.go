package project

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/compiler/diag"
)

// DefaultDuckDBFile is the embedded default warehouse file, relative to the
// project directory.
const DefaultDuckDBFile = "warehouse.duckdb"

// Target is the resolved connection target.
type Target struct {
	Name    string // target name ("default" for the embedded default)
	Profile adapters.Profile
	File    string // profiles.yml used, "" for the embedded default
}

// ProfileOptions locate and render profiles.yml.
type ProfileOptions struct {
	ProfilesDir string // --profiles-dir
	Target      string // --target
	Home        string // the user's home directory; "" skips ~/.kiln and ~/.dbt
	Render      func(src string, pos diag.Pos) (string, error)
}

// ResolveTarget finds the project's profile and target. With no profiles.yml
// anywhere (or a project that names no profile), it returns the embedded
// default: DuckDB in the project directory, schema main.
func ResolveTarget(p *Project, opts ProfileOptions) (*Target, error) {
	var dirs []string
	if opts.ProfilesDir != "" {
		dirs = append(dirs, opts.ProfilesDir)
	}
	dirs = append(dirs, p.Root)
	if opts.Home != "" {
		dirs = append(dirs, filepath.Join(opts.Home, ".kiln"), filepath.Join(opts.Home, ".dbt"))
	}
	var file string
	var src []byte
	for _, d := range dirs {
		path := filepath.Join(d, "profiles.yml")
		b, err := os.ReadFile(path)
		if err == nil {
			file, src = path, b
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
	}
	if opts.ProfilesDir != "" && file != filepath.Join(opts.ProfilesDir, "profiles.yml") {
		return nil, diag.At(diag.Pos{File: opts.ProfilesDir}, "no profiles.yml in --profiles-dir %s", opts.ProfilesDir)
	}
	if file == "" || p.Profile == "" {
		if opts.Target != "" && opts.Target != "default" {
			return nil, diag.At(diag.Pos{File: p.File}, "--target %s given but no profiles.yml was found (looked in %s)", opts.Target, strings.Join(dirs, ", "))
		}
		return &Target{Name: "default", Profile: adapters.Profile{
			Type: "duckdb", Path: filepath.Join(p.Root, DefaultDuckDBFile), Schema: "main", Threads: 4,
		}}, nil
	}
	doc, err := ParseYAML(file, src)
	if err != nil {
		return nil, err
	}
	prof := doc.Get(p.Profile)
	if prof == nil || prof.Kind != MapNode {
		var known []string
		if doc.Kind == MapNode {
			for _, k := range doc.Keys {
				if k != "config" {
					known = append(known, k)
				}
			}
		}
		d := diag.At(diag.Pos{File: file}, "profile %q (named in %s) is not in this profiles.yml", p.Profile, p.File)
		if s := diag.Closest(p.Profile, known); s != "" {
			d.Hint = fmt.Sprintf("did you mean %q?", s)
		} else if len(known) > 0 {
			d.Hint = "profiles here: " + strings.Join(known, ", ")
		}
		return nil, d
	}
	name := opts.Target
	if name == "" {
		name = prof.Get("target").String()
	}
	outputs := prof.Get("outputs")
	var known []string
	if outputs != nil && outputs.Kind == MapNode {
		known = outputs.Keys
	}
	if name == "" {
		return nil, diag.At(prof.Pos, "profile %q has no `target:`; pass --target (targets: %s)", p.Profile, strings.Join(known, ", "))
	}
	out := outputs.Get(name)
	if out == nil || out.Kind != MapNode {
		d := diag.At(prof.Pos, "target %q not found in profile %q", name, p.Profile)
		if len(known) > 0 {
			d.Hint = "targets: " + strings.Join(known, ", ")
		}
		return nil, d
	}
	t := &Target{Name: name, File: file}
	if err := t.fill(out, opts.Render); err != nil {
		return nil, err
	}
	if t.Profile.Type == "duckdb" && t.Profile.Path != "" && t.Profile.Path != ":memory:" && !filepath.IsAbs(t.Profile.Path) {
		t.Profile.Path = filepath.Join(p.Root, t.Profile.Path)
	}
	return t, nil
}

func (t *Target) fill(out *Node, render func(string, diag.Pos) (string, error)) error {
	var errs diag.List
	get := func(key string) string {
		n := out.Get(key)
		if n == nil {
			return ""
		}
		s := n.String()
		if render != nil && strings.Contains(s, "{{") {
			r, err := render(s, n.Pos)
			if err != nil {
				errs.Add(err)
				return ""
			}
			s = r
		}
		return strings.TrimSpace(s)
	}
	num := func(key string) int {
		s := get(key)
		if s == "" {
			return 0
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			errs.Addf(out.Get(key).Pos, "`%s:` must be a number, got %q", key, s)
		}
		return v
	}
	pr := &t.Profile
	pr.Type = get("type")
	pr.Threads = num("threads")
	pr.Schema = get("schema")
	switch pr.Type {
	case "postgres", "redshift":
		pr.Host = get("host")
		pr.Port = num("port")
		pr.User = get("user")
		pr.Password = get("password")
		if pr.Password == "" {
			pr.Password = get("pass")
		}
		pr.DBName = get("dbname")
		if pr.DBName == "" {
			pr.DBName = get("database")
		}
		pr.SSLMode = get("sslmode")
		pr.ConnectTimeout = num("connect_timeout")
		pr.SearchPath = get("search_path")
		if pr.Port == 0 {
			pr.Port = 5432
		}
		if pr.Schema == "" {
			errs.Addf(out.Pos, "target %q needs a `schema:`", t.Name)
		}
	case "duckdb":
		pr.Path = get("path")
		if pr.Path == "" {
			pr.Path = ":memory:"
		}
		if pr.Schema == "" {
			pr.Schema = "main"
		}
		exts, err := out.Get("extensions").StringList()
		errs.Add(err)
		pr.Extensions = exts
		if s := out.Get("settings"); s != nil && s.Kind == MapNode {
			pr.Settings = map[string]string{}
			for _, k := range s.Keys {
				pr.Settings[k] = s.Map[k].String()
			}
		}
	case "":
		errs.Addf(out.Pos, "target %q has no `type:` (postgres or duckdb)", t.Name)
	default:
		errs.Addf(out.Get("type").Pos, "unsupported warehouse type %q (kiln supports postgres and duckdb)", pr.Type)
	}
	if pr.Threads <= 0 {
		pr.Threads = 1
	}
	return errs.Err()
}

// SortedKeys returns m's keys sorted.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
