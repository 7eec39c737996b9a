package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	template "github.com/kilnhq/kiln/project-template"
)

// init scaffolds the template project into a new directory name.
func (a *app) init(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) {
		return invalid(fmt.Errorf("project name %q must be a plain directory name", name))
	}
	dir := filepath.Join(a.f.projectDir, name)
	if _, err := os.Stat(dir); err == nil {
		return invalid(fmt.Errorf("%s already exists; choose another name or remove it", dir))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	err := fs.WalkDir(template.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := template.FS.ReadFile(path)
		if err != nil {
			return err
		}
		if path == "dbt_project.yml" {
			b = []byte(strings.Replace(string(b), "name: shop", "name: "+projectName(name), 1))
			b = []byte(strings.Replace(string(b), "  shop:\n", "  "+projectName(name)+":\n", 1))
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	fmt.Fprintf(a.stdout, "Created project %s in %s.\nNext: cd %s && kiln build\n", projectName(name), dir, dir)
	return nil
}

// projectName turns a directory name into a valid project name.
func projectName(dir string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(dir) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteRune('_')
		}
	}
	s := b.String()
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		s = "p_" + s
	}
	return s
}
