package gsheets_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file is a loopback stand-in for Google: an OAuth token endpoint
// that checks the service account's signed JWT, the Sheets API v4
// (spreadsheets.get and spreadsheets.values.get, with Google's error JSON)
// and the docs.google.com CSV export of link-shared sheets.

const (
	saEmail     = "loader@kiln-test.iam.gserviceaccount.com"
	accessToken = "ya29.test-token"
	readonly    = "https://www.googleapis.com/auth/spreadsheets.readonly"
)

// Keys are slow to make: one pair per test binary.
var (
	goodKey = sync.OnceValue(func() *rsa.PrivateKey { return newKey() })
	otherKy = sync.OnceValue(func() *rsa.PrivateKey { return newKey() })
)

func newKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// keyJSON is a service-account key file as the Cloud console makes them.
func keyJSON(k *rsa.PrivateKey, tokenURI string) string {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type":                        "service_account",
		"project_id":                  "kiln-test",
		"private_key_id":              "0123456789abcdef",
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                saEmail,
		"client_id":                   "1234567890",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
	})
	return string(b)
}

// sheet is one tab: its cells as shown (FORMATTED_VALUE and the CSV
// export) and, optionally, as stored (UNFORMATTED_VALUE).
type sheet struct {
	gid   int64
	title string
	rows  [][]string
	raw   [][]any
}

// book is one spreadsheet.
type book struct {
	sheets     []*sheet
	linkShared bool // readable through the CSV export
	private    bool // not shared with the service account
}

// fake is the stand-in server.
type fake struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	books map[string]*book
	// inject, when set, may answer a request first (returning true).
	inject func(w http.ResponseWriter, r *http.Request, kind string) bool
	hits   map[string]int // requests by kind: token, get, values, export
	seen   []*http.Request
}

func newFake(t *testing.T) *fake {
	f := &fake{t: t, books: map[string]*book{}, hits: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// set replaces spreadsheet id's contents.
func (f *fake) set(id string, b *book) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.books[id] = b
}

func (f *fake) setInject(h func(w http.ResponseWriter, r *http.Request, kind string) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject = h
}

func (f *fake) count(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[kind]
}

// requests returns the requests of one kind seen so far.
func (f *fake) requests(kind string) []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*http.Request
	for _, r := range f.seen {
		if r.Header.Get("X-Fake-Kind") == kind {
			out = append(out, r)
		}
	}
	return out
}

