package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/kilnhq/kiln/compiler/diag"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailed  = 1 // a node failed
	ExitInvalid = 2 // bad invocation or project
	ExitCancel  = 130
)

// flags are the options shared by commands, with dbt's names.
type flags struct {
	projectDir  string
	profilesDir string
	target      string
	threads     int
	vars        string
	selects     []string
	excludes    []string
	fullRefresh bool
	lockTimeout time.Duration
	logFormat   string
	// show
	inline string
	limit  int
	// ls
	resourceType string
	output       string
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func invalid(err error) error { return &exitError{code: ExitInvalid, err: err} }

// Run runs kiln with args and returns the exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := &flags{}
	app := &app{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, f: f, env: environ()}
	root := &cobra.Command{
		Use:           "kiln",
		Short:         "kiln builds dbt projects: load raw data, build models, test them",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&f.projectDir, "project-dir", ".", "directory holding dbt_project.yml or kiln_project.yml")
	pf.StringVar(&f.profilesDir, "profiles-dir", "", "directory holding profiles.yml")
	pf.StringVarP(&f.target, "target", "t", "", "profile target to use")
	pf.IntVar(&f.threads, "threads", 0, "worker threads (default: the profile's)")
	pf.StringVar(&f.vars, "vars", "", "YAML mapping of variables, e.g. '{start: 2024-01-01}'")
	pf.StringVar(&f.logFormat, "log-format", "text", "text or json")
	selectable := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringArrayVarP(&f.selects, "select", "s", nil, "nodes to include (names, +parents, children+, tag:x, path:x)")
		c.Flags().StringArrayVar(&f.excludes, "exclude", nil, "nodes to leave out")
		c.Flags().BoolVar(&f.fullRefresh, "full-refresh", false, "rebuild incremental models and seeds from scratch")
		c.Flags().DurationVar(&f.lockTimeout, "lock-timeout", 0, "how long to wait for another kiln run writing the same target, e.g. 5m (default: fail at once)")
		return c
	}
	root.AddCommand(
		&cobra.Command{Use: "init NAME", Short: "scaffold a new project", Args: cobra.ExactArgs(1), RunE: func(c *cobra.Command, a []string) error { return app.init(a[0]) }},
		&cobra.Command{Use: "debug", Short: "check the project, profile and connection", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return app.debug() }},
		&cobra.Command{Use: "parse", Short: "parse the project and write target/manifest.json", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return app.parse() }},
		selectable(&cobra.Command{Use: "compile", Short: "render models to target/compiled", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return app.compile() }}),
		selectable(&cobra.Command{Use: "run", Short: "build models", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return app.execute("run") }}),
		selectable(&cobra.Command{Use: "seed", Short: "load seed CSV files", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return app.execute("seed") }}),
		selectable(&cobra.Command{Use: "ingest", Short: "load raw source tables declared with `ingest:`", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return app.execute("ingest") }}),
		selectable(&cobra.Command{Use: "snapshot", Short: "record changes of mutable tables as history (SCD type 2)", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return app.execute("snapshot") }}),
		selectable(&cobra.Command{Use: "test", Short: "run data tests", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return app.execute("test") }}),
		selectable(&cobra.Command{Use: "build", Short: "seed, build and test everything in DAG order", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return app.execute("build") }}),
		&cobra.Command{Use: "clean", Short: "delete the clean-targets folders", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return app.clean() }},
	)
	ls := selectable(&cobra.Command{Use: "ls", Aliases: []string{"list"}, Short: "list nodes", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return app.ls() }})
	ls.Flags().StringVar(&f.resourceType, "resource-type", "", "model, seed, source or analysis")
	ls.Flags().StringVarP(&f.output, "output", "o", "selector", "selector, name, path or json")
	root.AddCommand(ls)
	show := selectable(&cobra.Command{Use: "show", Short: "preview rows of a model or an inline query", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return app.show() }})
	show.Flags().StringVar(&f.inline, "inline", "", "SQL to preview instead of a model")
	show.Flags().IntVar(&f.limit, "limit", 5, "rows to show")
	root.AddCommand(show)
	root.AddCommand(app.sourceCommand())

	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	code := ExitInvalid
	if errors.As(err, &ee) {
		code = ee.code
		err = ee.err
	}
	if ctx.Err() != nil {
		code = ExitCancel
	}
	if err != nil {
		app.printError(err)
	}
	return code
}

type app struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	f      *flags
	env    map[string]string
}

func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if i := strings.IndexByte(kv, '='); i > 0 {
			env[kv[:i]] = kv[i+1:]
		}
	}
	return env
}

func (a *app) parseVars() (map[string]any, error) {
	if strings.TrimSpace(a.f.vars) == "" {
		return nil, nil
	}
	var v map[string]any
	if err := yaml.Unmarshal([]byte(a.f.vars), &v); err != nil {
		return nil, invalid(fmt.Errorf("--vars must be a YAML mapping such as '{key: value}': %v", firstLine(err.Error())))
	}
	return v, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (a *app) printError(err error) {
	var l diag.List
	if errors.As(err, &l) {
		for _, d := range l {
			fmt.Fprintf(a.stderr, "error: %s\n", d.Error())
		}
		if len(l) > 1 {
			fmt.Fprintf(a.stderr, "%d errors\n", len(l))
		}
		return
	}
	fmt.Fprintf(a.stderr, "error: %s\n", err)
}
