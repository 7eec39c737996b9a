package pgsource

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// TestDecoderSplits feeds a real binary COPY stream to the decoder in
// pieces of every small size: tuples and the header split across writes
// decode the same as whole.
func TestDecoderSplits(t *testing.T) {
	url := sourceDB(t, typesSetup...)
	src := open(t, url)
	tbl := table(t, src, "table", "types").(*Table)
	_, want := readAll(t, tbl, ingest.ReadRequest{})

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	sql, err := tbl.copySQL(ctx, ingest.ReadRequest{}, "binary")
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	if _, err := conn.PgConn().CopyTo(ctx, &stream, sql); err != nil {
		t.Fatal(err)
	}
	for size := 1; size <= 40; size++ {
		var got [][]any
		dec := newCopyDecoder(tbl.cols, tbl.types, func(b ingest.Batch) error {
			got = append(got, b.Rows...)
			return nil
		})
		data := stream.Bytes()
		for len(data) > 0 {
			n := min(size, len(data))
			piece := bytes.Clone(data[:n])
			if _, err := dec.Write(piece); err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
			clear(piece) // the decoder must not keep the buffer
			data = data[n:]
		}
		if err := dec.finish(); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("size %d: got %v, want %v", size, got, want)
		}
	}

	// A truncated stream is an error, not a short read.
	dec := newCopyDecoder(tbl.cols, tbl.types, func(ingest.Batch) error { return nil })
	if _, err := dec.Write(stream.Bytes()[:stream.Len()-3]); err != nil {
		t.Fatal(err)
	}
	if err := dec.finish(); err == nil {
		t.Error("truncated stream: no error")
	}
}
