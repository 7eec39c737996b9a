package materialize

import "testing"

func TestIncrementalCompareTypes(t *testing.T) {
	cases := []struct {
		target, staged string
		want           typeChange
	}{
		{"integer", "integer", typeFits},
		{"INTEGER", "integer", typeFits},
		{"character varying(5)", "character varying(50)", typeWider},
		{"character varying(50)", "character varying(5)", typeFits},
		{"character varying(5)", "text", typeWider},
		{"character varying(5)", "character varying", typeWider},
		{"text", "character varying(500)", typeFits},
		{"VARCHAR", "VARCHAR", typeFits},
		{"character(3)", "character varying(10)", typeWider},
		{"integer", "bigint", typeWider},
		{"INTEGER", "BIGINT", typeWider},
		{"smallint", "integer", typeWider},
		{"BIGINT", "HUGEINT", typeWider},
		{"bigint", "integer", typeFits},
		{"integer", "numeric", typeWider},
		{"bigint", "double precision", typeWider},
		{"INTEGER", "DOUBLE", typeWider},
		{"numeric", "integer", typeFits},
		{"real", "double precision", typeWider},
		{"double precision", "real", typeFits},
		{"numeric(10,2)", "numeric(12,3)", typeWider},
		{"numeric(10,2)", "numeric(8,1)", typeFits},
		{"numeric(10,2)", "numeric", typeWider},
		{"numeric", "numeric(10,2)", typeFits},
		{"DECIMAL(18,3)", "DECIMAL(18,4)", typeOther},
		{"numeric(10,2)", "double precision", typeOther},
		{"integer", "text", typeOther},
		{"character varying(5)", "integer", typeOther},
		{"timestamp without time zone", "timestamp without time zone", typeFits},
		{"timestamp without time zone", "timestamp with time zone", typeOther},
		{"date", "timestamp without time zone", typeOther},
	}
	for _, c := range cases {
		if got := compareTypes(c.target, c.staged); got != c.want {
			t.Errorf("compareTypes(%q, %q) = %d, want %d", c.target, c.staged, got, c.want)
		}
	}
}
