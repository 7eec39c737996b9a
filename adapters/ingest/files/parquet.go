package files

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/parquet"
	pqfile "github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/schema"
)

// readParquet streams a Parquet file row group by row group, BatchSize
// rows at a time. Columns inside groups are named parent__child; repeated
// (list) columns are not supported. Dates, timestamps, decimals (as
// double), strings and UUIDs are mapped from their logical types.
func readParquet(ctx context.Context, fh *os.File, name string, b *batcher) error {
	rdr, err := pqfile.NewParquetReader(fh)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	defer rdr.Close()
	sc := rdr.MetaData().Schema
	cols := make([]*schema.Column, sc.NumColumns())
	names := make([]string, len(cols))
	for i := range cols {
		cols[i] = sc.Column(i)
		if cols[i].MaxRepetitionLevel() > 0 {
			return fmt.Errorf("reading %s: column %s is repeated (a list); repeated Parquet columns are not supported", name, cols[i].Path())
		}
		names[i] = strings.ReplaceAll(cols[i].Path(), ".", "__")
	}
	b.setColumns(names)
	for g := 0; g < rdr.NumRowGroups(); g++ {
		rg := rdr.RowGroup(g)
		readers := make([]pqfile.ColumnChunkReader, len(cols))
		for i := range cols {
			if readers[i], err = rg.Column(i); err != nil {
				return fmt.Errorf("reading %s: %w", name, err)
			}
		}
		for done, total := int64(0), rg.NumRows(); done < total; {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := min(int64(BatchSize), total-done)
			values := make([][]any, len(cols))
			for i, cr := range readers {
				if values[i], err = readColumn(cr, cols[i], k); err != nil {
					return fmt.Errorf("reading %s row group %d column %s: %w", name, g, cols[i].Path(), err)
				}
			}
			for r := int64(0); r < k; r++ {
				row := make([]any, len(cols))
				for i := range cols {
					row[i] = values[i][r]
				}
				if err := b.addRow(row); err != nil {
					return err
				}
			}
			done += k
		}
	}
	return nil
}

type batchReader[T any] interface {
	ReadBatch(batchSize int64, values []T, defLvls, repLvls []int16) (int64, int, error)
}

// readN reads the next k values of a flat column, NULLs included.
func readN[T any](r batchReader[T], maxDef int16, k int64, conv func(T) any) ([]any, error) {
	out := make([]any, 0, k)
	vals := make([]T, k)
	defs := make([]int16, k)
	for int64(len(out)) < k {
		want := k - int64(len(out))
		total, _, err := r.ReadBatch(want, vals[:want], defs[:want], nil)
		if err != nil {
			return nil, err
		}
		if total == 0 {
			return nil, fmt.Errorf("column ended after %d of %d values", len(out), k)
		}
		j := 0
		for i := 0; i < int(total); i++ {
			if maxDef > 0 && defs[i] < maxDef {
				out = append(out, nil)
				continue
			}
			out = append(out, conv(vals[j]))
			j++
		}
	}
	return out, nil
}

func readColumn(cr pqfile.ColumnChunkReader, col *schema.Column, k int64) ([]any, error) {
	def := col.MaxDefinitionLevel()
	lt := col.LogicalType()
	switch r := cr.(type) {
	case *pqfile.BooleanColumnChunkReader:
		return readN(r, def, k, func(v bool) any { return v })
	case *pqfile.Int32ColumnChunkReader:
		return readN(r, def, k, func(v int32) any {
			switch t := lt.(type) {
			case schema.DateLogicalType:
				return time.Unix(int64(v)*86400, 0).UTC()
			case schema.DecimalLogicalType:
				return float64(v) / math.Pow10(int(t.Scale()))
			}
			return int64(v)
		})
	case *pqfile.Int64ColumnChunkReader:
		return readN(r, def, k, func(v int64) any {
			switch t := lt.(type) {
			case schema.TimestampLogicalType:
				switch t.TimeUnit() {
				case schema.TimeUnitMillis:
					return time.UnixMilli(v).UTC()
				case schema.TimeUnitMicros:
					return time.UnixMicro(v).UTC()
				default:
					return time.Unix(0, v).UTC()
				}
			case schema.DecimalLogicalType:
				return float64(v) / math.Pow10(int(t.Scale()))
			}
			return v
		})
	case *pqfile.Int96ColumnChunkReader:
		return readN(r, def, k, func(v parquet.Int96) any { return v.ToTime() })
	case *pqfile.Float32ColumnChunkReader:
		return readN(r, def, k, func(v float32) any { return float64(v) })
	case *pqfile.Float64ColumnChunkReader:
		return readN(r, def, k, func(v float64) any { return v })
	case *pqfile.ByteArrayColumnChunkReader:
		return readN(r, def, k, func(v parquet.ByteArray) any {
			if t, ok := lt.(schema.DecimalLogicalType); ok {
				return decimal(v, t.Scale())
			}
			return string(v)
		})
	case *pqfile.FixedLenByteArrayColumnChunkReader:
		return readN(r, def, k, func(v parquet.FixedLenByteArray) any {
			switch t := lt.(type) {
			case schema.DecimalLogicalType:
				return decimal(v, t.Scale())
			case schema.UUIDLogicalType:
				if len(v) == 16 {
					return fmt.Sprintf("%x-%x-%x-%x-%x", v[0:4], v[4:6], v[6:8], v[8:10], v[10:16])
				}
			}
			return string(v)
		})
	}
	return nil, fmt.Errorf("unsupported Parquet column type %T", cr)
}

// decimal reads a big-endian two's-complement unscaled decimal as a double.
func decimal(b []byte, scale int32) any {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b)*8)))
	}
	f, _ := new(big.Float).Quo(new(big.Float).SetInt(n), new(big.Float).SetFloat64(math.Pow10(int(scale)))).Float64()
	return f
}
