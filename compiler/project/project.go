package project

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/internal/pool"
)

// ProjectFiles are the names kiln accepts for the project file, in order.
var projectFileNames = []string{"kiln_project.yml", "dbt_project.yml"}

// Project is a loaded project.
type Project struct {
	Root string // absolute project directory
	File string // project file name relative to Root

	Name    string
	Profile string // "" when the project names none

	ModelPaths    []string
	SeedPaths     []string
	TestPaths     []string
	MacroPaths    []string
	SnapshotPaths []string
	AnalysisPaths []string
	TargetPath    string
	CleanTargets  []string

	Vars map[string]any // global and this project's vars merged

	// Config trees from the project file (may be nil).
	ModelsConfig    *Node
	SeedsConfig     *Node
	TestsConfig     *Node
	SnapshotsConfig *Node

	OnRunStart []string
	OnRunEnd   []string

	Models   []*File // .sql under model paths
	Analyses []*File
	Macros   []*File // .sql under macro paths
	Tests    []*File // singular tests: .sql under test paths (not tests/generic)
	Generic  []*File // .sql under test paths' generic/ folders
	Seeds    []*File // .csv under seed paths (Source not read)
	Snaps    []*File // .sql under snapshot paths
	Schemas  []*File // .yml/.yaml under model, seed, snapshot, analysis and test paths

	// Patches and sources parsed from schema files.
	ModelPatches    map[string]*Patch
	SeedPatches     map[string]*Patch
	SnapshotPatches map[string]*Patch // `snapshots:` in schema files (dbt 1.9 YAML snapshots when Relation is set)
	Sources         []*Source
}

// File is one project file. Path is relative to the project root with
// forward slashes; Source is its contents (empty for seeds).
type File struct {
	Path   string
	Source string
}

// Abs returns the absolute path of f in p.
func (p *Project) Abs(f string) string { return filepath.Join(p.Root, filepath.FromSlash(f)) }

// LoadOptions are the inputs Load needs besides the directory.
type LoadOptions struct {
	// Render renders Jinja in project-file string values (env_var, var);
	// nil leaves them as written.
	Render func(src string, pos diag.Pos) (string, error)
	// Vars are --vars overrides.
	Vars map[string]any
}

// Load reads the project in dir. All problems found are returned together as
// a diag.List.
func Load(dir string, opts LoadOptions) (*Project, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving project directory: %w", err)
	}
	p := &Project{Root: root}
	var src []byte
	for _, name := range projectFileNames {
		src, err = os.ReadFile(filepath.Join(root, name))
		if err == nil {
			p.File = name
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading project file: %w", err)
		}
	}
	if p.File == "" {
		return nil, diag.At(diag.Pos{File: dir}, "no dbt_project.yml or kiln_project.yml in this directory (use --project-dir, or `kiln init NAME` to start a project)")
	}
	doc, err := ParseYAML(p.File, src)
	if err != nil {
		return nil, err
	}
	var errs diag.List
	errs.Add(p.readProjectFile(doc, opts))
	if err := errs.Err(); err != nil {
		return nil, err
	}
	errs.Add(p.discover())
	errs.Add(p.loadSchemas())
	return p, errs.Err()
}

func (p *Project) readProjectFile(doc *Node, opts LoadOptions) error {
	var errs diag.List
	if doc.Kind != MapNode {
		return diag.At(doc.Pos, "the project file must be a YAML mapping")
	}
	str := func(key string) string {
		n := doc.Get(key)
		if n == nil {
			return ""
		}
		s := n.String()
		if opts.Render != nil && strings.Contains(s, "{{") {
			out, err := opts.Render(s, n.Pos)
			if err != nil {
				errs.Add(err)
				return s
			}
			return out
		}
		return s
	}
	paths := func(defaults []string, keys ...string) []string {
		for _, k := range keys {
			if n := doc.Get(k); n != nil {
				l, err := n.StringList()
				errs.Add(err)
				return l
			}
		}
		return defaults
	}
	p.Name = str("name")
	if p.Name == "" {
		errs.Addf(diag.Pos{File: p.File, Line: 1}, "the project file needs a `name:`")
	}
	p.Profile = str("profile")
	p.ModelPaths = paths([]string{"models"}, "model-paths", "source-paths")
	p.SeedPaths = paths([]string{"seeds"}, "seed-paths", "data-paths")
	p.TestPaths = paths([]string{"tests"}, "test-paths")
	p.MacroPaths = paths([]string{"macros"}, "macro-paths")
	p.SnapshotPaths = paths([]string{"snapshots"}, "snapshot-paths")
	p.AnalysisPaths = paths([]string{"analyses"}, "analysis-paths")
	p.TargetPath = str("target-path")
	if p.TargetPath == "" {
		p.TargetPath = "target"
	}
	p.CleanTargets = paths([]string{p.TargetPath}, "clean-targets")
	p.ModelsConfig = doc.Get("models")
	p.SeedsConfig = doc.Get("seeds")
	p.SnapshotsConfig = doc.Get("snapshots")
	p.TestsConfig = doc.Get("data_tests")
	if p.TestsConfig == nil {
		p.TestsConfig = doc.Get("tests")
	}
	for _, k := range []string{"on-run-start", "on-run-end"} {
		l, err := doc.Get(k).StringList()
		errs.Add(err)
		if k == "on-run-start" {
			p.OnRunStart = l
		} else {
			p.OnRunEnd = l
		}
	}
	p.Vars = map[string]any{}
	if v := doc.Get("vars"); v != nil && v.Kind == MapNode {
		// Global vars are plain keys; a key naming this project holds
		// project-scoped vars, which win.
		for _, k := range v.Keys {
			if k == p.Name && v.Map[k].Kind == MapNode {
				continue
			}
			p.Vars[k] = v.Map[k].Value()
		}
		if scoped := v.Get(p.Name); scoped != nil && scoped.Kind == MapNode {
			for _, k := range scoped.Keys {
				p.Vars[k] = scoped.Map[k].Value()
			}
		}
	} else if v != nil && !v.IsNull() {
		errs.Addf(v.Pos, "`vars:` must be a mapping")
	}
	for k, v := range opts.Vars {
		p.Vars[k] = v
	}
	return errs.Err()
}

