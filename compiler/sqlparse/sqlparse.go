// Package sqlparse checks compiled SQL with the Postgres parser
// (pg_query_go) before anything is sent to the warehouse.
package sqlparse

import (
	"errors"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"
)

// SyntaxError is a parse failure at a 1-based line and column of the SQL.
type SyntaxError struct {
	Msg  string
	Line int
	Col  int
}

func (e *SyntaxError) Error() string { return e.Msg }

// Check parses sql with the Postgres grammar and returns a *SyntaxError
// when it does not parse.
func Check(sql string) error {
	_, err := pg_query.Parse(sql)
	if err == nil {
		return nil
	}
	se := &SyntaxError{Msg: err.Error()}
	var pe *pgparser.Error
	if errors.As(err, &pe) {
		se.Msg = pe.Message
		if pe.Cursorpos > 0 && pe.Cursorpos <= len(sql)+1 {
			prefix := sql[:pe.Cursorpos-1]
			se.Line = strings.Count(prefix, "\n") + 1
			se.Col = pe.Cursorpos - strings.LastIndex(prefix, "\n") - 1
		}
	}
	return se
}

// OutputColumns returns the column names a SELECT statement produces, in
// order, when they can be known from its text alone: every select-list item
// is a plain column reference or has an alias. It returns nil when they
// cannot (select *, unnamed expressions, a statement that does not parse).
func OutputColumns(sql string) []string {
	tree, err := pg_query.Parse(sql)
	if err != nil || len(tree.GetStmts()) != 1 {
		return nil
	}
	sel := tree.GetStmts()[0].GetStmt().GetSelectStmt()
	for sel != nil && sel.GetLarg() != nil {
		sel = sel.GetLarg() // a set operation takes its names from the left
	}
	if sel == nil || len(sel.GetTargetList()) == 0 {
		return nil
	}
	var names []string
	for _, t := range sel.GetTargetList() {
		rt := t.GetResTarget()
		if rt == nil {
			return nil
		}
		if rt.GetName() != "" {
			names = append(names, rt.GetName())
			continue
		}
		ref := rt.GetVal().GetColumnRef()
		if ref == nil || len(ref.GetFields()) == 0 {
			return nil
		}
		last := ref.GetFields()[len(ref.GetFields())-1]
		if last.GetAStar() != nil || last.GetString_() == nil {
			return nil
		}
		names = append(names, last.GetString_().GetSval())
	}
	return names
}
