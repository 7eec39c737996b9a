package httpsource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// maxRaw caps the raw text kept for a bad record.
const maxRaw = 4096

// lookup follows a dot path (keys; a number also indexes an array) into a
// JSON document that is known to be valid. found is false when a step is
// missing.
func lookup(doc json.RawMessage, path string) (v json.RawMessage, found bool) {
	v = doc
	if path == "" {
		return v, true
	}
	for _, step := range strings.Split(path, ".") {
		switch firstByte(v) {
		case '{':
			var m map[string]json.RawMessage
			if json.Unmarshal(v, &m) != nil {
				return nil, false
			}
			next, ok := m[step]
			if !ok {
				return nil, false
			}
			v = next
		case '[':
			i, err := strconv.Atoi(step)
			if err != nil {
				return nil, false
			}
			var a []json.RawMessage
			if json.Unmarshal(v, &a) != nil || i < 0 || i >= len(a) {
				return nil, false
			}
			v = a[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// objectKeys lists the keys of a JSON object, sorted, for messages.
func objectKeys(v json.RawMessage) []string {
	var m map[string]json.RawMessage
	if json.Unmarshal(v, &m) != nil {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func firstByte(v json.RawMessage) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// jsonKind names a JSON value's kind for messages.
func jsonKind(v json.RawMessage) string {
	switch firstByte(v) {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// scalar decodes a JSON scalar at path into text for a URL ("" for null).
func scalar(v json.RawMessage) (string, bool) {
	var x any
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if dec.Decode(&x) != nil {
		return "", false
	}
	switch x := x.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// batchBuilder turns a page's records into one ingest.Batch whose columns
// are the union of the records' keys in first-seen order.
type batchBuilder struct {
	page  int
	index map[string]int
	batch ingest.Batch
}

func newBatchBuilder(page int) *batchBuilder {
	return &batchBuilder{page: page, index: map[string]int{}}
}

// add decodes one record; anything but a JSON object is a bad record.
func (b *batchBuilder) add(n int, raw json.RawMessage) {
	if firstByte(raw) != '{' {
		b.bad(n, fmt.Sprintf("record is %s, not a JSON object", jsonKind(raw)), raw)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		b.bad(n, err.Error(), raw)
		return
	}
	row := make([]any, len(b.batch.Columns))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			b.bad(n, err.Error(), raw)
			return
		}
		key, _ := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			b.bad(n, err.Error(), raw)
			return
		}
		i, ok := b.index[key]
		if !ok {
			i = len(b.batch.Columns)
			b.index[key] = i
			b.batch.Columns = append(b.batch.Columns, key)
		}
		for len(row) <= i {
			row = append(row, nil)
		}
		row[i] = convert(v)
	}
	b.batch.Rows = append(b.batch.Rows, row)
}

func (b *batchBuilder) bad(n int, reason string, raw json.RawMessage) {
	text := string(bytes.TrimSpace(raw))
	if len(text) > maxRaw {
		text = ingest.Excerpt(text, maxRaw)
	}
	b.batch.Bad = append(b.batch.Bad, ingest.BadRecord{
		Where:  fmt.Sprintf("page %d record %d", b.page, n),
		Reason: reason,
		Raw:    text,
	})
}

// finish pads earlier rows to the final width and returns the batch.
func (b *batchBuilder) finish() ingest.Batch {
	w := len(b.batch.Columns)
	for i, row := range b.batch.Rows {
		if len(row) < w {
			b.batch.Rows[i] = append(row, make([]any, w-len(row))...)
		}
	}
	return b.batch
}

// convert replaces json.Number throughout a decoded value: an integer
// literal that fits becomes int64, other numbers float64; an integer too
// large for int64 stays exact as its decimal text.
func convert(v any) any {
	switch v := v.(type) {
	case json.Number:
		s := v.String()
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
			return s
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return s
		}
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = convert(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = convert(e)
		}
		return v
	}
	return v
}
