package materialize

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// valueKind is how a seed column's cells are read.
type valueKind int

const (
	kindText valueKind = iota
	kindInteger
	kindBigint
	kindNumeric
	kindBoolean
	kindDate
	kindTimestamp
)

var (
	integerRe = regexp.MustCompile(`^[+-]?[0-9]+$`)
	numericRe = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
	dateRe    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	tsRe      = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?$`)
)

// inferKind types column i like dbt: the narrowest of integer (bigint when
// a value does not fit 32 bits), numeric, boolean (true/false in any case),
// date (YYYY-MM-DD), timestamp (YYYY-MM-DD HH:MM:SS[.ffffff], space or T)
// that parses every non-empty cell, else text. Empty cells are NULL and do
// not vote; an all-empty column is text.
func inferKind(records [][]string, i int) valueKind {
	candidates := []valueKind{kindInteger, kindBigint, kindNumeric, kindBoolean, kindDate, kindTimestamp}
	ok := make([]bool, len(candidates))
	for j := range ok {
		ok[j] = true
	}
	seen := false
	for _, rec := range records {
		cell := rec[i]
		if cell == "" {
			continue
		}
		seen = true
		for j, k := range candidates {
			if ok[j] {
				if _, err := k.convert(cell); err != nil {
					ok[j] = false
				}
			}
		}
	}
	if !seen {
		return kindText
	}
	for j, k := range candidates {
		if ok[j] {
			return k
		}
	}
	return kindText
}

// portable names the kind as a portable type for Dialect.TypeName.
func (k valueKind) portable() string {
	switch k {
	case kindInteger:
		return "integer"
	case kindBigint:
		return "bigint"
	case kindNumeric:
		return "numeric"
	case kindBoolean:
		return "boolean"
	case kindDate:
		return "date"
	case kindTimestamp:
		return "timestamp"
	}
	return "text"
}

// kindOfWarehouseType guesses how to read cells for a column_types
// override from the type's spelling; unknown types are loaded as text and
// left to the warehouse to convert.
func kindOfWarehouseType(typ string) valueKind {
	t := strings.ToLower(strings.TrimSpace(typ))
	switch {
	case strings.Contains(t, "char"), strings.Contains(t, "text"), strings.Contains(t, "string"):
		return kindText
	case strings.HasPrefix(t, "timestamp"), strings.HasPrefix(t, "datetime"):
		return kindTimestamp
	case t == "date":
		return kindDate
	case strings.HasPrefix(t, "bool"):
		return kindBoolean
	case strings.Contains(t, "int"):
		return kindBigint
	case strings.HasPrefix(t, "numeric"), strings.HasPrefix(t, "decimal"), strings.HasPrefix(t, "float"),
		strings.HasPrefix(t, "double"), t == "real":
		return kindNumeric
	}
	return kindText
}

// convert reads one cell; "" is NULL.
func (k valueKind) convert(cell string) (any, error) {
	if cell == "" {
		return nil, nil
	}
	switch k {
	case kindInteger, kindBigint:
		if !integerRe.MatchString(cell) {
			return nil, fmt.Errorf("%q is not an integer", cell)
		}
		n, err := strconv.ParseInt(cell, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q does not fit 64 bits", cell)
		}
		if k == kindInteger && (n > math.MaxInt32 || n < math.MinInt32) {
			return nil, fmt.Errorf("%q does not fit 32 bits", cell)
		}
		return n, nil
	case kindNumeric:
		if !numericRe.MatchString(cell) {
			return nil, fmt.Errorf("%q is not a number", cell)
		}
		return strconv.ParseFloat(cell, 64)
	case kindBoolean:
		switch strings.ToLower(cell) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not true or false", cell)
	case kindDate:
		if !dateRe.MatchString(cell) {
			return nil, fmt.Errorf("%q is not a YYYY-MM-DD date", cell)
		}
		return time.Parse(time.DateOnly, cell)
	case kindTimestamp:
		if !tsRe.MatchString(cell) {
			return nil, fmt.Errorf("%q is not a YYYY-MM-DD HH:MM:SS timestamp", cell)
		}
		return time.Parse("2006-01-02 15:04:05.999999999", strings.Replace(cell, "T", " ", 1))
	}
	return cell, nil
}
