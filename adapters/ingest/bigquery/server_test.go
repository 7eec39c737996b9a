package bigquery

// A BigQuery v2 REST server on loopback (httptest) for the connector's
// tests. There is no BigQuery emulator here, so this server answers the
// calls the generated client makes with the JSON shapes the real API uses:
//
//	POST /token                                          OAuth 2.0 JWT bearer grant (token_uri of the key)
//	GET  /bigquery/v2/projects/{p}/datasets/{d}/tables/{t}  tables.get
//	POST /bigquery/v2/projects/{p}/jobs                   jobs.insert (dry runs only)
//	POST /bigquery/v2/projects/{p}/queries                jobs.query
//	GET  /bigquery/v2/projects/{p}/queries/{jobId}        jobs.getQueryResults
//
// It holds tables in memory and interprets the statements the connector
// sends (select */columns from a table or a known query, with the cursor
// filter) honestly: the @kiln_since parameter it receives is parsed with
// the type it declares and compared with the rows, so incremental reads
// are real. Tokens are issued only for assertions signed with the test
// key, and every API call must carry one.

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testProject = "proj"
	testEmail   = "kiln-loader@proj.iam.gserviceaccount.com"
)

// fakeField is a schema field as the API spells it.
type fakeField struct {
	Name   string      `json:"name"`
	Type   string      `json:"type"`
	Mode   string      `json:"mode,omitempty"`
	Fields []fakeField `json:"fields,omitempty"`
}

func col(name, typ string) fakeField { return fakeField{Name: name, Type: typ, Mode: "NULLABLE"} }

func repeatedCol(name, typ string, fields ...fakeField) fakeField {
	return fakeField{Name: name, Type: typ, Mode: "REPEATED", Fields: fields}
}

func record(name string, fields ...fakeField) fakeField {
	return fakeField{Name: name, Type: "RECORD", Mode: "NULLABLE", Fields: fields}
}

// fakeTable is a table: its schema and rows. A cell is nil, a string as
// the API sends it (any text: tests put malformed values there), a
// time.Time for a TIMESTAMP (rendered as the request asks), a []any for a
// RECORD (its fields in order) or a REPEATED field (its elements).
type fakeTable struct {
	fields []fakeField
	rows   [][]any
}

// fakeQuery is a query the server knows: its result is the rows of table
// (named as the query names it, resolved with the request's default
// dataset), all columns.
type fakeQuery struct{ table string }

type fakeJob struct {
	id      string
	fields  []fakeField
	rows    [][]any
	pending int // incomplete answers left
	int64TS bool
}

// queryRequest is what the server reads of a jobs.query body (its own
// declaration of the REST fields, not the client library's).
type queryRequest struct {
	Query          string `json:"query"`
	UseLegacySQL   *bool  `json:"useLegacySql"`
	MaxResults     int    `json:"maxResults"`
	TimeoutMs      int    `json:"timeoutMs"`
	RequestID      string `json:"requestId"`
	Location       string `json:"location"`
	ParameterMode  string `json:"parameterMode"`
	DefaultDataset *struct {
		ProjectID string `json:"projectId"`
		DatasetID string `json:"datasetId"`
	} `json:"defaultDataset"`
	FormatOptions *struct {
		UseInt64Timestamp bool `json:"useInt64Timestamp"`
	} `json:"formatOptions"`
	QueryParameters []struct {
		Name          string `json:"name"`
		ParameterType struct {
			Type string `json:"type"`
		} `json:"parameterType"`
		ParameterValue struct {
			Value string `json:"value"`
		} `json:"parameterValue"`
	} `json:"queryParameters"`
}

