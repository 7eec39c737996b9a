package files

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// readJSONLines streams one JSON object per line; blank lines are
// skipped, anything else is a bad record at name:line.
func readJSONLines(r io.Reader, name string, b *batcher) error {
	br := bufio.NewReaderSize(r, 1<<16)
	for line := 1; ; line++ {
		text, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(text)) > 0 {
			if line == 1 {
				text = bytes.TrimPrefix(text, []byte{0xEF, 0xBB, 0xBF})
			}
			keys, rec, perr := parseObject(text)
			if perr != nil {
				if err := b.addBad(name+":"+strconv.Itoa(line), perr.Error(), string(bytes.TrimRight(text, "\r\n"))); err != nil {
					return err
				}
			} else if err := b.addRecord(keys, rec); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
	}
}

// parseObject reads one JSON object that must fill text.
func parseObject(text []byte) ([]string, map[string]any, error) {
	dec := newDecoder(bytes.NewReader(text))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("a record must be a JSON object, not %s", describe(tok))
	}
	keys, m, err := readObject(dec)
	if err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("unexpected text after the JSON object")
	}
	return keys, m, nil
}

// readJSON streams the records of one JSON document: the array at the
// records path, or the top-level array, or the document itself when it is
// one object. A record that is not an object is a bad record ("name
// record N"); broken JSON ends the file with a bad record.
func readJSON(r io.Reader, name string, records []string, b *batcher) error {
	dec := newDecoder(bufio.NewReaderSize(r, 1<<16))
	tok, err := dec.Token()
	if err != nil {
		return b.addBad(name+" record 1", "invalid JSON: "+err.Error(), "")
	}
	if len(records) > 0 {
		if tok != json.Delim('{') {
			return fmt.Errorf("reading %s: records path %s: the document is not an object", name, strings.Join(records, "."))
		}
		found, err := descend(dec, records)
		if err != nil {
			return b.addBad(name+" record 1", "invalid JSON: "+err.Error(), "")
		}
		if !found {
			return fmt.Errorf("reading %s: records path %s not found", name, strings.Join(records, "."))
		}
		if tok, err = dec.Token(); err != nil {
			return b.addBad(name+" record 1", "invalid JSON: "+err.Error(), "")
		}
		if tok != json.Delim('[') {
			return fmt.Errorf("reading %s: records path %s is %s, not an array", name, strings.Join(records, "."), describe(tok))
		}
	}
	switch tok {
	case json.Delim('{'):
		keys, m, err := readObject(dec)
		if err != nil {
			return b.addBad(name+" record 1", "invalid JSON: "+err.Error(), "")
		}
		return b.addRecord(keys, m)
	case json.Delim('['):
		for n := 1; dec.More(); n++ {
			where := name + " record " + strconv.Itoa(n)
			tok, err := dec.Token()
			if err != nil {
				return b.addBad(where, "invalid JSON: "+err.Error(), "")
			}
			if tok != json.Delim('{') {
				if tok == json.Delim('[') {
					if err := skipRest(dec); err != nil {
						return b.addBad(where, "invalid JSON: "+err.Error(), "")
					}
				}
				if err := b.addBad(where, "a record must be a JSON object, not "+describe(tok), ""); err != nil {
					return err
				}
				continue
			}
			keys, m, err := readObject(dec)
			if err != nil {
				return b.addBad(where, "invalid JSON: "+err.Error(), "")
			}
			if err := b.addRecord(keys, m); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("reading %s: the document is %s, not an object or an array of objects", name, describe(tok))
}

// descend moves dec (just inside an object) to the value at path; it
// reports false when a key is missing.
func descend(dec *json.Decoder, path []string) (bool, error) {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false, err
		}
		key, _ := tok.(string)
		if key != path[0] {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return false, err
			}
			continue
		}
		if len(path) == 1 {
			return true, nil
		}
		tok, err = dec.Token()
		if err != nil {
			return false, err
		}
		if tok != json.Delim('{') {
			return false, nil
		}
		return descend(dec, path[1:])
	}
	return false, nil
}

func newDecoder(r io.Reader) *json.Decoder {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return dec
}

// readObject reads an object's members after its '{', keeping key order.
func readObject(dec *json.Decoder) ([]string, map[string]any, error) {
	var keys []string
	m := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("object key is %s", describe(tok))
		}
		v, err := readValue(dec)
		if err != nil {
			return nil, nil, err
		}
		if _, dup := m[key]; !dup {
			keys = append(keys, key)
		}
		m[key] = v
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, nil, err
	}
	return keys, m, nil
}

// readValue reads one value: objects become map[string]any, arrays
// []any, numbers int64 or float64.
func readValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			_, m, err := readObject(dec)
			return m, err
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := readValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i, nil
		}
		if f, err := t.Float64(); err == nil {
			return f, nil
		}
		return string(t), nil
	}
	return tok, nil
}

// skipRest skips the rest of an array whose '[' was read.
func skipRest(dec *json.Decoder) error {
	for dec.More() {
		if _, err := readValue(dec); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}

func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			return "an array"
		case '{':
			return "an object"
		}
		return string(t)
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}
