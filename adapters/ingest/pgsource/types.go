package pgsource

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"
)

// colType is how one column of a COPY is selected, typed and decoded.
type colType struct {
	// portable is the type the loader creates ("integer", "bigint",
	// "numeric", "float", "boolean", "date", "timestamp", "text", "json").
	portable string
	// sqlName spells the source type for a literal cast ("" when the type is
	// not one the connector knows; the literal is then left untyped).
	sqlName string
	// decode turns one non-NULL binary field into a Batch value.
	decode func(b []byte) (any, error)
	// kind says how the column is selected: as is, cast to text, or turned
	// into jsonb.
	kind selectKind
}

type selectKind int

const (
	selectAsIs selectKind = iota
	selectText
	selectJSON
)

// builtin maps the OIDs decoded from the binary format.
var builtin = map[uint32]colType{
	pgtype.Int2OID:        {portable: "integer", sqlName: "smallint", decode: decodeInt2},
	pgtype.Int4OID:        {portable: "integer", sqlName: "integer", decode: decodeInt4},
	pgtype.Int8OID:        {portable: "bigint", sqlName: "bigint", decode: decodeInt8},
	pgtype.Float4OID:      {portable: "float", sqlName: "real", decode: decodeFloat4},
	pgtype.Float8OID:      {portable: "float", sqlName: "double precision", decode: decodeFloat8},
	pgtype.NumericOID:     {portable: "numeric", sqlName: "numeric", decode: decodeNumeric},
	pgtype.BoolOID:        {portable: "boolean", sqlName: "boolean", decode: decodeBool},
	pgtype.DateOID:        {portable: "date", sqlName: "date", decode: decodeDate},
	pgtype.TimestampOID:   {portable: "timestamp", sqlName: "timestamp", decode: decodeTimestamp},
	pgtype.TimestamptzOID: {portable: "timestamp", sqlName: "timestamptz", decode: decodeTimestamp},
	pgtype.TextOID:        {portable: "text", sqlName: "text", decode: decodeText},
	pgtype.VarcharOID:     {portable: "text", sqlName: "varchar", decode: decodeText},
	pgtype.BPCharOID:      {portable: "text", sqlName: "bpchar", decode: decodeText},
	pgtype.NameOID:        {portable: "text", sqlName: "name", decode: decodeText},
	pgtype.UUIDOID:        {portable: "text", sqlName: "uuid", decode: decodeUUID},
	pgtype.ByteaOID:       {portable: "text", sqlName: "bytea", decode: decodeBytea},
	pgtype.JSONOID:        {portable: "json", sqlName: "json", decode: decodeJSON},
	pgtype.JSONBOID:       {portable: "json", sqlName: "jsonb", decode: decodeJSONB},
}

// asText is any other type, selected as col::text.
var asText = colType{portable: "text", decode: decodeText, kind: selectText}

// asJSON is an array, selected as to_jsonb(col).
var asJSON = colType{portable: "json", decode: decodeJSONB, kind: selectJSON}

// typeOf returns the colType of a known OID; ok is false for the others,
// which the caller classifies as array (asJSON) or not (asText).
func typeOf(oid uint32) (colType, bool) {
	t, ok := builtin[oid]
	return t, ok
}

// isTimeType reports whether a cursor of this type takes a lookback.
func (t colType) isTimeType() bool {
	return t.portable == "date" || t.portable == "timestamp"
}

func (t colType) String() string {
	if t.sqlName != "" {
		return t.sqlName
	}
	return fmt.Sprintf("%s (as %s)", t.portable, [...]string{"as is", "text", "jsonb"}[t.kind])
}
