package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kilnhq/kiln/adapters"
)

// StateTable is the table in LoadOptions.MetaSchema holding each load's
// state: (key text primary key, state text /* JSON */, updated_at timestamp).
const StateTable = "ingest_state"

// storedState is the JSON kept in StateTable.state.
type storedState struct {
	// Cursor is the highest cursor value loaded so far.
	Cursor *cursorValue `json:"cursor,omitempty"`
	// Connector is the connector's own state (e.g. files seen).
	Connector State `json:"connector,omitempty"`
}

// cursorValue keeps a cursor at full precision with its kind.
type cursorValue struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

func encodeCursor(v any) *cursorValue {
	switch x := v.(type) {
	case nil:
		return nil
	case int64:
		return &cursorValue{Kind: "integer", Value: strconv.FormatInt(x, 10)}
	case float64:
		return &cursorValue{Kind: "numeric", Value: strconv.FormatFloat(x, 'g', -1, 64)}
	case time.Time:
		return &cursorValue{Kind: "timestamp", Value: x.UTC().Format(time.RFC3339Nano)}
	}
	s, _ := toText(v)
	return &cursorValue{Kind: "text", Value: s.(string)}
}

func (c *cursorValue) decode() (any, error) {
	if c == nil {
		return nil, nil
	}
	switch c.Kind {
	case "integer":
		return strconv.ParseInt(c.Value, 10, 64)
	case "numeric":
		return strconv.ParseFloat(c.Value, 64)
	case "timestamp":
		return time.Parse(time.RFC3339Nano, c.Value)
	case "text":
		return c.Value, nil
	}
	return nil, fmt.Errorf("unknown cursor kind %q", c.Kind)
}

// compareCursor orders two cursor values; values of different Go types
// compare as numbers when both are numbers, else as text.
func compareCursor(a, b any) int {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp3(x < y, x > y)
		case float64:
			return cmp3(float64(x) < y, float64(x) > y)
		}
	case float64:
		switch y := b.(type) {
		case float64:
			return cmp3(x < y, x > y)
		case int64:
			return cmp3(x < float64(y), x > float64(y))
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	case bool:
		if y, ok := b.(bool); ok {
			return cmp3(!x && y, x && !y)
		}
	}
	sa, _ := toText(a)
	sb, _ := toText(b)
	return strings.Compare(fmt.Sprint(sa), fmt.Sprint(sb))
}

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}

// ensureMeta creates the meta schema and state table if missing. Parallel
// loads may race to create them, so it retries.
func (l *load) ensureMeta(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if _, err = l.createSchema(ctx, l.meta.Database, l.meta.Schema); err != nil {
			continue
		}
		_, err = l.exec(ctx, l.wh, "create table if not exists "+l.d.Render(l.meta)+" (\n  "+
			l.d.QuoteIdent("key")+" "+l.d.TypeName("text")+" primary key,\n  "+
			l.d.QuoteIdent("state")+" "+l.d.TypeName("text")+",\n  "+
			l.d.QuoteIdent("updated_at")+" "+l.d.TypeName("timestamp")+"\n)")
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("creating the ingest state table %s: %w", l.d.Render(l.meta), err)
}

// readState returns the committed state of the load's key.
func (l *load) readState(ctx context.Context) (storedState, bool, error) {
	var st storedState
	rows, err := l.wh.Query(ctx, "select "+l.d.QuoteIdent("state")+" from "+l.d.Render(l.meta)+
		" where "+l.d.QuoteIdent("key")+" = "+l.d.QuoteString(l.opts.Key))
	if err != nil {
		return st, false, fmt.Errorf("reading ingest state %q: %w", l.opts.Key, err)
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return st, false, fmt.Errorf("reading ingest state %q: %w", l.opts.Key, err)
		}
		found = true
		var raw []byte
		switch v := vals[0].(type) {
		case string:
			raw = []byte(v)
		case []byte:
			raw = v
		}
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &st); err != nil {
				return st, false, fmt.Errorf("decoding ingest state %q: %w", l.opts.Key, err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return st, false, fmt.Errorf("reading ingest state %q: %w", l.opts.Key, err)
	}
	return st, found, nil
}

// writeState replaces the key's state inside tx, so it commits with the rows.
func (l *load) writeState(ctx context.Context, tx adapters.Tx, st storedState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding ingest state %q: %w", l.opts.Key, err)
	}
	if _, err := l.exec(ctx, tx, "delete from "+l.d.Render(l.meta)+" where "+l.d.QuoteIdent("key")+" = "+l.d.QuoteString(l.opts.Key)); err != nil {
		return fmt.Errorf("writing ingest state %q: %w", l.opts.Key, err)
	}
	_, err = l.exec(ctx, tx, "insert into "+l.d.Render(l.meta)+" ("+l.d.QuoteIdent("key")+", "+l.d.QuoteIdent("state")+", "+l.d.QuoteIdent("updated_at")+")\nvalues ("+
		l.d.QuoteString(l.opts.Key)+", "+l.d.QuoteString(string(b))+", cast("+l.d.QuoteString(l.loadedAt.Format("2006-01-02 15:04:05.999999"))+" as "+l.d.TypeName("timestamp")+"))")
	if err != nil {
		return fmt.Errorf("writing ingest state %q: %w", l.opts.Key, err)
	}
	return nil
}

// ReadState returns the committed connector state and cursor of key, for
// tools and tests; found is false before the first load.
func ReadState(ctx context.Context, wh adapters.Warehouse, database, metaSchema, key string) (connector State, cursor any, found bool, err error) {
	if metaSchema == "" {
		metaSchema = DefaultMetaSchema
	}
	l := &load{wh: wh, d: wh.Dialect(), opts: LoadOptions{Key: key, MetaSchema: metaSchema}}
	l.meta = adapters.Relation{Database: database, Schema: metaSchema, Identifier: StateTable}
	info, err := wh.Relation(ctx, l.meta)
	if err != nil || info == nil {
		return nil, nil, false, err
	}
	st, found, err := l.readState(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	cursor, err = st.Cursor.decode()
	return st.Connector, cursor, found, err
}
