package compiler

import (
	"context"
	"fmt"
	"strings"

	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/jinja"
)

// Hook is one rendered pre- or post-hook.
type Hook struct {
	SQL string
	// Transaction is dbt's flag: true runs the hook inside the build's
	// transaction, false before BEGIN (pre) or after COMMIT (post).
	Transaction bool
}

// NodeHooks renders n's pre_hook and post_hook configs with its execute-time
// context.
func (c *Compiler) NodeHooks(ctx context.Context, n *Node, adapter jinja.Adapter) (pre, post []Hook, err error) {
	if pre, err = c.renderHooks(ctx, n, "pre_hook", adapter); err != nil {
		return nil, nil, err
	}
	post, err = c.renderHooks(ctx, n, "post_hook", adapter)
	return pre, post, err
}

func (c *Compiler) renderHooks(ctx context.Context, n *Node, key string, adapter jinja.Adapter) ([]Hook, error) {
	items, _ := n.Config.Values[key].([]any)
	var out []Hook
	for i, item := range items {
		h := Hook{Transaction: true}
		switch x := item.(type) {
		case string:
			h.SQL = x
		case map[string]any:
			h.SQL, _ = x["sql"].(string)
			if t, ok := x["transaction"].(bool); ok {
				h.Transaction = t
			}
		default:
			return nil, diag.At(n.Config.Pos[key], "%s %d of %s must be SQL or {sql: ..., transaction: ...}", key, i+1, n.Name)
		}
		sql, err := c.renderString(ctx, n, fmt.Sprintf("%s (%s %d)", n.OriginalFilePath, key, i+1), h.SQL, adapter, nil)
		if err != nil {
			return nil, err
		}
		if h.SQL = strings.TrimSpace(sql); h.SQL != "" {
			out = append(out, h)
		}
	}
	return out, nil
}

// RunHooks renders the project's on-run-start or on-run-end hooks; extra
// holds additional globals (on-run-end gets `results` and `schemas`).
func (c *Compiler) RunHooks(ctx context.Context, end bool, adapter jinja.Adapter, extra map[string]any) ([]string, error) {
	list, name := c.Project.OnRunStart, "on-run-start"
	if end {
		list, name = c.Project.OnRunEnd, "on-run-end"
	}
	var out []string
	for i, src := range list {
		sql, err := c.renderString(ctx, nil, fmt.Sprintf("%s (%s %d)", c.Project.File, name, i+1), src, adapter, extra)
		if err != nil {
			return nil, err
		}
		if sql = strings.TrimSpace(sql); sql != "" {
			out = append(out, sql)
		}
	}
	return out, nil
}

// renderString renders a SQL snippet with a node's (or, for nil, the
// project's) execute-time context.
func (c *Compiler) renderString(ctx context.Context, n *Node, label, src string, adapter jinja.Adapter, extra map[string]any) (string, error) {
	if !strings.Contains(src, "{") {
		return src, nil
	}
	tpl, err := c.Env.Parse(label, src)
	if err != nil {
		return "", err
	}
	node := n
	if node == nil {
		node = &Node{Name: c.Project.Name, Package: c.Project.Name, Config: newConfig()}
	}
	b := &contextBuilder{c: c, node: node, execute: true, ctx: ctx, adapter: adapter}
	g := b.globals()
	for k, v := range extra {
		g[k] = v
	}
	res, err := c.Env.Render(tpl, &jinja.Context{Ctx: ctx, Globals: g, Dialect: c.opts.Target.Profile.Type, Adapter: adapter, Execute: true, Log: c.opts.Log})
	if err != nil {
		return "", err
	}
	return res.Output, nil
}
