package httpsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// config wraps values as a connector config whose keys all sit at one
// made-up position.
func config(values map[string]any) ingest.Config {
	return ingest.Config{Values: values, Pos: func(string) string { return "models/sources.yml:7:9" }}
}

// fast are source settings that keep retry tests quick.
func fast(base string, extra map[string]any) map[string]any {
	m := map[string]any{"base_url": base, "retry_wait": "5ms", "max_retry_wait": "50ms"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// openTable opens the connector's source and one table.
func openTable(t *testing.T, src, tbl map[string]any) ingest.Table {
	t.Helper()
	ctx := context.Background()
	s, err := Connector(nil).Open(ctx, config(src))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	tb, err := s.Table(ctx, config(tbl))
	if err != nil {
		t.Fatalf("Table: %v", err)
	}
	return tb
}

// readAll reads a table and returns its batches.
func readAll(t *testing.T, src, tbl map[string]any, req ingest.ReadRequest) ([]ingest.Batch, error) {
	t.Helper()
	tb := openTable(t, src, tbl)
	var batches []ingest.Batch
	_, err := tb.Read(context.Background(), req, func(b ingest.Batch) error {
		batches = append(batches, b)
		return nil
	})
	return batches, err
}

// ids returns the "id" column of every row, in order.
func ids(t *testing.T, batches []ingest.Batch) []int64 {
	t.Helper()
	var out []int64
	for _, b := range batches {
		col := -1
		for i, c := range b.Columns {
			if c == "id" {
				col = i
			}
		}
		if col < 0 {
			t.Fatalf("batch without id column: %v", b.Columns)
		}
		for _, r := range b.Rows {
			id, ok := r[col].(int64)
			if !ok {
				t.Fatalf("id %v is %T, want int64", r[col], r[col])
			}
			out = append(out, id)
		}
	}
	return out
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// records makes JSON records with ids from..to (inclusive).
func records(from, to int) []map[string]any {
	out := []map[string]any{}
	for i := from; i <= to; i++ {
		out = append(out, map[string]any{"id": i, "name": fmt.Sprintf("n%d", i)})
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func intParam(r *http.Request, name string, def int) int {
	if s := r.URL.Query().Get(name); s != "" {
		n, err := strconv.Atoi(s)
		if err == nil {
			return n
		}
	}
	return def
}

// server starts a loopback API and counts its requests.
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

const total = 25

func TestPaginate(t *testing.T) {
	tests := []struct {
		name     string
		handler  func(srvURL string) http.HandlerFunc
		paginate map[string]any
		records  string
		requests int64
	}{
		{
			name: "page",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					page, size := intParam(r, "page", 0), intParam(r, "per_page", 0)
					if size != 10 || page < 1 {
						http.Error(w, "bad page or per_page", http.StatusBadRequest)
						return
					}
					from := (page-1)*size + 1
					writeJSON(w, records(from, min(from+size-1, total)))
				}
			},
			paginate: map[string]any{"type": "page", "size_param": "per_page", "size": int64(10)},
			requests: 4, // the fourth page is empty
		},
		{
			name: "page starting at 0",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					p := intParam(r, "p", -1)
					if p < 0 {
						http.Error(w, "no p", http.StatusBadRequest)
						return
					}
					writeJSON(w, records(p*10+1, min(p*10+10, total)))
				}
			},
			paginate: map[string]any{"type": "page", "param": "p", "start": int64(0)},
			requests: 4,
		},
		{
			name: "offset",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					off, lim := intParam(r, "offset", -1), intParam(r, "limit", 0)
					if off < 0 || lim != 7 {
						http.Error(w, "bad offset or limit", http.StatusBadRequest)
						return
					}
					writeJSON(w, map[string]any{"data": records(off+1, min(off+lim, total))})
				}
			},
			paginate: map[string]any{"type": "offset", "limit": int64(7)},
			records:  "data",
			requests: 5,
		},
		{
			name: "cursor",
			handler: func(string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					from := 1
					if c := r.URL.Query().Get("after"); c != "" {
						from, _ = strconv.Atoi(strings.TrimPrefix(c, "c"))
					}
					to := min(from+9, total)
					var next any
					if to < total {
						next = fmt.Sprintf("c%d", to+1)
					}
					writeJSON(w, map[string]any{
						"data": map[string]any{"items": records(from, to)},
						"meta": map[string]any{"next_cursor": next},
					})
				}
			},
			paginate: map[string]any{"type": "cursor", "next": "meta.next_cursor", "param": "after"},
			records:  "data.items",
			requests: 3,
		},
		{
			name: "next_url",
			handler: func(srvURL string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					from := intParam(r, "from", 1)
					to := min(from+9, total)
					links := map[string]any{}
					switch {
					case to >= total:
					case from == 1: // a relative link
						links["next"] = fmt.Sprintf("/items?from=%d", to+1)
					default: // an absolute one
						links["next"] = fmt.Sprintf("%s/items?from=%d", srvURL, to+1)
					}
					writeJSON(w, map[string]any{"results": records(from, to), "links": links})
				}
			},
			paginate: map[string]any{"type": "next_url", "next": "links.next"},
			records:  "results",
			requests: 3,
		},
		{
			name: "link_header",
			handler: func(srvURL string) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					from := intParam(r, "from", 1)
					to := min(from+9, total)
					if to < total {
						w.Header().Add("Link", fmt.Sprintf(`<%s/items?from=1>; rel="first", <%s/items?from=%d>; rel="next"`, srvURL, srvURL, to+1))
					}
					writeJSON(w, records(from, to))
				}
			},
			paginate: map[string]any{"type": "link_header"},
			requests: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srvURL string
			srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/items" && r.URL.Path != "/items" {
					http.NotFound(w, r)
					return
				}
				tt.handler(srvURL)(w, r)
			})
			srvURL = srv.URL
			batches, err := readAll(t, fast(srv.URL+"/api", nil), map[string]any{
				"path": "/items", "records": tt.records, "paginate": tt.paginate,
			}, ingest.ReadRequest{Full: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(t, batches); !reflect.DeepEqual(got, seq(1, total)) {
				t.Errorf("ids = %v, want 1..%d", got, total)
			}
			if got := n.Load(); got != tt.requests {
				t.Errorf("%d requests, want %d", got, tt.requests)
			}
			for _, b := range batches {
				if !reflect.DeepEqual(b.Columns, []string{"id", "name"}) {
					t.Errorf("columns = %v", b.Columns)
				}
			}
		})
	}
}

