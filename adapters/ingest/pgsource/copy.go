package pgsource

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// Batch limits: a batch is handed on when it holds maxBatchRows rows or
// about maxBatchBytes of field data, whichever comes first.
const (
	maxBatchRows  = 10_000
	maxBatchBytes = 32 << 20
	// slabRows is how many rows' []any are allocated at once.
	slabRows = 1024
)

// copySignature opens every binary COPY stream.
var copySignature = []byte("PGCOPY\n\xff\r\n\x00")

// copyDecoder is the io.Writer a binary COPY TO STDOUT is written to. It
// parses tuples as the CopyData messages arrive (whatever their split) and
// hands each full batch to send. Write never keeps a reference to p.
type copyDecoder struct {
	cols  []string
	types []colType
	send  func(ingest.Batch) error

	pending []byte // an incomplete header or tuple from earlier writes
	header  bool   // the header has been read
	done    bool   // the trailer has been read

	rows  [][]any
	slab  []any
	bytes int
	total int64
}

func newCopyDecoder(cols []string, types []colType, send func(ingest.Batch) error) *copyDecoder {
	return &copyDecoder{cols: cols, types: types, send: send}
}

// Write parses as many whole tuples of p (after any pending bytes) as it
// can and keeps the rest.
func (d *copyDecoder) Write(p []byte) (int, error) {
	n := len(p)
	buf := p
	if len(d.pending) > 0 {
		d.pending = append(d.pending, p...)
		buf = d.pending
	}
	used, err := d.parse(buf)
	if err != nil {
		return 0, err
	}
	rest := buf[used:]
	if len(d.pending) > 0 {
		// Shift the tail down, reusing the pending buffer.
		d.pending = append(d.pending[:0], rest...)
	} else if len(rest) > 0 {
		d.pending = append(d.pending[:0], rest...)
	}
	return n, nil
}

// parse consumes the header and whole tuples from buf and returns how many
// bytes it used.
func (d *copyDecoder) parse(buf []byte) (int, error) {
	off := 0
	if !d.header {
		// Signature, flags, header extension length, extension.
		if len(buf) < 19 {
			return 0, nil
		}
		if !bytes.Equal(buf[:11], copySignature) {
			return 0, errors.New("COPY stream: not a binary COPY signature")
		}
		ext := int(binary.BigEndian.Uint32(buf[15:19]))
		if len(buf) < 19+ext {
			return 0, nil
		}
		off = 19 + ext
		d.header = true
	}
	for off < len(buf) {
		if d.done {
			return 0, errors.New("COPY stream: data after the trailer")
		}
		size, ok, err := d.tupleSize(buf[off:])
		if err != nil || !ok {
			return off, err
		}
		if size == 2 { // trailer: field count -1
			d.done = true
			off += 2
			continue
		}
		if err := d.tuple(buf[off : off+size]); err != nil {
			return 0, fmt.Errorf("COPY stream: row %d: %w", d.total+int64(len(d.rows))+1, err)
		}
		off += size
		if len(d.rows) >= maxBatchRows || d.bytes >= maxBatchBytes {
			if err := d.flush(); err != nil {
				return 0, err
			}
		}
	}
	return off, nil
}

// tupleSize returns the byte length of the tuple at the start of b, or
// ok=false when b does not hold all of it yet. The trailer has size 2.
func (d *copyDecoder) tupleSize(b []byte) (size int, ok bool, err error) {
	if len(b) < 2 {
		return 0, false, nil
	}
	nf := int(int16(binary.BigEndian.Uint16(b)))
	if nf == -1 {
		return 2, true, nil
	}
	if nf != len(d.types) {
		return 0, false, fmt.Errorf("COPY stream: tuple has %d fields, want %d", nf, len(d.types))
	}
	off := 2
	for range nf {
		if len(b) < off+4 {
			return 0, false, nil
		}
		l := int(int32(binary.BigEndian.Uint32(b[off:])))
		off += 4
		if l > 0 {
			off += l
		}
	}
	if len(b) < off {
		return 0, false, nil
	}
	return off, true, nil
}

// tuple decodes one whole tuple into the current batch.
func (d *copyDecoder) tuple(b []byte) error {
	n := len(d.types)
	if len(d.slab) < n {
		d.slab = make([]any, slabRows*n)
	}
	row := d.slab[:n:n]
	d.slab = d.slab[n:]
	off := 2
	for i, t := range d.types {
		l := int(int32(binary.BigEndian.Uint32(b[off:])))
		off += 4
		if l < 0 {
			row[i] = nil
			continue
		}
		v, err := t.decode(b[off : off+l])
		if err != nil {
			return fmt.Errorf("column %q (%s): %w", d.cols[i], t, err)
		}
		row[i] = v
		off += l
		d.bytes += l
	}
	d.rows = append(d.rows, row)
	return nil
}

// flush hands on the current batch, if it has rows.
func (d *copyDecoder) flush() error {
	if len(d.rows) == 0 {
		return nil
	}
	b := ingest.Batch{Columns: d.cols, Rows: d.rows}
	d.total += int64(len(d.rows))
	d.rows = make([][]any, 0, min(2*len(d.rows), maxBatchRows))
	d.bytes = 0
	return d.send(b)
}

// finish checks that the stream ended cleanly and hands on the last batch.
func (d *copyDecoder) finish() error {
	if !d.done || len(d.pending) > 0 {
		return errors.New("COPY stream: ended without its trailer")
	}
	return d.flush()
}