// apiSource is source config reading through the API with a good key.
func (f *fake) apiSource(extra map[string]any) map[string]any {
	m := map[string]any{
		"credentials_json": keyJSON(goodKey(), f.srv.URL+"/token"),
		"endpoint":         f.srv.URL,
		"retry_wait":       "5ms",
		"max_retry_wait":   "50ms",
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// exportSource is source config reading through the CSV export.
func (f *fake) exportSource(extra map[string]any) map[string]any {
	m := map[string]any{"export_url_base": f.srv.URL, "retry_wait": "5ms", "max_retry_wait": "50ms"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func googleError(w http.ResponseWriter, code int, status, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			segs[i] = u
		}
	}
	kind := ""
	switch {
	case r.Method == http.MethodPost && len(segs) == 1 && segs[0] == "token":
		kind = "token"
	case r.Method == http.MethodGet && len(segs) == 3 && segs[0] == "v4" && segs[1] == "spreadsheets":
		kind = "get"
	case r.Method == http.MethodGet && len(segs) == 5 && segs[0] == "v4" && segs[1] == "spreadsheets" && segs[3] == "values":
		kind = "values"
	case r.Method == http.MethodGet && len(segs) == 4 && segs[0] == "spreadsheets" && segs[1] == "d" && segs[3] == "export":
		kind = "export"
	}
	f.mu.Lock()
	f.hits[kind]++
	c := r.Clone(r.Context())
	c.Header.Set("X-Fake-Kind", kind)
	f.seen = append(f.seen, c)
	inject := f.inject
	f.mu.Unlock()
	if inject != nil && inject(w, r, kind) {
		return
	}
	switch kind {
	case "token":
		f.token(w, r)
	case "get", "values":
		if r.Header.Get("Authorization") != "Bearer "+accessToken {
			googleError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
			return
		}
		f.mu.Lock()
		b := f.books[segs[2]]
		f.mu.Unlock()
		switch {
		case b == nil:
			googleError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
		case b.private:
			googleError(w, http.StatusForbidden, "PERMISSION_DENIED", "The caller does not have permission")
		case kind == "get":
			f.spreadsheet(w, r, segs[2], b)
		default:
			f.values(w, r, b, segs[4])
		}
	case "export":
		f.export(w, r, segs[2])
	default:
		http.NotFound(w, r)
	}
}

// token checks a JWT bearer grant signed with the good key.
func (f *fake) token(w http.ResponseWriter, r *http.Request) {
	refuse := func(code, desc string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil {
		refuse("invalid_request", err.Error())
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		refuse("unsupported_grant_type", "Invalid grant_type: "+g)
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		refuse("invalid_grant", "Invalid JWT.")
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || rsa.VerifyPKCS1v15(&goodKey().PublicKey, crypto.SHA256, sum[:], sig) != nil {
		refuse("invalid_grant", "Invalid JWT Signature.")
		return
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Exp   int64  `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		refuse("invalid_grant", "Invalid JWT payload.")
		return
	}
	switch {
	case claims.Iss != saEmail:
		refuse("invalid_grant", "Invalid issuer: "+claims.Iss)
	case claims.Scope != readonly:
		refuse("invalid_scope", "Unexpected scope: "+claims.Scope)
	case claims.Aud != f.srv.URL+"/token":
		refuse("invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe (audience "+claims.Aud+")")
	case claims.Exp < time.Now().Unix():
		refuse("invalid_grant", "Invalid JWT: expired")
	default:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": accessToken, "token_type": "Bearer", "expires_in": 3599})
	}
}

func (f *fake) spreadsheet(w http.ResponseWriter, r *http.Request, id string, b *book) {
	var sheets []map[string]any
	for _, s := range b.sheets {
		sheets = append(sheets, map[string]any{"properties": map[string]any{"sheetId": s.gid, "title": s.title, "index": len(sheets)}})
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"spreadsheetId": id, "sheets": sheets})
}

// values answers values.get: the range's cells, trailing empty cells and
// rows left out as Google does.
func (f *fake) values(w http.ResponseWriter, r *http.Request, b *book, a1 string) {
	q := r.URL.Query()
	if q.Get("majorDimension") != "ROWS" {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "test server: expected majorDimension=ROWS")
		return
	}
	title, cells, ok := splitA1(a1)
	var sh *sheet
	for _, s := range b.sheets {
		if s.title == title {
			sh = s
		}
	}
	rg, okRange := parseCells(cells)
	if !ok || sh == nil || !okRange {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Unable to parse range: "+a1)
		return
	}
	var grid [][]any
	if q.Get("valueRenderOption") == "UNFORMATTED_VALUE" && sh.raw != nil {
		grid = sh.raw
	} else {
		for _, row := range sh.rows {
			g := make([]any, len(row))
			for i, c := range row {
				g[i] = c
			}
			grid = append(grid, g)
		}
	}
	out := [][]any{}
	for i := rg.r0 - 1; i < len(grid) && (rg.r1 == 0 || i < rg.r1); i++ {
		row := grid[i]
		var cut []any
		for j := rg.c0 - 1; j < len(row) && (rg.c1 == 0 || j < rg.c1); j++ {
			cut = append(cut, row[j])
		}
		for len(cut) > 0 && (cut[len(cut)-1] == "" || cut[len(cut)-1] == nil) {
			cut = cut[:len(cut)-1]
		}
		if cut == nil {
			cut = []any{}
		}
		out = append(out, cut)
	}
	for len(out) > 0 && len(out[len(out)-1]) == 0 {
		out = out[:len(out)-1]
	}
	end := max(rg.r0+len(out)-1, rg.r0)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	resp := map[string]any{
		"range":          fmt.Sprintf("'%s'!%s%d:%s%d", strings.ReplaceAll(title, "'", "''"), letters(rg.c0), rg.r0, letters(max(rg.c1, 26)), end),
		"majorDimension": "ROWS",
	}
	if len(out) > 0 {
		resp["values"] = out
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// export answers the CSV export: every row up to the last stored one,
// padded to the widest, as Google does; a sheet not shared by link gets
// the sign-in page.
func (f *fake) export(w http.ResponseWriter, r *http.Request, id string) {
	f.mu.Lock()
	b := f.books[id]
	f.mu.Unlock()
	q := r.URL.Query()
	if b == nil || q.Get("format") != "csv" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<!DOCTYPE html><html><title>Google Docs - Page Not Found</title><body>Sorry, unable to open the file at this time.</body></html>")
		return
	}
	if !b.linkShared {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!DOCTYPE html><html lang=\"en\"><head><title>Google Docs: Sign-in</title></head><body>Sign in to continue to Sheets</body></html>")
		return
	}
	var sh *sheet
	for _, s := range b.sheets {
		if strconv.FormatInt(s.gid, 10) == q.Get("gid") {
			sh = s
		}
	}
	if sh == nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, "<!DOCTYPE html><html><body>Bad Request: no sheet with gid "+q.Get("gid")+"</body></html>")
		return
	}
	rg := cellRange{c0: 1, r0: 1}
	if s := q.Get("range"); s != "" {
		var ok bool
		if rg, ok = parseCells(s); !ok {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}
	width := 0
	var rows [][]string
	for i := rg.r0 - 1; i < len(sh.rows) && (rg.r1 == 0 || i < rg.r1); i++ {
		var cut []string
		for j := rg.c0 - 1; j < len(sh.rows[i]) && (rg.c1 == 0 || j < rg.c1); j++ {
			cut = append(cut, sh.rows[i][j])
		}
		width = max(width, len(cut))
		rows = append(rows, cut)
	}
	w.Header().Set("Content-Type", "text/csv")
	cw := csv.NewWriter(w)
	for _, row := range rows {
		for len(row) < width {
			row = append(row, "")
		}
		_ = cw.Write(row)
	}
	cw.Flush()
}

// splitA1 splits "'My Tab'!A1:D" into the tab and the cells.
func splitA1(a1 string) (title, cells string, ok bool) {
	if strings.HasPrefix(a1, "'") {
		var b strings.Builder
		for i := 1; i < len(a1); i++ {
			if a1[i] == '\'' {
				if i+1 < len(a1) && a1[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				rest := a1[i+1:]
				if rest == "" {
					return b.String(), "", true
				}
				if rest[0] != '!' {
					return "", "", false
				}
				return b.String(), rest[1:], true
			}
			b.WriteByte(a1[i])
		}
		return "", "", false
	}
	title, cells, _ = strings.Cut(a1, "!")
	return title, cells, true
}

// cellRange is a range's bounds, 1-based; 0 for an open end.
type cellRange struct{ c0, r0, c1, r1 int }

func parseCells(s string) (cellRange, bool) {
	rg := cellRange{c0: 1, r0: 1}
	if s == "" {
		return rg, true
	}
	from, to, two := strings.Cut(s, ":")
	c, r, ok := parseCell(from)
	if !ok {
		return rg, false
	}
	rg.c0, rg.r0 = max(c, 1), max(r, 1)
	if two {
		if rg.c1, rg.r1, ok = parseCell(to); !ok {
			return rg, false
		}
	} else {
		rg.c1, rg.r1 = c, r
	}
	return rg, true
}

// parseCell reads "B3" (2, 3), "B" (2, 0), "3" (0, 3).
func parseCell(s string) (col, row int, ok bool) {
	i := 0
	for i < len(s) && s[i] >= 'A' && s[i] <= 'Z' {
		col = col*26 + int(s[i]-'A'+1)
		i++
	}
	if i < len(s) {
		n, err := strconv.Atoi(s[i:])
		if err != nil || n < 1 {
			return 0, 0, false
		}
		row = n
	}
	return col, row, s != ""
}

func letters(n int) string {
	var out []byte
	for n > 0 {
		n--
		out = append([]byte{byte('A' + n%26)}, out...)
		n /= 26
	}
	return string(out)
}
