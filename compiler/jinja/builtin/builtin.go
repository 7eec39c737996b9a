package builtin

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/kilnhq/kiln/compiler/jinja"
)

//go:embed *.sql
var sqlFiles embed.FS

// PathPrefix is prepended to each file name to form SourceFile.Path.
const PathPrefix = "kiln/builtin/"

// Files returns the built-in macro files, in name order, with paths
// "kiln/builtin/<file>.sql".
func Files() ([]jinja.SourceFile, error) {
	names, err := fs.Glob(sqlFiles, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("listing built-in macros: %w", err)
	}
	out := make([]jinja.SourceFile, 0, len(names))
	for _, n := range names {
		b, err := sqlFiles.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("reading built-in macros %s: %w", n, err)
		}
		out = append(out, jinja.SourceFile{Path: PathPrefix + n, Source: string(b)})
	}
	return out, nil
}