func TestHasMore(t *testing.T) {
	srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
		page := intParam(r, "page", 1)
		from := (page-1)*10 + 1
		to := min(from+9, total)
		writeJSON(w, map[string]any{"items": records(from, to), "meta": map[string]any{"has_more": to < total}})
	})
	batches, err := readAll(t, fast(srv.URL, nil), map[string]any{
		"path": "/items", "records": "items",
		"paginate": map[string]any{"type": "page", "has_more": "meta.has_more"},
	}, ingest.ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(t, batches); !reflect.DeepEqual(got, seq(1, total)) {
		t.Errorf("ids = %v", got)
	}
	if n.Load() != 3 {
		t.Errorf("%d requests, want 3 (has_more false stops without asking for an empty page)", n.Load())
	}

	_, err = readAll(t, fast(srv.URL, nil), map[string]any{
		"path": "/items", "records": "items",
		"paginate": map[string]any{"type": "page", "has_more": "meta.more"},
	}, ingest.ReadRequest{})
	if err == nil || !strings.Contains(err.Error(), `has_more "meta.more" is not in the response`) {
		t.Errorf("missing has_more: err = %v", err)
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name  string
		auth  map[string]any
		check func(r *http.Request) bool
	}{
		{"bearer", map[string]any{"type": "bearer", "token": "s3cret"},
			func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer s3cret" }},
		{"basic", map[string]any{"type": "basic", "username": "ann", "password": "pw"},
			func(r *http.Request) bool { u, p, ok := r.BasicAuth(); return ok && u == "ann" && p == "pw" }},
		{"api_key header", map[string]any{"type": "api_key", "name": "X-Api-Key", "value": "k1"},
			func(r *http.Request) bool { return r.Header.Get("X-Api-Key") == "k1" }},
		{"api_key query", map[string]any{"type": "api_key", "name": "api_key", "value": "k2", "in": "query"},
			func(r *http.Request) bool { return r.URL.Query().Get("api_key") == "k2" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
				if !tt.check(r) {
					w.WriteHeader(http.StatusUnauthorized)
					fmt.Fprint(w, `{"error":"bad credentials"}`)
					return
				}
				if r.Header.Get("X-Tenant") != "acme" || r.URL.Query().Get("region") != "eu" {
					http.Error(w, "missing header or param", http.StatusBadRequest)
					return
				}
				// Two pages via the Link header: auth must follow.
				if r.URL.Query().Get("p") == "" {
					w.Header().Set("Link", `</items?p=2&region=eu>; rel="next"`)
					writeJSON(w, records(1, 2))
					return
				}
				writeJSON(w, records(3, 3))
			})
			batches, err := readAll(t, fast(srv.URL, map[string]any{
				"auth":    tt.auth,
				"headers": map[string]any{"X-Tenant": "acme"},
				"params":  map[string]any{"region": "eu"},
			}), map[string]any{"path": "/items", "paginate": map[string]any{"type": "link_header"}}, ingest.ReadRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(t, batches); !reflect.DeepEqual(got, seq(1, 3)) {
				t.Errorf("ids = %v", got)
			}
			if n.Load() != 2 {
				t.Errorf("%d requests, want 2", n.Load())
			}
		})
	}
}

