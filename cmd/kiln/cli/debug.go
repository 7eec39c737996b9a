package cli

import (
	"fmt"
)

func (a *app) debug() error {
	s, err := a.load("debug")
	if err != nil {
		return err
	}
	p := s.target.Profile
	fmt.Fprintf(a.stdout, "project:  %s (%s)\n", s.project.Name, s.project.File)
	if s.target.File != "" {
		fmt.Fprintf(a.stdout, "profiles: %s\n", s.target.File)
	} else {
		fmt.Fprintf(a.stdout, "profiles: none found: using the embedded default warehouse\n")
	}
	fmt.Fprintf(a.stdout, "target:   %s (type %s, schema %s, threads %d)\n", s.target.Name, p.Type, p.Schema, p.Threads)
	switch p.Type {
	case "duckdb":
		fmt.Fprintf(a.stdout, "path:     %s\n", p.Path)
	default:
		fmt.Fprintf(a.stdout, "host:     %s:%d database %s user %s\n", p.Host, p.Port, p.DBName, p.User)
	}
	wh, err := s.open(a.ctx)
	if err != nil {
		fmt.Fprintf(a.stdout, "connection: FAILED\n")
		return err
	}
	defer wh.Close()
	if _, err := wh.Exec(a.ctx, "select 1"); err != nil {
		fmt.Fprintf(a.stdout, "connection: FAILED\n")
		return &exitError{code: ExitFailed, err: err}
	}
	fmt.Fprintf(a.stdout, "connection: OK\nAll checks passed!\n")
	return nil
}
