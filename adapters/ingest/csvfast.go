package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/kilnhq/kiln/adapters"
)

// CSVSource is a Table of CSV files (the files, s3, sftp and ftp
// connectors). On a warehouse that parses CSV itself (Postgres COPY ...
// FORMAT csv) the loader types each file from its first batch, the way the
// record-by-record path does, then streams the rest of the file to the
// warehouse, checking in passing that every field reads the same there as
// in kiln. A field that would not (a value that would widen its column, a
// time zone, a malformed record, ...) stops the fast path: nothing is
// committed and the load is done again record by record (Result.Fallback
// says why).
type CSVSource interface {
	// ReadCSV selects the files Read would read and calls file for each;
	// it returns the state Read would. ok is false, with nothing read, when
	// the table is not all CSV files in a dialect the fast path handles.
	ReadCSV(ctx context.Context, req ReadRequest, file func(CSVFile) error) (st State, ok bool, err error)
}

// CSVFile is one CSV file handed to the loader.
type CSVFile struct {
	Name             string // as written to _kiln_file
	Delimiter, Quote byte
	Header           bool
	Null             string // fields equal to it are NULL, quoted or not
	// Names turns the header record into column names.
	Names func(header []string) []string
	// Body is the file's content (decompressed), from its first byte.
	Body io.Reader
}

// BatchSize is the most records a connector puts in one Batch (files, and
// the first batch the CSV fast path types a file by).
const BatchSize = 10_000

// fallbackError stops the CSV fast path; Load then reads the table again
// record by record.
type fallbackError struct {
	reason string
	// costly is set when giving up wasted real work: rows already
	// streamed, or staged from earlier files. Giving up within the first
	// batch of the first file is not worth reporting.
	costly bool
}

func (e *fallbackError) Error() string { return "CSV fast path: " + e.reason }

func fallback(format string, args ...any) error {
	return &fallbackError{reason: fmt.Sprintf(format, args...)}
}

// csvFastAllowed reports whether the options let the warehouse parse CSV:
// cursor filtering and flattening need each record in kiln.
func (l *load) csvFastAllowed() bool {
	return l.opts.Cursor == "" && l.opts.Flatten == 0
}

// csvLoader returns the open staging transaction as a CSV loader, or nil
// when the warehouse has none.
func (l *load) csvLoader(ctx context.Context) (adapters.CSVLoader, error) {
	if l.stageTx == nil {
		tx, err := l.wh.Begin(ctx)
		if err != nil {
			return nil, err
		}
		l.stageTx = tx
	}
	cl, _ := l.stageTx.(adapters.CSVLoader)
	return cl, nil
}

// readCSVFast stages every file of cs; handled is false, with nothing
// read, when the warehouse or the table cannot take the fast path.
func (l *load) readCSVFast(ctx context.Context, cs CSVSource, req ReadRequest) (State, bool, error) {
	if cl, err := l.csvLoader(ctx); err != nil || cl == nil {
		return nil, false, err
	}
	defaults := false
	st, ok, err := cs.ReadCSV(ctx, req, func(f CSVFile) error {
		before := l.rows
		streamed, err := l.csvFile(ctx, f)
		defaults = defaults || streamed
		var fb *fallbackError
		if errors.As(err, &fb) {
			fb.costly = fb.costly || streamed || before > 0
		}
		return err
	})
	if err != nil || !ok {
		return nil, ok, err
	}
	if defaults {
		for _, c := range []string{LoadedAtColumn, FileColumn} {
			if _, err := l.exec(ctx, l.stageTx, "alter table "+l.d.Render(l.stage)+" alter column "+l.d.QuoteIdent(c)+" drop default"); err != nil {
				return nil, true, err
			}
		}
		l.res.PassThrough = true
	}
	return st, true, nil
}