func TestAuthRefused(t *testing.T) {
	body := `{"error":"invalid token","detail":"` + strings.Repeat("x", 400) + `"}`
	srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, body)
	})
	_, err := readAll(t, fast(srv.URL, map[string]any{
		"auth": map[string]any{"type": "api_key", "name": "key", "value": "topsecret", "in": "query"},
	}), map[string]any{"path": "/items"}, ingest.ReadRequest{})
	var se *StatusError
	if !errors.As(err, &se) || !se.AuthRefused() || se.StatusCode != 401 {
		t.Fatalf("err = %v, want a 401 *StatusError", err)
	}
	msg := err.Error()
	for _, want := range []string{"authentication refused", "401 Unauthorized", `{"error":"invalid token"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if len(se.Body) > excerptLen+len("…") {
		t.Errorf("body excerpt is %d bytes, want at most %d", len(se.Body), excerptLen)
	}
	if strings.Contains(msg, "topsecret") {
		t.Errorf("message leaks the API key: %s", msg)
	}
	if n.Load() != 1 {
		t.Errorf("%d requests, want 1 (401 is not retried)", n.Load())
	}
}

func TestClientError(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"no such endpoint"}`, http.StatusNotFound)
	})
	_, err := readAll(t, fast(srv.URL, nil), map[string]any{"path": "/nope"}, ingest.ReadRequest{})
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 || se.AuthRefused() {
		t.Fatalf("err = %v, want a 404 *StatusError", err)
	}
	for _, want := range []string{"page 1", "/nope", "404 Not Found", "no such endpoint"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
}

