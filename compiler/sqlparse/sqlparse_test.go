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
