package jinja

import (
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// Relation is a warehouse relation as templates see it (ref(), source(),
// this). While parsing, Token stands in for the rendered name until the
// graph is known; reading its attributes marks the render as needing a
// second pass.
type Relation struct {
	Database   string
	Schema     string
	Identifier string
	Type       string // "table", "view", "cte", ""
	// Token, when set, is what String() renders (a placeholder replaced once
	// names are resolved).
	Token string
	// CTE, when set, renders the relation as a bare CTE name (ephemerals).
	CTE string
	// IncludeDatabase/IncludeSchema control rendering (dbt's include()).
	OmitDatabase bool
	OmitSchema   bool

	onRead func()
}

// OnRead registers a callback run when a template reads an attribute.
func (r *Relation) OnRead(fn func()) { r.onRead = fn }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Render spells the relation fully qualified and quoted.
func (r *Relation) Render() string {
	if r.CTE != "" {
		return r.CTE
	}
	var parts []string
	if r.Database != "" && !r.OmitDatabase {
		parts = append(parts, quoteIdent(r.Database))
	}
	if r.Schema != "" && !r.OmitSchema {
		parts = append(parts, quoteIdent(r.Schema))
	}
	parts = append(parts, quoteIdent(r.Identifier))
	return strings.Join(parts, ".")
}

func (r *Relation) String() string {
	if r.Token != "" {
		return r.Token
	}
	return r.Render()
}

// GetAttribute implements attribute access for templates.
func (r *Relation) GetAttribute(name string) (*exec.Value, bool) {
	if r.onRead != nil {
		r.onRead()
	}
	switch name {
	case "database":
		return exec.AsValue(r.Database), true
	case "schema":
		return exec.AsValue(r.Schema), true
	case "identifier", "name", "table":
		return exec.AsValue(r.Identifier), true
	case "type":
		return exec.AsValue(r.Type), true
	case "is_table":
		return exec.AsValue(r.Type == "table"), true
	case "is_view":
		return exec.AsValue(r.Type == "view"), true
	case "is_cte":
		return exec.AsValue(r.CTE != ""), true
	case "render":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value { return exec.AsValue(r.Render()) }), true
	case "include":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value {
			c := *r
			c.Token = ""
			if v, ok := va.KwArgs["database"]; ok {
				c.OmitDatabase = !v.IsTrue()
			}
			if v, ok := va.KwArgs["schema"]; ok {
				c.OmitSchema = !v.IsTrue()
			}
			return exec.AsValue(&c)
		}), true
	case "incorporate":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value {
			c := *r
			c.Token = ""
			if v, ok := va.KwArgs["type"]; ok {
				c.Type = v.String()
			}
			if p, ok := va.KwArgs["path"]; ok && p.IsDict() {
				p.Iterate(func(_, _ int, k, v *exec.Value) bool {
					switch k.String() {
					case "identifier":
						c.Identifier = v.String()
					case "schema":
						c.Schema = v.String()
					case "database":
						c.Database = v.String()
					}
					return true
				}, func() {})
			}
			return exec.AsValue(&c)
		}), true
	case "quote":
		return exec.AsValue(func(va *exec.VarArgs) *exec.Value { return exec.AsValue(r) }), true
	}
	return exec.AsValue(nil), false
}