func TestRetryAfter429(t *testing.T) {
	var first time.Time
	var gap time.Duration
	var mu sync.Mutex
	srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if first.IsZero() {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		gap = time.Since(first)
		writeJSON(w, records(1, 3))
	})
	// max_retry_wait (5s here) caps Retry-After but does not shorten 1s.
	batches, err := readAll(t, fast(srv.URL, map[string]any{"max_retry_wait": "5s"}), map[string]any{"path": "/items"}, ingest.ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(t, batches); !reflect.DeepEqual(got, seq(1, 3)) {
		t.Errorf("ids = %v", got)
	}
	if n.Load() != 2 {
		t.Errorf("%d requests, want 2", n.Load())
	}
	if gap < 900*time.Millisecond {
		t.Errorf("retried after %v, want about the 1s of Retry-After", gap)
	}
}

func TestServerErrorThenSuccess(t *testing.T) {
	var failures atomic.Int64
	srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "1" {
			// Page 1 fails twice, then works.
			if intParam(r, "page", 0) == 1 && failures.Add(1) <= 2 {
				http.Error(w, "oops", http.StatusInternalServerError)
				return
			}
			writeJSON(w, records(1, 2))
			return
		}
		writeJSON(w, records(0, -1))
	})
	batches, err := readAll(t, fast(srv.URL, nil), map[string]any{
		"path": "/items", "paginate": map[string]any{"type": "page"},
	}, ingest.ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(t, batches); !reflect.DeepEqual(got, seq(1, 2)) {
		t.Errorf("ids = %v", got)
	}
	if n.Load() != 4 { // 500, 500, page 1, empty page 2
		t.Errorf("%d requests, want 4", n.Load())
	}
}

func TestGiveUpAfterRetries(t *testing.T) {
	srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	_, err := readAll(t, fast(srv.URL, map[string]any{"retries": int64(2)}), map[string]any{"path": "/items"}, ingest.ReadRequest{})
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 || se.Attempts != 3 {
		t.Fatalf("err = %v, want a 503 *StatusError after 3 attempts", err)
	}
	if !strings.Contains(err.Error(), "gave up after 3 attempts") || !strings.Contains(err.Error(), "maintenance") {
		t.Errorf("message = %v", err)
	}
	if n.Load() != 3 {
		t.Errorf("%d requests, want 3", n.Load())
	}
}

func TestRateLimit(t *testing.T) {
	const pages, rate = 6, 20.0
	srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
		p := intParam(r, "page", 1)
		if p > pages {
			writeJSON(w, []any{})
			return
		}
		writeJSON(w, records(p, p))
	})
	start := time.Now()
	batches, err := readAll(t, fast(srv.URL, map[string]any{"rate_limit": rate}), map[string]any{
		"path": "/items", "paginate": map[string]any{"type": "page"},
	}, ingest.ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if len(ids(t, batches)) != pages {
		t.Fatalf("read %d records, want %d", len(ids(t, batches)), pages)
	}
	reqs := n.Load() // pages + the empty one
	if min := time.Duration(float64(reqs-1)/rate*float64(time.Second)) - 50*time.Millisecond; elapsed < min {
		t.Errorf("%d requests took %v, want at least %v at %v/s", reqs, elapsed, min, rate)
	}
}

