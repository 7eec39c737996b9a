package run

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/materialize"
	"github.com/kilnhq/kiln/compiler"
)

// strs reads a config value given as a string or a list of strings.
func strs(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" {
			return nil
		}
		return []string{x}
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

func incrementalOptions(n *compiler.Node, fullRefresh bool) materialize.IncrementalOptions {
	c := n.Config
	return materialize.IncrementalOptions{
		Strategy:              c.String("incremental_strategy"),
		UniqueKey:             strs(c.Values["unique_key"]),
		IncrementalPredicates: strs(c.Values["incremental_predicates"]),
		MergeUpdateColumns:    strs(c.Values["merge_update_columns"]),
		MergeExcludeColumns:   strs(c.Values["merge_exclude_columns"]),
		OnSchemaChange:        c.String("on_schema_change"),
		FullRefresh:           fullRefresh,
	}
}

func snapshotOptions(n *compiler.Node) materialize.SnapshotOptions {
	c := n.Config
	hard := c.String("hard_deletes")
	if hard == "" && c.Bool("invalidate_hard_deletes", false) {
		hard = "invalidate" // dbt's older spelling
	}
	return materialize.SnapshotOptions{
		Strategy:       c.String("strategy"),
		UniqueKey:      strs(c.Values["unique_key"]),
		UpdatedAt:      c.String("updated_at"),
		CheckCols:      strs(c.Values["check_cols"]),
		HardDeletes:    hard,
		ValidToCurrent: c.String("dbt_valid_to_current"),
	}
}

// hooks renders n's hooks and grants. It returns ctx carrying the hooks that
// run inside the build's transaction, having run the outside pre-hooks, and
// a function running the outside post-hooks.
func (b *Builder) hooks(ctx context.Context, n *compiler.Node, rel adapters.Relation) (context.Context, func(context.Context) error, error) {
	none := func(context.Context) error { return nil }
	pre, post, err := b.Compiler.NodeHooks(ctx, n, Introspector{W: b.Warehouse})
	if err != nil {
		return ctx, none, err
	}
	var inside materialize.Hooks
	var outsidePost []string
	for _, h := range pre {
		if h.Transaction {
			inside.Pre = append(inside.Pre, h.SQL)
			continue
		}
		if _, err := b.Warehouse.Exec(ctx, h.SQL); err != nil {
			return ctx, none, fmt.Errorf("pre-hook: %w", err)
		}
	}
	for _, h := range post {
		if h.Transaction {
			inside.Post = append(inside.Post, h.SQL)
		} else {
			outsidePost = append(outsidePost, h.SQL)
		}
	}
	grants, err := b.grantStatements(ctx, n, rel)
	if err != nil {
		return ctx, none, err
	}
	inside.Post = append(inside.Post, grants...)
	after := func(ctx context.Context) error {
		for _, sql := range outsidePost {
			if _, err := b.Warehouse.Exec(ctx, sql); err != nil {
				return fmt.Errorf("post-hook: %w", err)
			}
		}
		return nil
	}
	if len(inside.Pre)+len(inside.Post) == 0 {
		return ctx, after, nil
	}
	return materialize.WithHooks(ctx, inside), after, nil
}

// grantStatements turns a `grants:` config into statements that make the
// relation's privileges exactly those listed: revokes of what the live
// relation grants beyond the list, then grants. Only Postgres has grants;
// elsewhere the config is ignored, as dbt-duckdb does.
func (b *Builder) grantStatements(ctx context.Context, n *compiler.Node, rel adapters.Relation) ([]string, error) {
	cfg, ok := n.Config.Values["grants"].(map[string]any)
	if !ok || b.Warehouse.Dialect().Name() != "postgres" {
		return nil, nil
	}
	d := b.Warehouse.Dialect()
	want := map[string]map[string]bool{}
	for priv, v := range cfg {
		p := strings.ToLower(priv)
		want[p] = map[string]bool{}
		for _, g := range strs(v) {
			want[p][g] = true
		}
	}
	var stmts []string
	current, err := b.currentGrants(ctx, rel)
	if err != nil {
		return nil, err
	}
	for _, cg := range current {
		if !want[cg[0]][cg[1]] {
			stmts = append(stmts, fmt.Sprintf("revoke %s on %s from %s", cg[0], d.Render(rel), d.QuoteIdent(cg[1])))
		}
	}
	privs := make([]string, 0, len(want))
	for p := range want {
		privs = append(privs, p)
	}
	sort.Strings(privs)
	for _, p := range privs {
		var grantees []string
		for g := range want[p] {
			grantees = append(grantees, d.QuoteIdent(g))
		}
		sort.Strings(grantees)
		if len(grantees) > 0 {
			stmts = append(stmts, fmt.Sprintf("grant %s on %s to %s", p, d.Render(rel), strings.Join(grantees, ", ")))
		}
	}
	return stmts, nil
}

// currentGrants lists (privilege, grantee) pairs other roles hold on rel.
func (b *Builder) currentGrants(ctx context.Context, rel adapters.Relation) ([][2]string, error) {
	d := b.Warehouse.Dialect()
	q := fmt.Sprintf(`select lower(privilege_type), grantee from information_schema.role_table_grants
where table_schema = %s and table_name = %s and grantee <> current_user`, d.QuoteString(rel.Schema), d.QuoteString(rel.Identifier))
	rows, err := b.Warehouse.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("reading grants of %s: %w", d.Render(rel), err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			return nil, err
		}
		out = append(out, [2]string{fmt.Sprint(v[0]), fmt.Sprint(v[1])})
	}
	return out, rows.Err()
}