// fakeBQ is the server and its state.
type fakeBQ struct {
	t   testing.TB
	srv *httptest.Server
	key *rsa.PrivateKey

	mu      sync.Mutex
	tables  map[string]*fakeTable // "project.dataset.table"
	queries map[string]fakeQuery  // query text → result
	jobs    map[string]*fakeJob
	byReqID map[string]string // requestId → job id
	tokens  map[string]bool
	nextID  int
	// pending is how many incomplete answers (jobComplete false) a new
	// job gives before its rows: jobs.query's own answer counts as one.
	pending int
	// faults holds statuses to answer before serving a call, by call:
	// "token", "tables.get", "jobs.insert", "jobs.query",
	// "jobs.getQueryResults".
	faults map[string][]int
	// calls counts requests by call.
	calls map[string]int
	// requests keeps every jobs.query body; results every
	// getQueryResults query string.
	requests []queryRequest
	results  []string
	// rejectTokens answers 401 to every API call; denyQueries 403 to
	// jobs.query; brokenResults a body that is not JSON to
	// getQueryResults.
	rejectTokens, denyQueries, brokenResults bool
	// floatTS sends TIMESTAMPs as float seconds whatever the request asks.
	floatTS bool
}

var (
	keyOnce          sync.Once
	goodKey, someKey *rsa.PrivateKey
)

// testKeys returns the key the server trusts and another one.
func testKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	keyOnce.Do(func() {
		var err error
		if goodKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if someKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return goodKey, someKey
}

func newFake(t testing.TB) *fakeBQ {
	good, _ := testKeys(t)
	f := &fakeBQ{
		t:       t,
		key:     good,
		tables:  map[string]*fakeTable{},
		queries: map[string]fakeQuery{},
		jobs:    map[string]*fakeJob{},
		byReqID: map[string]string{},
		tokens:  map[string]bool{},
		faults:  map[string][]int{},
		calls:   map[string]int{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// keyJSON is a service-account key file signed by key whose token_uri is
// the fake's token endpoint.
func (f *fakeBQ) keyJSON(key *rsa.PrivateKey) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     testProject,
		"private_key_id": "k1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   testEmail,
		"client_id":      "1",
		"token_uri":      f.srv.URL + "/token",
	})
	return string(b)
}

func (f *fakeBQ) setTable(name string, tbl *fakeTable) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tbl == nil {
		delete(f.tables, name)
		return
	}
	f.tables[name] = tbl
}

func (f *fakeBQ) addQuery(text, table string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries[text] = fakeQuery{table: table}
}

func (f *fakeBQ) fault(call string, statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[call] = append(f.faults[call], statuses...)
}

func (f *fakeBQ) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[call]
}

func (f *fakeBQ) lastQuery() queryRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		f.t.Fatalf("no jobs.query request was made")
	}
	return f.requests[len(f.requests)-1]
}