// TestRateLimitShared reads two tables of one source at once: the limit is
// the source's, so their requests share it.
func TestRateLimitShared(t *testing.T) {
	const rate = 25.0
	srv, n := server(t, func(w http.ResponseWriter, r *http.Request) {
		p := intParam(r, "page", 1)
		if p > 4 {
			writeJSON(w, []any{})
			return
		}
		writeJSON(w, records(p, p))
	})
	ctx := context.Background()
	s, err := Connector(srv.Client()).Open(ctx, config(fast(srv.URL, map[string]any{"rate_limit": int64(rate)})))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, path := range []string{"/a", "/b"} {
		tb, err := s.Table(ctx, config(map[string]any{"path": path, "paginate": map[string]any{"type": "page"}}))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			_, err := tb.Read(ctx, ingest.ReadRequest{}, func(ingest.Batch) error { return nil })
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	elapsed, reqs := time.Since(start), n.Load()
	if reqs != 10 {
		t.Errorf("%d requests, want 10", reqs)
	}
	if min := time.Duration(float64(reqs-1)/rate*float64(time.Second)) - 50*time.Millisecond; elapsed < min {
		t.Errorf("%d requests took %v, want at least %v at %v/s", reqs, elapsed, min, rate)
	}
}

// TestInjectedClient reads over TLS with the test server's client.
func TestInjectedClient(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		writeJSON(w, records(1, 2))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	ctx := context.Background()
	s, err := Connector(srv.Client()).Open(ctx, config(fast(srv.URL, map[string]any{
		"auth": map[string]any{"type": "bearer", "token": "tok"},
	})))
	if err != nil {
		t.Fatal(err)
	}
	tb, err := s.Table(ctx, config(map[string]any{"path": "/x"}))
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	if _, err := tb.Read(ctx, ingest.ReadRequest{}, func(b ingest.Batch) error { rows += len(b.Rows); return nil }); err != nil {
		t.Fatal(err)
	}
	if rows != 2 {
		t.Errorf("%d rows, want 2", rows)
	}
	// The default client does not trust the test certificate.
	_, err = readAll(t, fast(srv.URL, map[string]any{"retries": int64(3)}), map[string]any{"path": "/x"}, ingest.ReadRequest{})
	if err == nil || strings.Contains(err.Error(), "attempts") {
		t.Errorf("untrusted certificate: err = %v, want an error without retries", err)
	}
	t.Log(err)
}

func TestNestedRecords(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data": [
			{"id": 1, "price": 9.5, "tags": ["a", "b"], "address": {"city": "Oslo", "zip": 150}},
			{"id": 2, "big": 123456789012345678901234567890, "ok": true, "note": null, "ratio": 1e2, "whole": 3.0},
			{"extra": "x", "id": 3}
		]}`)
	})
	batches, err := readAll(t, fast(srv.URL, nil), map[string]any{"path": "/x", "records": "data"}, ingest.ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 1 {
		t.Fatalf("%d batches, want 1", len(batches))
	}
	b := batches[0]
	wantCols := []string{"id", "price", "tags", "address", "big", "ok", "note", "ratio", "whole", "extra"}
	if !reflect.DeepEqual(b.Columns, wantCols) {
		t.Fatalf("columns = %v, want %v", b.Columns, wantCols)
	}
	want := [][]any{
		{int64(1), 9.5, []any{"a", "b"}, map[string]any{"city": "Oslo", "zip": int64(150)}, nil, nil, nil, nil, nil, nil},
		{int64(2), nil, nil, nil, "123456789012345678901234567890", true, nil, 100.0, 3.0, nil},
		{int64(3), nil, nil, nil, nil, nil, nil, nil, nil, "x"},
	}
	if !reflect.DeepEqual(b.Rows, want) {
		t.Errorf("rows =\n%#v\nwant\n%#v", b.Rows, want)
	}
}

func TestCursorParam(t *testing.T) {
	var got []url.Values
	var mu sync.Mutex
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Query())
		mu.Unlock()
		writeJSON(w, records(1, 1))
	})
	tbl := map[string]any{"path": "/items", "cursor_param": "updated_since", "params": map[string]any{"sort": "updated_at"}}
	since := time.Date(2024, 3, 1, 12, 0, 0, 123456000, time.FixedZone("CET", 3600))
	tests := []struct {
		req  ingest.ReadRequest
		want string // "" = no parameter
	}{
		{ingest.ReadRequest{Cursor: "updated_at", Since: since}, "2024-03-01T11:00:00.123456Z"},
		{ingest.ReadRequest{Cursor: "updated_at", Since: since, Lookback: time.Hour}, "2024-03-01T10:00:00.123456Z"},
		{ingest.ReadRequest{Cursor: "seq", Since: int64(4021), Lookback: time.Hour}, "4021"},
		{ingest.ReadRequest{Cursor: "v", Since: "2024-03-01"}, "2024-03-01"},
		{ingest.ReadRequest{Cursor: "updated_at", Full: true}, ""},
	}
	for _, tt := range tests {
		got = nil
		if _, err := readAll(t, fast(srv.URL, nil), tbl, tt.req); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("%d requests", len(got))
		}
		if v, ok := got[0]["updated_since"]; tt.want == "" && ok || tt.want != "" && (!ok || v[0] != tt.want) {
			t.Errorf("Since %v lookback %v: updated_since = %v, want %q", tt.req.Since, tt.req.Lookback, v, tt.want)
		}
		if got[0].Get("sort") != "updated_at" {
			t.Errorf("table params not sent: %v", got[0])
		}
	}
}

func TestBadRecords(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			fmt.Fprint(w, `[{"id": 3}, 42]`)
			return
		}
		if r.URL.Query().Get("page") == "1" {
			fmt.Fprint(w, `[{"id": 1}, "oops", [1, 2], {"id": 2}, null]`)
			return
		}
		fmt.Fprint(w, `[]`)
	})
	batches, err := readAll(t, fast(srv.URL, nil), map[string]any{
		"path": "/items", "paginate": map[string]any{"type": "page"},
	}, ingest.ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(t, batches); !reflect.DeepEqual(got, seq(1, 3)) {
		t.Errorf("ids = %v", got)
	}
	var bad []ingest.BadRecord
	for _, b := range batches {
		bad = append(bad, b.Bad...)
	}
	want := []ingest.BadRecord{
		{Where: "page 1 record 2", Reason: "record is a string, not a JSON object", Raw: `"oops"`},
		{Where: "page 1 record 3", Reason: "record is an array, not a JSON object", Raw: `[1, 2]`},
		{Where: "page 1 record 5", Reason: "record is null, not a JSON object", Raw: `null`},
		{Where: "page 2 record 2", Reason: "record is a number, not a JSON object", Raw: `42`},
	}
	if !reflect.DeepEqual(bad, want) {
		t.Errorf("bad records =\n%#v\nwant\n%#v", bad, want)
	}
}

func TestInvalidJSON(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			fmt.Fprint(w, `[{"id": 2}, {"id": oops}]`)
			return
		}
		fmt.Fprint(w, `[{"id": 1}]`)
	})
	var n int
	tb := openTable(t, fast(srv.URL, nil), map[string]any{"path": "/items", "paginate": map[string]any{"type": "page"}})
	_, err := tb.Read(context.Background(), ingest.ReadRequest{}, func(b ingest.Batch) error { n += len(b.Rows); return nil })
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"page 2", "invalid JSON at byte offset 19", `[{"id": 2}, {"id": oops}]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if n != 1 {
		t.Errorf("emitted %d rows before the error, want 1 (streamed page by page)", n)
	}
}

