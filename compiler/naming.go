package compiler

import (
	"strings"

	"github.com/kilnhq/kiln/compiler/diag"
	"github.com/kilnhq/kiln/compiler/jinja"
)

// nameRelation sets n's database, schema and alias with dbt's
// generate_database_name / generate_schema_name / generate_alias_name,
// calling the project's override macros when it has them.
func (c *Compiler) nameRelation(n *Node) error {
	custom := func(key string) any {
		if s := strings.TrimSpace(n.Config.String(key)); s != "" {
			return s
		}
		if n.Type == Test {
			switch key {
			case "schema":
				return "dbt_test__audit" // where store_failures keeps failing rows
			case "alias":
				return n.Test.CompiledName
			}
		}
		return nil
	}
	if n.Type == Snapshot {
		// dbt's legacy target_schema / target_database name the snapshot's
		// relation as given, without generate_schema_name.
		if s := n.Config.String("target_schema"); s != "" {
			n.Schema = s
			n.Database = c.database
			if d := n.Config.String("target_database"); d != "" {
				n.Database = d
			}
			n.Alias = n.Name
			if a := n.Config.String("alias"); a != "" {
				n.Alias = a
			}
			return nil
		}
	}
	var err error
	if n.Database, err = c.generate(n, "generate_database_name", custom("database"), func(v any) string {
		if v == nil {
			return c.database
		}
		return v.(string)
	}); err != nil {
		return err
	}
	if n.Schema, err = c.generate(n, "generate_schema_name", custom("schema"), func(v any) string {
		if v == nil {
			return c.opts.Target.Profile.Schema
		}
		return c.opts.Target.Profile.Schema + "_" + v.(string)
	}); err != nil {
		return err
	}
	n.Alias, err = c.generate(n, "generate_alias_name", custom("alias"), func(v any) string {
		if v == nil {
			return n.Name
		}
		return v.(string)
	})
	return err
}

func (c *Compiler) generate(n *Node, macro string, custom any, def func(any) string) (string, error) {
	overrides := c.Env.ProjectMacros()
	_, own := overrides[macro]
	_, ownDefault := overrides["default__"+macro]
	_, ownDialect := overrides[c.opts.Target.Profile.Type+"__"+macro]
	if !own && !ownDefault && !ownDialect {
		return def(custom), nil
	}
	tpl, err := c.Env.Parse("kiln/"+macro+".sql", "{{ "+macro+"(custom, node) }}")
	if err != nil {
		return "", err
	}
	b := &contextBuilder{c: c, node: n}
	g := b.globals()
	g["custom"] = custom
	g["node"] = b.modelMap()
	res, err := c.Env.Render(tpl, &jinja.Context{Globals: g, Dialect: c.opts.Target.Profile.Type, Log: c.opts.Log})
	if err != nil {
		return "", diag.At(n.Pos(), "%s for %s failed: %v", macro, n.Name, err)
	}
	return strings.TrimSpace(res.Output), nil
}
