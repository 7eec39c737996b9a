package files

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// csvOptions are a table's CSV settings.
type csvOptions struct {
	delimiter, quote rune
	delimiterSet     bool
	header           bool
	nullString       string
}

func csvConfig(cfg ingest.Config) (csvOptions, error) {
	o := csvOptions{delimiter: ',', quote: '"', header: true}
	for _, k := range []struct {
		key string
		dst *rune
	}{{"delimiter", &o.delimiter}, {"quote", &o.quote}} {
		s, err := str(cfg, k.key, "")
		if err != nil {
			return o, err
		}
		if s == "" {
			continue
		}
		if s == `\t` {
			s = "\t"
		}
		r, size := utf8.DecodeRuneInString(s)
		if size != len(s) || r == '\n' || r == '\r' || r == utf8.RuneError {
			return o, fmt.Errorf("%s%s must be one character, not %q", cfg.At(k.key), k.key, s)
		}
		*k.dst = r
		if k.key == "delimiter" {
			o.delimiterSet = true
		}
	}
	if o.delimiter == o.quote {
		return o, fmt.Errorf("%sdelimiter and quote must differ", cfg.At("quote"))
	}
	var err error
	if o.header, err = boolean(cfg, "header", true); err != nil {
		return o, err
	}
	if o.nullString, err = str(cfg, "null_string", ""); err != nil {
		return o, err
	}
	return o, nil
}

// readCSV streams a CSV file. A record with the wrong number of fields or
// broken quoting is a bad record at name:line.
func readCSV(r io.Reader, name string, o csvOptions, b *batcher) error {
	br := bufio.NewReaderSize(r, 1<<16)
	// Skip a UTF-8 byte order mark.
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	var in io.Reader = br
	swap := o.quote != '"'
	if swap {
		// encoding/csv only quotes with ": exchange the configured quote
		// and " in the input, and back in each field.
		in = &swapReader{r: br, a: o.quote, b: '"'}
	}
	cr := csv.NewReader(in)
	cr.Comma = o.delimiter
	if swap && o.delimiter == '"' {
		cr.Comma = o.quote
	}
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	unswap := func(s string) string {
		if !swap {
			return s
		}
		return strings.Map(func(c rune) rune {
			switch c {
			case o.quote:
				return '"'
			case '"':
				return o.quote
			}
			return c
		}, s)
	}
	width := -1
	for n := 0; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			if err := b.addBad(name+":"+strconv.Itoa(perr.StartLine), perr.Err.Error(), ""); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = unswap(rec[i])
		}
		if width < 0 {
			width = len(rec)
			if o.header {
				b.setColumns(headerNames(rec))
				continue
			}
			cols := make([]string, width)
			for i := range cols {
				cols[i] = "column_" + strconv.Itoa(i+1)
			}
			b.setColumns(cols)
		}
		if len(rec) != width {
			raw := strings.Join(rec, string(o.delimiter))
			if err := b.addBad(name+":"+strconv.Itoa(line), fmt.Sprintf("expected %d fields, found %d", width, len(rec)), raw); err != nil {
				return err
			}
			continue
		}
		vals := make([]any, width)
		for i, f := range rec {
			if f != o.nullString {
				vals[i] = f
			}
		}
		if err := b.addRow(vals); err != nil {
			return err
		}
	}
}

// headerNames names the columns from the header, filling blanks and
// de-duplicating.
func headerNames(rec []string) []string {
	seen := map[string]int{}
	out := make([]string, len(rec))
	for i, h := range rec {
		h = strings.TrimSpace(h)
		if h == "" {
			h = "column_" + strconv.Itoa(i+1)
		}
		if n := seen[h]; n > 0 {
			seen[h]++
			h = h + "_" + strconv.Itoa(n+1)
		} else {
			seen[h] = 1
		}
		out[i] = h
	}
	return out
}

// swapReader exchanges two single-byte-or-more runes in a UTF-8 stream.
// Both runes are ASCII in practice; others are handled when they do not
// straddle a read boundary, which bufio's rune reading guarantees.
type swapReader struct {
	r    *bufio.Reader
	a, b rune
	buf  []byte
}

func (s *swapReader) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) {
		c, _, err := s.r.ReadRune()
		if err != nil {
			if len(s.buf) > 0 {
				break
			}
			return 0, err
		}
		switch c {
		case s.a:
			c = s.b
		case s.b:
			c = s.a
		}
		s.buf = utf8.AppendRune(s.buf, c)
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}