func TestRecordsPath(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data": {"items": [{"id": 1}]}, "meta": {}}`)
	})
	for path, want := range map[string]string{
		"items":      `no records at "items" in the response (its keys: data, meta)`,
		"data":       `records path "data" is an object, not an array of records (its keys: items)`,
		"":           `the response body is an object, not an array of records (its keys: data, meta)`,
		"data.items": "",
	} {
		_, err := readAll(t, fast(srv.URL, nil), map[string]any{"path": "/x", "records": path}, ingest.ReadRequest{})
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("records %q: err = %v, want %q", path, err, want)
		}
	}
}

func TestPageIgnored(t *testing.T) {
	srv, n := server(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, records(1, 5)) })
	_, err := readAll(t, fast(srv.URL, nil), map[string]any{"path": "/x", "paginate": map[string]any{"type": "page"}}, ingest.ReadRequest{})
	if err == nil || !strings.Contains(err.Error(), `repeats the records of page 1`) {
		t.Errorf("err = %v", err)
	}
	if n.Load() != 2 {
		t.Errorf("%d requests, want 2", n.Load())
	}
}

func TestUnreachable(t *testing.T) {
	// A port that was just free: nothing listens on it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = readAll(t, fast("http://"+addr, map[string]any{"retries": int64(1)}), map[string]any{"path": "/x"}, ingest.ReadRequest{})
	var ue *UnreachableError
	if !errors.As(err, &ue) || ue.Host != addr || ue.Attempts != 2 {
		t.Fatalf("err = %v, want *UnreachableError for %s after 2 attempts", err, addr)
	}
	if !strings.Contains(err.Error(), "cannot reach host "+addr) {
		t.Errorf("message = %v", err)
	}
}

