package selector

import (
	"reflect"
	"testing"

	"github.com/kilnhq/kiln/dag"
)

func TestSelect(t *testing.T) {
	g, err := dag.New(map[string][]string{"a": nil, "b": {"a"}, "c": {"b"}, "d": {"c"}, "x": nil})
	if err != nil {
		t.Fatal(err)
	}
	nodes := []Node{
		{ID: "a", Name: "a", Tags: []string{"nightly"}}, {ID: "b", Name: "b", Path: "models/staging/b.sql"},
		{ID: "c", Name: "c"}, {ID: "d", Name: "d"}, {ID: "x", Name: "x"},
	}
	cases := []struct {
		sel, ex []string
		want    []string
	}{
		{[]string{"b"}, nil, []string{"b"}},
		{[]string{"+c"}, nil, []string{"a", "b", "c"}},
		{[]string{"1+c"}, nil, []string{"b", "c"}},
		{[]string{"b+"}, nil, []string{"b", "c", "d"}},
		{[]string{"b+1"}, nil, []string{"b", "c"}},
		{[]string{"a x"}, nil, []string{"a", "x"}},
		{[]string{"tag:nightly", "path:models/staging"}, nil, []string{"a", "b"}},
		{nil, []string{"x", "d"}, []string{"a", "b", "c"}},
		{[]string{"@b"}, nil, []string{"a", "b", "c", "d"}},
	}
	for _, c := range cases {
		got, err := Select(g, nodes, c.sel, c.ex)
		if err != nil {
			t.Fatalf("%v: %v", c.sel, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("select %v exclude %v = %v, want %v", c.sel, c.ex, got, c.want)
		}
	}
	if _, err := Select(g, nodes, []string{"bb"}, nil); err == nil || err.Error() != "--select \"bb\" matches no node (did you mean `b`?)" {
		t.Fatalf("no-match error = %v", err)
	}
}

func TestCycle(t *testing.T) {
	_, err := dag.New(map[string][]string{"a": {"c"}, "b": {"a"}, "c": {"b"}, "d": nil})
	ce, ok := err.(*dag.CycleError)
	if !ok || len(ce.Nodes) != 3 {
		t.Fatalf("err = %v", err)
	}
}