func (f *fakeBQ) set(fn func(f *fakeBQ)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

var (
	tablesGetPath = regexp.MustCompile(`^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)$`)
	jobsPath      = regexp.MustCompile(`^/bigquery/v2/projects/([^/]+)/jobs$`)
	queriesPath   = regexp.MustCompile(`^/bigquery/v2/projects/([^/]+)/queries$`)
	resultsPath   = regexp.MustCompile(`^/bigquery/v2/projects/([^/]+)/queries/([^/]+)$`)
)

func (f *fakeBQ) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := r.URL.Path
	var call string
	switch {
	case p == "/token" && r.Method == http.MethodPost:
		call = "token"
	case tablesGetPath.MatchString(p) && r.Method == http.MethodGet:
		call = "tables.get"
	case jobsPath.MatchString(p) && r.Method == http.MethodPost:
		call = "jobs.insert"
	case queriesPath.MatchString(p) && r.Method == http.MethodPost:
		call = "jobs.query"
	case resultsPath.MatchString(p) && r.Method == http.MethodGet:
		call = "jobs.getQueryResults"
	default:
		apiError(w, http.StatusNotFound, "notFound", "Not found: URL "+r.Method+" "+p)
		return
	}
	f.calls[call]++
	if call == "jobs.query" {
		// Kept before any injected fault, so retries show.
		body, _ := io.ReadAll(r.Body)
		var q queryRequest
		_ = json.Unmarshal(body, &q)
		f.requests = append(f.requests, q)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if q := f.faults[call]; len(q) > 0 {
		f.faults[call] = q[1:]
		reason := "backendError"
		switch q[0] {
		case http.StatusTooManyRequests, http.StatusForbidden:
			reason = "rateLimitExceeded"
		}
		if call == "token" {
			w.WriteHeader(q[0])
			fmt.Fprint(w, `{"error":"internal_failure"}`)
			return
		}
		apiError(w, q[0], reason, fmt.Sprintf("injected %d", q[0]))
		return
	}
	if call == "token" {
		f.token(w, r)
		return
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !f.tokens[auth] || f.rejectTokens {
		apiError(w, http.StatusUnauthorized, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	switch call {
	case "tables.get":
		m := tablesGetPath.FindStringSubmatch(p)
		name := m[1] + "." + m[2] + "." + m[3]
		tbl := f.tables[name]
		if tbl == nil {
			apiError(w, http.StatusNotFound, "notFound", fmt.Sprintf("Not found: Table %s:%s.%s", m[1], m[2], m[3]))
			return
		}
		writeJSON(w, map[string]any{
			"kind":   "bigquery#table",
			"id":     m[1] + ":" + m[2] + "." + m[3],
			"type":   "TABLE",
			"schema": map[string]any{"fields": tbl.fields},
		})
	case "jobs.insert":
		f.dryRun(w, r)
	case "jobs.query":
		f.query(w, r, queriesPath.FindStringSubmatch(p)[1])
	case "jobs.getQueryResults":
		m := resultsPath.FindStringSubmatch(p)
		f.getResults(w, r, m[1], m[2])
	}
}

// token serves the JWT bearer grant: the assertion must be signed with the
// trusted key and name the key's account, the token URL and a BigQuery
// scope.
func (f *fakeBQ) token(w http.ResponseWriter, r *http.Request) {
	refuse := func(desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_grant","error_description":%q}`, desc)
	}
	if err := r.ParseForm(); err != nil {
		refuse("bad form")
		return
	}
	if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		refuse("unsupported grant_type")
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		refuse("Invalid JWT.")
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		refuse("Invalid JWT.")
		return
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&f.key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		refuse("Invalid JWT Signature.")
		return
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		refuse("Invalid JWT.")
		return
	}
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Exp   int64  `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		refuse("Invalid JWT.")
		return
	}
	switch {
	case claims.Iss != testEmail:
		refuse("Invalid issuer.")
		return
	case claims.Aud != f.srv.URL+"/token":
		refuse("Invalid audience.")
		return
	case !slices.Contains(strings.Fields(claims.Scope), "https://www.googleapis.com/auth/bigquery"):
		refuse("Invalid scope.")
		return
	case claims.Exp < time.Now().Unix():
		refuse("Invalid JWT: Token must be a short-lived token.")
		return
	}
	f.nextID++
	tok := fmt.Sprintf("ya29.test-%d", f.nextID)
	f.tokens[tok] = true
	writeJSON(w, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3599})
}

// resolve finds the table a query's FROM names; it returns the table's
// full name.
func (f *fakeBQ) resolve(name, defProject, defDataset string) (string, *fakeTable) {
	parts := strings.Split(strings.Trim(name, "`"), ".")
	switch len(parts) {
	case 1:
		parts = []string{defProject, defDataset, parts[0]}
	case 2:
		parts = []string{defProject, parts[0], parts[1]}
	}
	full := strings.Join(parts, ".")
	return full, f.tables[full]
}

// dryRun serves jobs.insert with configuration.dryRun: the schema of a
// known query.
func (f *fakeBQ) dryRun(w http.ResponseWriter, r *http.Request) {
	var job struct {
		Configuration struct {
			DryRun bool `json:"dryRun"`
			Query  struct {
				Query          string `json:"query"`
				UseLegacySQL   *bool  `json:"useLegacySql"`
				DefaultDataset *struct {
					ProjectID string `json:"projectId"`
					DatasetID string `json:"datasetId"`
				} `json:"defaultDataset"`
			} `json:"query"`
		} `json:"configuration"`
	}
	if err := json.NewDecoder(r.Body).Decode(&job); err != nil {
		apiError(w, http.StatusBadRequest, "invalid", "Invalid JSON payload: "+err.Error())
		return
	}
	c := job.Configuration
	if !c.DryRun {
		apiError(w, http.StatusBadRequest, "invalid", "this test server runs dry-run jobs only")
		return
	}
	if c.Query.UseLegacySQL == nil || *c.Query.UseLegacySQL {
		apiError(w, http.StatusBadRequest, "invalidQuery", "legacy SQL: the connector must send useLegacySql: false")
		return
	}
	q, ok := f.queries[c.Query.Query]
	if !ok {
		apiError(w, http.StatusBadRequest, "invalidQuery", "Syntax error: unknown query "+strconv.Quote(c.Query.Query))
		return
	}
	var dp, dd string
	if c.Query.DefaultDataset != nil {
		dp, dd = c.Query.DefaultDataset.ProjectID, c.Query.DefaultDataset.DatasetID
	}
	full, tbl := f.resolve(q.table, dp, dd)
	if tbl == nil {
		apiError(w, http.StatusNotFound, "notFound", "Not found: Table "+strings.Replace(full, ".", ":", 1)+" was not found in location US")
		return
	}
	writeJSON(w, map[string]any{
		"kind":          "bigquery#job",
		"configuration": map[string]any{"dryRun": true, "query": map[string]any{"query": c.Query.Query}},
		"jobReference":  map[string]any{"projectId": testProject, "location": "US"},
		"status":        map[string]any{"state": "DONE"},
		"statistics": map[string]any{
			"totalBytesProcessed": "1234",
			"query":               map[string]any{"totalBytesProcessed": "1234", "schema": map[string]any{"fields": tbl.fields}},
		},
	})
}

var (
	wrappedRe = regexp.MustCompile("(?s)^select (\\*|[^\n]+?) from \\(\n(.*)\n\\) as _kiln_q(?: where (.+))?$")
	plainRe   = regexp.MustCompile("^select (\\*|[^\n]+?) from (`[^`]+`)(?: where (.+))?$")
	whereRe   = regexp.MustCompile("^(\\()?`([^`]+)` > @(\\w+)(?: or `([^`]+)` is null\\))?$")
)

// query serves jobs.query: it interprets the statement, filters by the
// cursor parameter and starts a job holding the result.
func (f *fakeBQ) query(w http.ResponseWriter, r *http.Request, project string) {
	var q queryRequest
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		apiError(w, http.StatusBadRequest, "invalid", "Invalid JSON payload: "+err.Error())
		return
	}
	if f.denyQueries {
		apiError(w, http.StatusForbidden, "accessDenied", "Access Denied: Project proj: User does not have bigquery.jobs.create permission in project proj.")
		return
	}
	if q.UseLegacySQL == nil || *q.UseLegacySQL {
		apiError(w, http.StatusBadRequest, "invalidQuery", "legacy SQL: the connector must send useLegacySql: false")
		return
	}
	if id, ok := f.byReqID[q.RequestID]; ok && q.RequestID != "" {
		// A retried request: the same job.
		f.writePage(w, f.jobs[id], 0, q.MaxResults, "bigquery#queryResponse")
		return
	}
	var dp, dd string
	if q.DefaultDataset != nil {
		dp, dd = q.DefaultDataset.ProjectID, q.DefaultDataset.DatasetID
	}
	fields, rows, status, reason, msg := f.run(q, dp, dd)
	if status != 0 {
		apiError(w, status, reason, msg)
		return
	}
	f.nextID++
	job := &fakeJob{
		id:      fmt.Sprintf("job_%d", f.nextID),
		fields:  fields,
		rows:    rows,
		pending: f.pending,
		int64TS: q.FormatOptions != nil && q.FormatOptions.UseInt64Timestamp,
	}
	f.jobs[job.id] = job
	if q.RequestID != "" {
		f.byReqID[q.RequestID] = job.id
	}
	f.writePage(w, job, 0, q.MaxResults, "bigquery#queryResponse")
}

// run evaluates a statement; status is non-zero for an error answer.
func (f *fakeBQ) run(q queryRequest, dp, dd string) ([]fakeField, [][]any, int, string, string) {
	sql := q.Query
	var src *fakeTable
	var list, where string
	if known, ok := f.queries[sql]; ok {
		full, tbl := f.resolve(known.table, dp, dd)
		if tbl == nil {
			return nil, nil, 404, "notFound", "Not found: Table " + strings.Replace(full, ".", ":", 1) + " was not found in location US"
		}
		src, list = tbl, "*"
	} else {
		var from string
		if m := wrappedRe.FindStringSubmatch(sql); m != nil {
			list, where = m[1], m[3]
			known, ok := f.queries[m[2]]
			if !ok {
				return nil, nil, 400, "invalidQuery", "Syntax error: unknown subquery " + strconv.Quote(m[2])
			}
			from = known.table
		} else if m := plainRe.FindStringSubmatch(sql); m != nil {
			list, from, where = m[1], m[2], m[3]
		} else {
			return nil, nil, 400, "invalidQuery", "Syntax error: " + strconv.Quote(sql)
		}
		full, tbl := f.resolve(from, dp, dd)
		if tbl == nil {
			return nil, nil, 404, "notFound", "Not found: Table " + strings.Replace(full, ".", ":", 1) + " was not found in location US"
		}
		src = tbl
	}
	rows := src.rows
	if where != "" {
		m := whereRe.FindStringSubmatch(where)
		if m == nil || (m[1] == "(") != (m[4] != "") || (m[4] != "" && m[4] != m[2]) {
			return nil, nil, 400, "invalidQuery", "Syntax error in where: " + where
		}
		if q.ParameterMode != "NAMED" {
			return nil, nil, 400, "invalidQuery", "Query parameters must be named (parameterMode NAMED)"
		}
		var ptype, pval string
		found := false
		for _, p := range q.QueryParameters {
			if p.Name == m[3] {
				ptype, pval, found = p.ParameterType.Type, p.ParameterValue.Value, true
			}
		}
		if !found {
			return nil, nil, 400, "invalidQuery", "Query parameter '" + m[3] + "' not found"
		}
		ci := -1
		for i, fl := range src.fields {
			if fl.Name == m[2] {
				ci = i
			}
		}
		if ci < 0 {
			return nil, nil, 400, "invalidQuery", "Unrecognized name: " + m[2]
		}
		cmp, err := comparer(src.fields[ci].Type, ptype, pval)
		if err != nil {
			return nil, nil, 400, "invalidQuery", err.Error()
		}
		var kept [][]any
		for _, row := range rows {
			v := row[ci]
			if v == nil {
				if m[4] != "" {
					kept = append(kept, row)
				}
				continue
			}
			if cmp(v) > 0 {
				kept = append(kept, row)
			}
		}
		rows = kept
	}
	fields := src.fields
	if list != "*" {
		var idx []int
		fields = nil
		for _, c := range strings.Split(list, ", ") {
			name := strings.Trim(c, "`")
			i := slices.IndexFunc(src.fields, func(fl fakeField) bool { return fl.Name == name })
			if i < 0 {
				return nil, nil, 400, "invalidQuery", "Unrecognized name: " + name
			}
			idx = append(idx, i)
			fields = append(fields, src.fields[i])
		}
		var proj [][]any
		for _, row := range rows {
			out := make([]any, len(idx))
			for j, i := range idx {
				out[j] = row[i]
			}
			proj = append(proj, out)
		}
		rows = proj
	}
	return fields, rows, 0, "", ""
}

// comparer parses a parameter of type ptype for a column of type ctype and
// returns a comparison of a cell with it.
func comparer(ctype, ptype, pval string) (func(v any) int, error) {
	mismatch := fmt.Errorf("No matching signature for operator > for argument types: %s, %s", ctype, ptype)
	switch ctype {
	case "TIMESTAMP":
		if ptype != "TIMESTAMP" {
			return nil, mismatch
		}
		since, err := time.Parse("2006-01-02 15:04:05.999999-07:00", pval)
		if err != nil {
			return nil, fmt.Errorf("Invalid TIMESTAMP parameter value %q", pval)
		}
		return func(v any) int { return v.(time.Time).Compare(since) }, nil
	case "INTEGER", "INT64":
		if ptype != "INT64" {
			return nil, mismatch
		}
		since, err := strconv.ParseInt(pval, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("Invalid INT64 parameter value %q", pval)
		}
		return func(v any) int {
			n, _ := strconv.ParseInt(v.(string), 10, 64)
			return big.NewInt(n).Cmp(big.NewInt(since))
		}, nil
	case "DATE", "STRING":
		if ptype != ctype {
			return nil, mismatch
		}
		return func(v any) int { return strings.Compare(v.(string), pval) }, nil
	}
	return nil, fmt.Errorf("the test server does not compare %s columns", ctype)
}

// getResults serves jobs.getQueryResults.
func (f *fakeBQ) getResults(w http.ResponseWriter, r *http.Request, project, id string) {
	f.results = append(f.results, r.URL.RawQuery)
	job := f.jobs[id]
	if job == nil || project != testProject {
		apiError(w, http.StatusNotFound, "notFound", "Not found: Job "+project+":"+id)
		return
	}
	if f.brokenResults {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind": "bigquery#getQueryResultsResponse", "rows": [{"f": [`)
		return
	}
	q := r.URL.Query()
	if q.Get("formatOptions.useInt64Timestamp") != "true" {
		job.int64TS = false
	}
	size, _ := strconv.Atoi(q.Get("maxResults"))
	start := 0
	if tok := q.Get("pageToken"); tok != "" {
		n, ok := strings.CutPrefix(tok, "page-"+id+"-")
		var err error
		if start, err = strconv.Atoi(n); !ok || err != nil {
			apiError(w, http.StatusBadRequest, "invalid", "Invalid page token "+tok)
			return
		}
	}
	f.writePage(w, job, start, size, "bigquery#getQueryResultsResponse")
}

// writePage answers with the job's rows from start (size of them), or an
// incomplete job while it is pending.
func (f *fakeBQ) writePage(w http.ResponseWriter, job *fakeJob, start, size int, kind string) {
	ref := map[string]any{"projectId": testProject, "jobId": job.id, "location": "US"}
	if job.pending > 0 {
		job.pending--
		writeJSON(w, map[string]any{"kind": kind, "jobReference": ref, "jobComplete": false})
		return
	}
	if size <= 0 {
		size = 100000
	}
	end := min(start+size, len(job.rows))
	rows := make([]any, 0, end-start)
	for _, row := range job.rows[start:end] {
		cells := make([]any, len(row))
		for i, v := range row {
			cells[i] = map[string]any{"v": renderCell(job.fields[i], v, job.int64TS && !f.floatTS)}
		}
		rows = append(rows, map[string]any{"f": cells})
	}
	resp := map[string]any{
		"kind":         kind,
		"schema":       map[string]any{"fields": job.fields},
		"jobReference": ref,
		"totalRows":    strconv.Itoa(len(job.rows)),
		"jobComplete":  true,
		"cacheHit":     false,
	}
	if len(rows) > 0 {
		resp["rows"] = rows
	}
	if end < len(job.rows) {
		resp["pageToken"] = fmt.Sprintf("page-%s-%d", job.id, end)
	}
	writeJSON(w, resp)
}

// renderCell spells a value the way the REST API does.
func renderCell(f fakeField, v any, int64TS bool) any {
	if v == nil {
		return nil
	}
	if f.Mode == "REPEATED" {
		elem := f
		elem.Mode = "NULLABLE"
		var out []any
		for _, e := range v.([]any) {
			out = append(out, map[string]any{"v": renderCell(elem, e, int64TS)})
		}
		if out == nil {
			out = []any{}
		}
		return out
	}
	switch x := v.(type) {
	case time.Time:
		if int64TS {
			return strconv.FormatInt(x.UnixMicro(), 10)
		}
		// The default: float seconds, as BigQuery spells them.
		return strconv.FormatFloat(float64(x.UnixMicro())/1e6, 'E', -1, 64)
	case []any:
		var cells []any
		for i, e := range x {
			cells = append(cells, map[string]any{"v": renderCell(f.Fields[i], e, int64TS)})
		}
		return map[string]any{"f": cells}
	}
	return v
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

// apiError answers with Google's error body.
func apiError(w http.ResponseWriter, code int, reason, msg string) {
	status := map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}[code]
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"errors":  []any{map[string]any{"message": msg, "domain": "global", "reason": reason}},
		"status":  status,
	}})
}