// discover walks the configured paths and reads the files kiln needs.
func (p *Project) discover() error {
	var errs diag.List
	walk := func(dirs []string, exts []string, read bool, fn func(f *File)) {
		for _, d := range dirs {
			base := filepath.Join(p.Root, filepath.FromSlash(d))
			// Walk first, then read the files found in parallel; files are
			// handed to fn in walk order, stopping at the first unreadable
			// one as a sequential walk would.
			var found []*File
			var abs []string
			err := filepath.WalkDir(base, func(path string, de fs.DirEntry, err error) error {
				if err != nil {
					if errors.Is(err, fs.ErrNotExist) && path == base {
						return filepath.SkipDir
					}
					return err
				}
				if de.IsDir() {
					if strings.HasPrefix(de.Name(), ".") && path != base {
						return filepath.SkipDir
					}
					return nil
				}
				ext := strings.ToLower(filepath.Ext(path))
				match := false
				for _, e := range exts {
					if e == ext {
						match = true
					}
				}
				if !match {
					return nil
				}
				rel, err := filepath.Rel(p.Root, path)
				if err != nil {
					return err
				}
				found = append(found, &File{Path: filepath.ToSlash(rel)})
				abs = append(abs, path)
				return nil
			})
			if read {
				if n, rerr := readAll(found, abs); rerr != nil {
					found, err = found[:n], rerr
				}
			}
			for _, f := range found {
				fn(f)
			}
			if err != nil {
				errs.Add(fmt.Errorf("reading %s: %w", d, err))
			}
		}
	}
	sqlExt := []string{".sql"}
	yml := []string{".yml", ".yaml"}
	walk(p.ModelPaths, sqlExt, true, func(f *File) { p.Models = append(p.Models, f) })
	walk(p.AnalysisPaths, sqlExt, true, func(f *File) { p.Analyses = append(p.Analyses, f) })
	walk(p.MacroPaths, sqlExt, true, func(f *File) { p.Macros = append(p.Macros, f) })
	walk(p.TestPaths, sqlExt, true, func(f *File) {
		if isGenericTestPath(f.Path) {
			p.Generic = append(p.Generic, f)
		} else {
			p.Tests = append(p.Tests, f)
		}
	})
	walk(p.SeedPaths, []string{".csv"}, false, func(f *File) { p.Seeds = append(p.Seeds, f) })
	walk(p.SnapshotPaths, sqlExt, true, func(f *File) { p.Snaps = append(p.Snaps, f) })
	schemaDirs := append(append(append([]string{}, p.ModelPaths...), p.SeedPaths...), p.AnalysisPaths...)
	schemaDirs = append(append(schemaDirs, p.SnapshotPaths...), p.TestPaths...)
	seen := map[string]bool{}
	walk(schemaDirs, yml, true, func(f *File) {
		if !seen[f.Path] {
			seen[f.Path] = true
			p.Schemas = append(p.Schemas, f)
		}
	})
	for _, l := range [][]*File{p.Models, p.Analyses, p.Macros, p.Tests, p.Generic, p.Seeds, p.Snaps, p.Schemas} {
		sort.Slice(l, func(i, j int) bool { return l[i].Path < l[j].Path })
	}
	return errs.Err()
}

// readAll reads abs[i] into files[i].Source using a few goroutines. On
// failure it returns the index of the first unreadable file and its error.
func readAll(files []*File, abs []string) (int, error) {
	errs := make([]error, len(files))
	// Twice the cores: reads wait on the disk as much as they use the CPU.
	pool.Each(context.Background(), len(files), 2*runtime.GOMAXPROCS(0), func(i int) {
		b, err := os.ReadFile(abs[i])
		if err != nil {
			errs[i] = err
			return
		}
		files[i].Source = string(b)
	})
	for i, err := range errs {
		if err != nil {
			return i, err
		}
	}
	return len(files), nil
}

func isGenericTestPath(path string) bool {
	for _, part := range strings.Split(path, "/") {
		if part == "generic" {
			return true
		}
	}
	return false
}

// RelDir returns the path of f relative to the first of dirs that holds it,
// and that dir ("" when none does).
func RelDir(path string, dirs []string) (rel, dir string) {
	for _, d := range dirs {
		d = strings.TrimSuffix(filepath.ToSlash(filepath.Clean(d)), "/")
		if strings.HasPrefix(path, d+"/") {
			return strings.TrimPrefix(path, d+"/"), d
		}
	}
	return path, ""
}