// csvFile stages one file: its first batch through l.batch (which types
// the columns), the rest by COPY. streamed says whether COPY ran.
func (l *load) csvFile(ctx context.Context, f CSVFile) (streamed bool, err error) {
	if strings.ContainsAny(f.Null, "\r\n"+string(f.Delimiter)+string(f.Quote)) {
		return false, fallback("the null string %q holds the delimiter, the quote or a line break", f.Null)
	}
	sc := &csvScanner{r: f.Body, delim: f.Delimiter, quote: f.Quote, buf: make([]byte, csvBufSize)}
	if err := sc.skipBOM(); err != nil {
		return false, err
	}
	var names []string
	width := -1
	var rows [][]any
	for len(rows) < BatchSize {
		fields, err := sc.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, err
		}
		sc.consume()
		if width < 0 {
			width = len(fields)
			if f.Header {
				head := make([]string, len(fields))
				for i, b := range fields {
					head[i] = string(b)
				}
				names = f.Names(head)
				continue
			}
			names = make([]string, width)
			for i := range names {
				names[i] = "column_" + strconv.Itoa(i+1)
			}
		}
		if len(fields) != width {
			return false, fallback("%s: a record with %d fields, not %d", f.Name, len(fields), width)
		}
		row := make([]any, width)
		for i, b := range fields {
			if string(b) != f.Null {
				row[i] = string(b)
			}
		}
		rows = append(rows, row)
	}
	if width >= 0 {
		if err := l.batch(ctx, Batch{Columns: names, Rows: rows, File: f.Name}); err != nil {
			return false, err
		}
	}
	if len(rows) < BatchSize {
		return false, nil // the whole file was one batch
	}
	if sc.done() {
		return false, nil
	}

	kinds := make([]kind, width)
	for i, n := range names {
		kinds[i] = l.byName[n].kind
	}
	cl, err := l.csvLoader(ctx)
	if err != nil {
		return false, err
	}
	for _, set := range [][2]string{{LoadedAtColumn, timestampLiteral(l.loadedAt)}, {FileColumn, l.d.QuoteString(f.Name)}} {
		if _, err := l.exec(ctx, l.stageTx, "alter table "+l.d.Render(l.stage)+" alter column "+l.d.QuoteIdent(set[0])+" set default "+set[1]); err != nil {
			return true, err
		}
	}

	base := l.rows
	progress := l.opts.Progress
	n, scanErr, loadErr := pipeCopy(ctx, func(_ context.Context, w io.Writer) error {
		return sc.stream(w, f, width, kinds, func(records, bytes int64) {
			if progress != nil {
				progress(base+records, bytes)
			}
		})
	}, func(r io.Reader) (int64, error) {
		return cl.LoadCSV(ctx, l.stage, names, adapters.CSVOptions{Delimiter: f.Delimiter, Quote: f.Quote, Null: f.Null, QuotedNull: true}, r)
	})
	switch {
	case scanErr != nil:
		return true, scanErr
	case loadErr != nil:
		// The warehouse refused a value kiln accepted (e.g. a date out of
		// its range): the record-by-record path reports it exactly.
		return true, fallback("%s: %v", f.Name, loadErr)
	}
	l.rows += n
	l.res.Bytes += sc.streamed
	l.records[f.Name] += n
	if progress != nil {
		progress(l.rows, l.res.Bytes)
	}
	return true, nil
}

// csvBufSize is the scanner's buffer: records are validated, and handed to
// COPY, a buffer at a time.
const csvBufSize = 256 << 10

// csvScanner splits CSV records without copying them. It accepts a strict
// subset of CSV that encoding/csv (kiln's record-by-record reader) and
// Postgres read alike, and returns a fallbackError for anything else.
type csvScanner struct {
	r            io.Reader
	buf          []byte
	pos, end     int // next byte to parse; end of data in buf
	mark         int // first byte not yet streamed (or consumed)
	eof          bool
	delim, quote byte
	fields       [][]byte
	out          io.Writer // set while streaming
	streamed     int64     // bytes written to out
}

var errNeedMore = errors.New("need more input")

func (s *csvScanner) skipBOM() error {
	for s.end < 3 && !s.eof {
		if err := s.fill(); err != nil {
			return err
		}
	}
	if bytes.HasPrefix(s.buf[:s.end], []byte{0xEF, 0xBB, 0xBF}) {
		s.pos, s.mark = 3, 3
	}
	return nil
}