func TestCancel(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	tb := openTable(t, fast(srv.URL, map[string]any{"max_retry_wait": "1m"}), map[string]any{"path": "/x"})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := tb.Read(ctx, ingest.ReadRequest{}, func(ingest.Batch) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("cancel took %v", time.Since(start))
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	_, err := Connector(nil).Open(ctx, config(map[string]any{
		"base_url": "ftp://x",
		"auth":     map[string]any{"type": "oauth"},
		"retries":  int64(-1),
		"timeout":  "soon",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`models/sources.yml:7:9: http: base_url: "ftp://x" must start with http:// or https://`,
		`http: auth.type: "oauth" is not one of bearer, basic, api_key`,
		`http: retries: must not be negative`,
		`http: timeout: must be a duration like 30s`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	s, err := Connector(nil).Open(ctx, config(map[string]any{
		"base_url": "https://api.example.com",
		"auth":     map[string]any{"type": "api_key", "name": "k"},
	}))
	if err == nil || !strings.Contains(err.Error(), "auth.value: is required") {
		t.Errorf("api_key without value: err = %v", err)
	}
	s, err = Connector(nil).Open(ctx, config(map[string]any{"base_url": "https://api.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Table(ctx, config(map[string]any{
		"paginate": map[string]any{"type": "cursor", "next": "meta.next", "size": int64(3)},
	}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"http: path: is required", "paginate.param: is required", "paginate.size: unknown key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRequestURL(t *testing.T) {
	base, _ := url.Parse("https://api.example.com/v2/?lang=en")
	for path, want := range map[string]string{
		"/contacts":                   "https://api.example.com/v2/contacts?lang=en",
		"contacts?active=1":           "https://api.example.com/v2/contacts?active=1&lang=en",
		"https://other.example/x?y=1": "https://other.example/x?y=1",
	} {
		u, err := requestURL(base, path)
		if err != nil || u.String() != want {
			t.Errorf("requestURL(%q) = %v, %v; want %s", path, u, err, want)
		}
	}
}

func TestLinkNext(t *testing.T) {
	for header, want := range map[string]string{
		`<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last"`: "https://a/x?page=2",
		`<https://a/x?page=1>; rel="prev", <https://a/x?q=a,b>; rel="next"`:  "https://a/x?q=a,b",
		`<https://a/x?page=3>; title="a, b"; rel="next last"`:                "https://a/x?page=3",
		`<https://a/x?page=3>;rel=next`:                                      "https://a/x?page=3",
		`<https://a/x?page=1>; rel="prev"`:                                   "",
		``:                                                                   "",
	} {
		h := http.Header{}
		if header != "" {
			h.Set("Link", header)
		}
		if got := linkNext(h); got != want {
			t.Errorf("linkNext(%s) = %q, want %q", header, got, want)
		}
	}
}

func TestSpec(t *testing.T) {
	c := Connector(nil)
	if c.Name != "http" || c.Doc == "" {
		t.Errorf("name %q doc %q", c.Name, c.Doc)
	}
	seen := map[string]bool{}
	for _, f := range c.Spec {
		if f.Doc == "" || f.Type == "" || (f.Level != "source" && f.Level != "table" && f.Level != "any") {
			t.Errorf("field %+v is incomplete", f)
		}
		if seen[f.Name] {
			t.Errorf("field %s twice", f.Name)
		}
		seen[f.Name] = true
	}
}
