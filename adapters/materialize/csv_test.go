package materialize

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func writeCSV(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seed.csv")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadCSVInference(t *testing.T) {
	path := writeCSV(t, "\ufeffi,big,n,b,d,ts,s,empty,zip\r\n"+
		"1,3000000000,1.5,True,2024-01-02,2024-01-02 03:04:05.123456,\"a \"\"q\"\", b\",,007\r\n"+
		",-1,-2,false,,2024-01-02T03:04:05,x,,\r\n"+
		"3,2,.5e1,FALSE,2024-12-31,,\"multi\nline\",,1\r\n")
	data, err := ReadCSV(path, map[string]string{"ZIP": "varchar(5)"})
	if err != nil {
		t.Fatal(err)
	}
	wantCols := []SeedColumn{
		{Name: "i", Type: "integer"}, {Name: "big", Type: "bigint"}, {Name: "n", Type: "numeric"},
		{Name: "b", Type: "boolean"}, {Name: "d", Type: "date"}, {Name: "ts", Type: "timestamp"},
		{Name: "s", Type: "text"}, {Name: "empty", Type: "text"}, {Name: "zip", Type: "varchar(5)", Override: true},
	}
	if !reflect.DeepEqual(data.Columns, wantCols) {
		t.Errorf("columns = %+v", data.Columns)
	}
	day := func(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }
	wantRows := [][]any{
		{int64(1), int64(3000000000), 1.5, true, day(2024, 1, 2), time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC), `a "q", b`, nil, "007"},
		{nil, int64(-1), -2.0, false, nil, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "x", nil, nil},
		{int64(3), int64(2), 5.0, false, day(2024, 12, 31), nil, "multi\nline", nil, "1"},
	}
	if !reflect.DeepEqual(data.Rows, wantRows) {
		t.Errorf("rows:\n got %#v\nwant %#v", data.Rows, wantRows)
	}
}

func TestReadCSVOverrideKinds(t *testing.T) {
	path := writeCSV(t, "a,b,c\n1,2.5,x\n")
	data, err := ReadCSV(path, map[string]string{"a": "bigint", "b": "decimal(10,2)", "c": "uuid"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{int64(1), 2.5, "x"}; !reflect.DeepEqual(data.Rows[0], want) {
		t.Errorf("row = %#v", data.Rows[0])
	}
	path = writeCSV(t, "a\nnot a number\n")
	var ce *CSVError
	if _, err := ReadCSV(path, map[string]string{"a": "integer"}); !errors.As(err, &ce) || ce.Line != 2 {
		t.Errorf("bad override value error = %v", err)
	}
}

func TestReadCSVErrors(t *testing.T) {
	cases := []struct {
		name, content string
		line          int
	}{
		{"field count", "a,b\n1,2\n3\n", 3},
		{"bare quote", "a,b\n1,2\n3,x\"y\n", 3},
		{"field count after multi-line cell", "a,b\n1,\"x\ny\"\n3,4,5\n", 4},
		{"empty header", "a,,c\n1,2,3\n", 1},
		{"duplicate header", "a,A\n1,2\n", 1},
		{"empty file", "", 1},
		{"invalid utf-8", "a\nok\n\xff\n", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeCSV(t, c.content)
			_, err := ReadCSV(path, nil)
			var ce *CSVError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not *CSVError", err, err)
			}
			if ce.Line != c.line || ce.Path != path {
				t.Errorf("error = %v, want line %d", err, c.line)
			}
			if got, want := err.Error(), path+":"+itoa(c.line)+": "+ce.Msg; got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
		})
	}
}

func itoa(i int) string { return string(rune('0' + i)) }