// consume marks the bytes parsed so far as not to be streamed.
func (s *csvScanner) consume() { s.mark = s.pos }

// done reports whether the input is exhausted.
func (s *csvScanner) done() bool {
	for s.pos >= s.end && !s.eof {
		if err := s.fill(); err != nil {
			return false
		}
	}
	return s.pos >= s.end && s.eof
}

// fill writes the bytes before pos still to stream, moves the unparsed
// rest to the front of the buffer (growing it for a record longer than
// the buffer) and reads more.
func (s *csvScanner) fill() error {
	if s.out != nil && s.pos > s.mark {
		n, err := s.out.Write(s.buf[s.mark:s.pos])
		s.streamed += int64(n)
		if err != nil {
			return err
		}
	}
	s.mark = s.pos
	if s.pos > 0 {
		copy(s.buf, s.buf[s.pos:s.end])
		s.end -= s.pos
		s.mark -= s.pos
		s.pos = 0
	}
	if s.end == len(s.buf) {
		s.buf = append(s.buf, make([]byte, len(s.buf))...)
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if errors.Is(err, io.EOF) {
			s.eof = true
			return nil
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
	}
}

// next parses the record at pos. The fields point into the buffer and are
// valid until the next call. It returns io.EOF at the end of the input.
func (s *csvScanner) next() ([][]byte, error) {
	for {
		if s.pos >= s.end {
			if s.eof {
				return nil, io.EOF
			}
			if err := s.fill(); err != nil {
				return nil, err
			}
			continue
		}
		n, err := s.parse(s.pos)
		if errors.Is(err, errNeedMore) {
			if err := s.fill(); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		s.pos = n
		return s.fields, nil
	}
}

// parse reads one record starting at p and returns where the next one
// starts.
func (s *csvScanner) parse(p int) (int, error) {
	s.fields = s.fields[:0]
	start := p
	for {
		if p >= s.end {
			if !s.eof {
				return 0, errNeedMore
			}
			s.fields = append(s.fields, s.buf[p:p]) // after a trailing delimiter
			return p, nil
		}
		if s.buf[p] == s.quote {
			q, unescape := p+1, false
			var j int
			for {
				i := bytes.IndexByte(s.buf[q:s.end], s.quote)
				if i < 0 {
					if s.eof {
						return 0, fallback("an unterminated quoted field")
					}
					return 0, errNeedMore
				}
				j = q + i
				if j+1 >= s.end && !s.eof {
					return 0, errNeedMore
				}
				if j+1 < s.end && s.buf[j+1] == s.quote {
					unescape, q = true, j+2
					continue
				}
				break
			}
			field := s.buf[p+1 : j]
			if bytes.IndexByte(field, '\r') >= 0 {
				return 0, fallback("a carriage return inside a quoted field")
			}
			if unescape {
				field = bytes.ReplaceAll(field, []byte{s.quote, s.quote}, []byte{s.quote})
			}
			s.fields = append(s.fields, field)
			p = j + 1
			if p >= s.end {
				return p, nil // s.eof: checked above
			}
			switch s.buf[p] {
			case s.delim:
				p++
				continue
			case '\n':
				return p + 1, nil
			case '\r':
				if p+1 >= s.end && !s.eof {
					return 0, errNeedMore
				}
				if p+1 < s.end && s.buf[p+1] == '\n' {
					return p + 2, nil
				}
				return 0, fallback("a carriage return after a quoted field")
			}
			return 0, fallback("text after a closing quote")
		}
		q := p
		for q < s.end {
			b := s.buf[q]
			if b == s.delim || b == '\n' || b == '\r' || b == s.quote {
				break
			}
			q++
		}
		if q >= s.end {
			if !s.eof {
				return 0, errNeedMore
			}
			s.fields = append(s.fields, s.buf[p:q])
			return q, s.checkLine(start, q)
		}
		switch b := s.buf[q]; b {
		case s.delim:
			s.fields = append(s.fields, s.buf[p:q])
			p = q + 1
			continue
		case '\n':
			s.fields = append(s.fields, s.buf[p:q])
			return q + 1, s.checkLine(start, q)
		case '\r':
			if q+1 >= s.end && !s.eof {
				return 0, errNeedMore
			}
			if q+1 < s.end && s.buf[q+1] == '\n' {
				s.fields = append(s.fields, s.buf[p:q])
				return q + 2, s.checkLine(start, q)
			}
			return 0, fallback("a carriage return inside a field")
		}
		return 0, fallback("a quote inside an unquoted field")
	}
}

// checkLine refuses the lines the two readers take differently: an empty
// line (encoding/csv skips it) and `\.` (Postgres' end-of-data marker).
func (s *csvScanner) checkLine(start, end int) error {
	if len(s.fields) != 1 {
		return nil
	}
	switch string(s.buf[start:end]) {
	case "":
		return fallback("an empty line")
	case `\.`:
		return fallback(`a line holding only \.`)
	}
	return nil
}

// stream checks every remaining record and writes it to w.
func (s *csvScanner) stream(w io.Writer, f CSVFile, width int, kinds []kind, progress func(records, bytes int64)) error {
	s.out = w
	var records int64
	for {
		fields, err := s.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		records++
		if len(fields) != width {
			return fallback("%s: a record with %d fields, not %d", f.Name, len(fields), width)
		}
		for i, b := range fields {
			if string(b) == f.Null || kinds[i] == kindText {
				continue
			}
			if !fits(kinds[i], b) {
				return fallback("%s: %q does not keep its column's type %s", f.Name, b, kinds[i].portable())
			}
		}
		if records&0xFFFF == 0 {
			progress(records, s.streamed)
		}
	}
	if s.pos > s.mark {
		n, err := w.Write(s.buf[s.mark:s.pos])
		s.streamed += int64(n)
		s.mark = s.pos
		if err != nil {
			return err
		}
	}
	return nil
}

// fits reports whether a non-NULL CSV field keeps a column of kind k as it
// is (kindOfString would not widen it) and reads the same in Postgres.
func fits(k kind, b []byte) bool {
	v := unsafe.String(unsafe.SliceData(b), len(b))
	switch k {
	case kindInteger, kindBigint:
		if !isInteger(v) {
			return false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return err == nil && (k == kindBigint || intKind(n) == kindInteger)
	case kindNumeric:
		switch kindOfString(v) {
		case kindInteger, kindBigint, kindNumeric:
			return true
		}
	case kindBoolean:
		return strings.EqualFold(v, "true") || strings.EqualFold(v, "false")
	case kindDate:
		return isDate(v)
	case kindTimestamp:
		// Zoned values are converted to UTC by kiln; Postgres would drop
		// the zone of a timestamp column: refuse them, and more than
		// microseconds (kiln truncates, Postgres rounds).
		return isDate(v) || isPlainTimestamp(v)
	}
	return false
}

// isDate reports a valid YYYY-MM-DD date.
func isDate(v string) bool {
	if len(v) != 10 || v[4] != '-' || v[7] != '-' {
		return false
	}
	y, ok1 := digits(v[0:4])
	m, ok2 := digits(v[5:7])
	d, ok3 := digits(v[8:10])
	return ok1 && ok2 && ok3 && m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m)
}

// isPlainTimestamp reports YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]] without a
// zone, with valid fields.
func isPlainTimestamp(v string) bool {
	if len(v) < 16 || (v[10] != ' ' && v[10] != 'T') || v[13] != ':' || !isDate(v[:10]) {
		return false
	}
	h, ok1 := digits(v[11:13])
	mi, ok2 := digits(v[14:16])
	if !ok1 || !ok2 || h > 23 || mi > 59 {
		return false
	}
	rest := v[16:]
	if rest == "" {
		return true
	}
	if len(rest) < 3 || rest[0] != ':' {
		return false
	}
	sec, ok := digits(rest[1:3])
	if !ok || sec > 59 {
		return false
	}
	rest = rest[3:]
	if rest == "" {
		return true
	}
	if rest[0] != '.' || len(rest) < 2 || len(rest) > 7 {
		return false
	}
	_, ok = digits(rest[1:])
	return ok
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
