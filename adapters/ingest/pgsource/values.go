package pgsource

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Decoders of one non-NULL field in Postgres' binary format. Each returns a
// value a Batch carries: bool, int64, float64, string, time.Time, or
// map[string]any / []any for JSON.

var errLength = errors.New("unexpected field length")

func decodeInt2(b []byte) (any, error) {
	if len(b) != 2 {
		return nil, errLength
	}
	return int64(int16(binary.BigEndian.Uint16(b))), nil
}

func decodeInt4(b []byte) (any, error) {
	if len(b) != 4 {
		return nil, errLength
	}
	return int64(int32(binary.BigEndian.Uint32(b))), nil
}

func decodeInt8(b []byte) (any, error) {
	if len(b) != 8 {
		return nil, errLength
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// decodeFloat4 widens a real through its shortest decimal form, so 0.1
// stays 0.1 rather than 0.10000000149011612.
func decodeFloat4(b []byte) (any, error) {
	if len(b) != 4 {
		return nil, errLength
	}
	f := math.Float32frombits(binary.BigEndian.Uint32(b))
	if math.IsInf(float64(f), 0) || math.IsNaN(float64(f)) {
		return float64(f), nil
	}
	return strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
}

func decodeFloat8(b []byte) (any, error) {
	if len(b) != 8 {
		return nil, errLength
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

func decodeBool(b []byte) (any, error) {
	if len(b) != 1 {
		return nil, errLength
	}
	return b[0] != 0, nil
}

func decodeText(b []byte) (any, error) { return string(b), nil }

// pgEpoch is Postgres' date and timestamp epoch.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// decodeDate returns midnight UTC of the day; ±infinity as the strings
// "infinity" and "-infinity", which Postgres accepts back.
func decodeDate(b []byte) (any, error) {
	if len(b) != 4 {
		return nil, errLength
	}
	switch d := int32(binary.BigEndian.Uint32(b)); d {
	case math.MaxInt32:
		return "infinity", nil
	case math.MinInt32:
		return "-infinity", nil
	default:
		return pgEpoch.AddDate(0, 0, int(d)), nil
	}
}

// decodeTimestamp reads timestamp and timestamptz (microseconds since the
// epoch) as a UTC time.Time.
func decodeTimestamp(b []byte) (any, error) {
	if len(b) != 8 {
		return nil, errLength
	}
	switch us := int64(binary.BigEndian.Uint64(b)); us {
	case math.MaxInt64:
		return "infinity", nil
	case math.MinInt64:
		return "-infinity", nil
	default:
		// Split into seconds and microseconds: us*1000 overflows int64
		// nanoseconds beyond year 2262.
		sec, rem := us/1e6, us%1e6
		return time.Unix(pgEpoch.Unix()+sec, rem*1000).UTC(), nil
	}
}

func decodeUUID(b []byte) (any, error) {
	if len(b) != 16 {
		return nil, errLength
	}
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:]), nil
}

// decodeBytea returns the bytes in Postgres' hex text form ("\x0aff"), a
// lossless string for a text column.
func decodeBytea(b []byte) (any, error) {
	s := make([]byte, 2+2*len(b))
	s[0], s[1] = '\\', 'x'
	hex.Encode(s[2:], b)
	return string(s), nil
}

func decodeJSONB(b []byte) (any, error) {
	if len(b) == 0 || b[0] != 1 {
		return nil, errors.New("unknown jsonb binary version")
	}
	return decodeJSON(b[1:])
}

// decodeJSON parses a json document into map[string]any / []any / scalars.
// Integers that fit int64 stay exact int64; other numbers are float64.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
}

// numbers replaces each json.Number in v with an int64 or float64.
func numbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = numbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = numbers(e)
		}
	}
	return v
}

// Signs of a binary numeric.
const (
	numericPos  = 0x0000
	numericNeg  = 0x4000
	numericNaN  = 0xC000
	numericPInf = 0xD000
	numericNInf = 0xF000
)

// decodeNumeric renders a numeric exactly as Postgres' text output does
// (dscale digits after the point), e.g. "-12.3400", "NaN", "Infinity".
func decodeNumeric(b []byte) (any, error) {
	if len(b) < 8 {
		return nil, errLength
	}
	ndigits := int(binary.BigEndian.Uint16(b[0:]))
	weight := int(int16(binary.BigEndian.Uint16(b[2:])))
	sign := binary.BigEndian.Uint16(b[4:])
	dscale := int(binary.BigEndian.Uint16(b[6:]))
	if len(b) != 8+2*ndigits {
		return nil, errLength
	}
	switch sign {
	case numericNaN:
		return "NaN", nil
	case numericPInf:
		return "Infinity", nil
	case numericNInf:
		return "-Infinity", nil
	case numericPos, numericNeg:
	default:
		return nil, fmt.Errorf("unknown numeric sign 0x%x", sign)
	}
	digit := func(i int) int { // base-10000 digit i, 0 outside the stored ones
		if i < 0 || i >= ndigits {
			return 0
		}
		return int(binary.BigEndian.Uint16(b[8+2*i:]))
	}
	var s strings.Builder
	if sign == numericNeg {
		s.WriteByte('-')
	}
	if weight < 0 {
		s.WriteByte('0')
	} else {
		s.WriteString(strconv.Itoa(digit(0)))
		for i := 1; i <= weight; i++ {
			fmt.Fprintf(&s, "%04d", digit(i))
		}
	}
	if dscale > 0 {
		s.WriteByte('.')
		frac := make([]byte, 0, dscale+4)
		for i := weight + 1; len(frac) < dscale; i++ {
			frac = fmt.Appendf(frac, "%04d", digit(i))
		}
		s.Write(frac[:dscale])
	}
	return s.String(), nil
}
