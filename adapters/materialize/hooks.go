package materialize

import (
	"context"
	"fmt"

	"github.com/kilnhq/kiln/adapters"
)

// Hooks are SQL statements a builder runs inside its transaction: Pre right
// after BEGIN, Post after the new relation is in place and before COMMIT.
// They fail the build (and roll it back) like its own statements.
type Hooks struct {
	Pre  []string
	Post []string
}

type hooksKey struct{}

// WithHooks returns a context that makes the builders called with it run h
// inside their transaction. Hooks travel in the context so every builder
// (table, view, seed, incremental, snapshot) honours them without another
// parameter.
func WithHooks(ctx context.Context, h Hooks) context.Context {
	return context.WithValue(ctx, hooksKey{}, h)
}

func hooksOf(ctx context.Context) Hooks {
	h, _ := ctx.Value(hooksKey{}).(Hooks)
	return h
}

// runHooks runs the pre or post hooks of ctx in tx.
func runHooks(ctx context.Context, tx adapters.Execer, rec *recorder, post bool) error {
	h := hooksOf(ctx)
	list, kind := h.Pre, "pre-hook"
	if post {
		list, kind = h.Post, "post-hook"
	}
	for i, sql := range list {
		if _, err := rec.exec(ctx, tx, sql); err != nil {
			return fmt.Errorf("%s %d: %w", kind, i+1, err)
		}
	}
	return nil
}
