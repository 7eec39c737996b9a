package project

import (
	"strings"
	"testing"
)

func TestParseYAMLPositionsAndTypes(t *testing.T) {
	src := "name: shop\nvars:\n  n: 3\n  f: 1.5\n  on: true\n  none: null\n  list: [a, b]\nbase: &b\n  x: 1\nderived:\n  <<: *b\n  y: 2\n"
	n, err := ParseYAML("p.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	vars := n.Get("vars")
	if vars.Get("n").Scalar != int64(3) || vars.Get("f").Scalar != 1.5 || vars.Get("on").Scalar != true || vars.Get("none").Scalar != nil {
		t.Fatalf("scalars: %#v", vars.Value())
	}
	if p := n.KeyPos["vars"]; p.Line != 2 || p.Col != 1 {
		t.Fatalf("vars key at %v", p)
	}
	if p := vars.Get("list").List[1].Pos; p.Line != 7 || p.Col != 13 {
		t.Fatalf("list item at %v", p)
	}
	if d := n.Get("derived"); d.Get("x").Scalar != int64(1) || d.Get("y").Scalar != int64(2) {
		t.Fatalf("merge: %#v", d.Value())
	}
}

func TestParseYAMLErrors(t *testing.T) {
	_, err := ParseYAML("models/schema.yml", []byte("version: 2\nmodels:\n  - name: a\n    columns: [\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "models/schema.yml:") || !strings.Contains(err.Error(), "invalid YAML") {
		t.Fatalf("err = %v", err)
	}
	_, err = ParseYAML("p.yml", []byte("a: 1\na: 2\n"))
	if err == nil || !strings.Contains(err.Error(), "p.yml:2") {
		t.Fatalf("duplicate key err = %v", err)
	}
}
