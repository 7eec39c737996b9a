package adaptertest

import (
	"io"
	"strconv"
)

var errEOF = io.EOF

func itoa(i int) string { return strconv.Itoa(i) }

// toInt reads an integer-valued result whatever numeric type it came as.
func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return -1 << 62
}
