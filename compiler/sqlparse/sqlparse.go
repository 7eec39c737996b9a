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
