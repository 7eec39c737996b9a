package diag

import (
	"errors"
	"testing"
)

func TestClosest(t *testing.T) {
	cands := []string{"stg_orders", "stg_customers", "orders"}
	if got := Closest("stg_order", cands); got != "stg_orders" {
		t.Fatalf("Closest = %q", got)
	}
	if got := Closest("zzzzzzzz", cands); got != "" {
		t.Fatalf("Closest of unrelated = %q, want empty", got)
	}
}

func TestListSortedAndFormatted(t *testing.T) {
	var l List
	l.Addf(Pos{File: "b.sql", Line: 2}, "second")
	l.Addf(Pos{File: "a.sql", Line: 9, Col: 3}, "first").Hint = "did you mean `x`?"
	err := l.Err()
	want := "a.sql:9:3: first (did you mean `x`?)\nb.sql:2: second"
	if err == nil || err.Error() != want {
		t.Fatalf("got %q want %q", err, want)
	}
	var got List
	if !errors.As(err, &got) || len(got) != 2 {
		t.Fatalf("errors.As List failed: %v", got)
	}
}

func TestLineCol(t *testing.T) {
	l, c := LineCol("ab\ncd\nef", 4)
	if l != 2 || c != 2 {
		t.Fatalf("LineCol = %d:%d", l, c)
	}
}
