package httpsource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/duckdb"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/httpsource"
	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
)

// TestConformance serves the suite's steps as a paged JSON API.
func TestConformance(t *testing.T) {
	ingesttest.Run(t, func(t *testing.T, step int) ingest.Table {
		st := ingesttest.Steps[step]
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			page, _ := strconv.Atoi(r.URL.Query().Get("page"))
			recs := []map[string]any{}
			if i := page - 1; i >= 0 && i < len(st.Rows) { // one record a page
				rec := map[string]any{}
				for j, c := range st.Columns {
					rec[c] = st.Rows[i][j]
				}
				recs = append(recs, rec)
			}
			json.NewEncoder(w).Encode(recs)
		}))
		t.Cleanup(srv.Close)
		ctx := context.Background()
		src, err := httpsource.Connector(nil).Open(ctx, ingest.Config{Values: map[string]any{"base_url": srv.URL}})
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := src.Table(ctx, ingest.Config{Values: map[string]any{"path": "/rows", "paginate": map[string]any{"type": "page"}}})
		if err != nil {
			t.Fatal(err)
		}
		return tbl
	})
}

// TestLoadDuckDB loads a cursor-paged API into a DuckDB file with
// ingest.Load, then loads it again incrementally: the second load sends the
// stored cursor as since= and merges an updated and a new contact.
func TestLoadDuckDB(t *testing.T) {
	var mu sync.Mutex
	contacts := map[int]map[string]any{}
	for i := 1; i <= 25; i++ {
		contacts[i] = map[string]any{"id": i, "seq": i, "name": fmt.Sprintf("c%d", i), "address": map[string]any{"city": "Oslo"}}
	}
	var sinceSeen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		q := r.URL.Query()
		since, _ := strconv.Atoi(q.Get("since"))
		after, _ := strconv.Atoi(q.Get("after"))
		if q.Get("after") == "" {
			sinceSeen = append(sinceSeen, q.Get("since"))
		}
		// Records ordered by seq, 10 a page, the cursor being the last seq.
		var page []map[string]any
		for seq := max(since, after) + 1; len(page) < 10; seq++ {
			found := false
			for _, c := range contacts {
				if c["seq"] == seq {
					page, found = append(page, c), true
				}
			}
			if !found {
				break
			}
		}
		var next any
		if len(page) == 10 {
			next = strconv.Itoa(page[9]["seq"].(int))
		}
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"items": page}, "meta": map[string]any{"next_cursor": next}})
	}))
	defer srv.Close()

	ctx := context.Background()
	wh, err := duckdb.Open(ctx, adaptertest.DuckDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	src, err := httpsource.Connector(nil).Open(ctx, ingest.Config{Values: map[string]any{
		"base_url": srv.URL + "/v2",
		"auth":     map[string]any{"type": "bearer", "token": "tok"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tbl, err := src.Table(ctx, ingest.Config{Values: map[string]any{
		"path":         "/contacts",
		"records":      "data.items",
		"paginate":     map[string]any{"type": "cursor", "next": "meta.next_cursor", "param": "after"},
		"cursor_param": "since",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wh.Exec(ctx, "create schema if not exists raw_crm"); err != nil {
		t.Fatal(err)
	}
	dest := adapters.Relation{Schema: "raw_crm", Identifier: "contacts"}
	opts := ingest.LoadOptions{Mode: ingest.ModeMerge, PrimaryKey: []string{"id"}, Cursor: "seq"}

	res, err := ingest.Load(ctx, wh, dest, tbl, opts)
	if err != nil {
		t.Fatalf("first load: %v", err)
	}
	if res.Inserted != 25 {
		t.Errorf("first load inserted %d rows, want 25", res.Inserted)
	}

	mu.Lock()
	contacts[24]["name"], contacts[24]["seq"] = "renamed", 26
	contacts[26] = map[string]any{"id": 26, "seq": 27, "name": "c26", "address": map[string]any{"city": "Bergen"}}
	mu.Unlock()
	if _, err := ingest.Load(ctx, wh, dest, tbl, opts); err != nil {
		t.Fatalf("second load: %v", err)
	}
	if want := []string{"", "25"}; fmt.Sprint(sinceSeen) != fmt.Sprint(want) {
		t.Errorf("since sent = %q, want %q", sinceSeen, want)
	}

	got := query(t, wh, `select count(*), count(distinct id), max(case when id = 24 then name end),
		max(case when id = 26 then json_extract_string(address, '$.city') end) from raw_crm.contacts`)
	if want := "[26 26 renamed Bergen]"; fmt.Sprint(got) != want {
		t.Errorf("contacts: count, distinct ids, name of 24, city of 26 = %v, want %s", got, want)
	}
}

func query(t *testing.T, wh adapters.Warehouse, sql string) []any {
	t.Helper()
	rows, err := wh.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("no row: %v", rows.Err())
	}
	v, err := rows.Values()
	if err != nil {
		t.Fatal(err)
	}
	return v
}
