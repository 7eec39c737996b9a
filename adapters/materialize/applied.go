package materialize

import (
	"context"

	"github.com/kilnhq/kiln/adapters"
)

// Applied is what a builder did.
type Applied struct {
	// Result is what the build reported: rows in the new table ("SELECT"),
	// rows loaded by a seed ("INSERT"), or "CREATE VIEW".
	Result adapters.Result
	// SQL lists the statements run, in order, including those of a failed
	// build up to the failure.
	SQL []string
}

// recorder runs statements and remembers them.
type recorder struct {
	applied Applied
}

func (r *recorder) exec(ctx context.Context, ex adapters.Execer, sql string) (adapters.Result, error) {
	r.applied.SQL = append(r.applied.SQL, sql)
	return ex.Exec(ctx, sql)
}

func (r *recorder) note(s string) { r.applied.SQL = append(r.applied.SQL, s) }
