package sqlparse

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	if err := Check("select a, b from t where x = 1"); err != nil {
		t.Fatal(err)
	}
	err := Check("select a,\n  b\nfrom t wher x = 1")
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 3 {
		t.Fatalf("err = %#v", err)
	}
}

func TestOutputColumns(t *testing.T) {
	cases := map[string][]string{
		"select a, t.b, c + 1 as d from t":                      {"a", "b", "d"},
		"with x as (select 1 as q) select q as id, name from x": {"id", "name"},
		"select a from t union all select b from u":             {"a"},
		"select * from t":        nil,
		"select t.*, a from t":   nil,
		"select count(*) from t": nil,
		"select from where":      nil,
	}
	for sql, want := range cases {
		got := OutputColumns(sql)
		if len(got) != len(want) {
			t.Errorf("%s: %v, want %v", sql, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: %v, want %v", sql, got, want)
			}
		}
	}
}
