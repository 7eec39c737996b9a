package bigquery

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/option"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// Defaults of the source-level settings.
const (
	defaultPageSize  = 10000
	maxPageSize      = 100000
	defaultTimeout   = 2 * time.Minute
	defaultRetries   = 5
	defaultRetryWait = time.Second
	// maxRetryWait caps one backoff between retries.
	maxRetryWait = 30 * time.Second
	// waitMs is how long one jobs.query or jobs.getQueryResults call asks
	// the server to wait for the job to complete before answering.
	waitMs = 10000
)

// scope is the OAuth scope requested: running a query job needs the
// bigquery scope (bigquery.readonly does not cover jobs.query or
// jobs.insert). What the account may read is decided by its IAM roles
// (BigQuery Data Viewer on the data, BigQuery Job User on the project).
const scope = bq.BigqueryScope

var spec = []ingest.Field{
	{Name: "project", Type: "string", Required: true, Level: "source",
		Doc: "Google Cloud project the query jobs run in (and are billed to); also the project of tables named without one."},
	{Name: "dataset", Type: "string", Level: "source",
		Doc: "Dataset of tables named without one, and the default dataset of queries."},
	{Name: "location", Type: "string", Level: "source",
		Doc: "Location of the jobs (US, EU, europe-west1, ...); by default BigQuery picks the location of the tables read."},
	{Name: "credentials_json", Type: "string", Level: "source",
		Doc: `Service-account key (the JSON text), usually "{{ env_var('BIGQUERY_KEY_JSON') }}". Without it and credentials_file, Application Default Credentials are used.`},
	{Name: "credentials_file", Type: "string", Level: "source",
		Doc: "Path to a service-account key file (JSON). At most one of credentials_json and credentials_file."},
	{Name: "endpoint", Type: "string", Level: "source",
		Doc: "Base URL of the BigQuery REST API, for private endpoints and tests (a URL without a path gets /bigquery/v2/); default https://bigquery.googleapis.com/bigquery/v2/."},
	{Name: "page_size", Type: "int", Default: int64(defaultPageSize), Level: "source",
		Doc: "Rows per result page (jobs.getQueryResults maxResults); each page is one batch. BigQuery may return fewer when a page passes 10 MB."},
	{Name: "maximum_bytes_billed", Type: "int", Level: "source",
		Doc: "Fail a query that would bill more than this many bytes (BigQuery's maximumBytesBilled); unlimited when unset."},
	{Name: "timeout", Type: "duration", Default: defaultTimeout.String(), Level: "source",
		Doc: "Time allowed for one API request, the response body included."},
	{Name: "retries", Type: "int", Default: int64(defaultRetries), Level: "source",
		Doc: "How many times a call is retried after a 429 or 5xx response, a rate-limit error or a network error, with exponential backoff."},
	{Name: "retry_wait", Type: "duration", Default: defaultRetryWait.String(), Level: "source",
		Doc: "The first backoff between retries; it doubles on each retry (with jitter), up to 30s."},
	{Name: "table", Type: "string", Level: "table",
		Doc: `Table or view to read: "table" (in the source's dataset), "dataset.table" or "project.dataset.table". Exactly one of table and query.`},
	{Name: "query", Type: "string", Level: "table",
		Doc: "A standard SQL select whose result is read. Exactly one of table and query; a cursor filter applies to its output columns."},
	{Name: "columns", Type: "list", Level: "table",
		Doc: "Columns to read (default all), by name; BigQuery bills only the columns read."},
}

// Connector returns the "bigquery" ingest connector.
func Connector() ingest.Connector {
	return ingest.Connector{
		Name: "bigquery",
		Doc:  "Reads BigQuery tables or query results through the REST API (jobs.query, page by page), incrementally by a cursor column.",
		Spec: spec,
		Open: Open,
	}
}

// sourceConfig is a parsed source-level config.
type sourceConfig struct {
	project        string
	dataset        string
	location       string
	endpoint       string // "" for Google's
	key            []byte // service-account key JSON; nil for ADC
	keyKey         string // the setting the key came from
	keyWhere       string // "credentials_json" or "credentials_file <path>"
	pageSize       int64
	maxBytesBilled int64
	timeout        time.Duration
	retries        int
	retryWait      time.Duration
}

func parseSourceConfig(cfg ingest.Config) (sourceConfig, error) {
	r := ingest.NewConfigReader(cfg, "bigquery")
	sc := sourceConfig{
		project:        strings.TrimSpace(r.Str("project", true, "")),
		dataset:        strings.TrimSpace(r.Str("dataset", false, "")),
		location:       strings.TrimSpace(r.Str("location", false, "")),
		pageSize:       r.Integer("page_size", defaultPageSize),
		maxBytesBilled: r.Integer("maximum_bytes_billed", 0),
		timeout:        r.Duration("timeout", defaultTimeout),
		retries:        int(r.Integer("retries", defaultRetries)),
		retryWait:      r.Duration("retry_wait", defaultRetryWait),
	}
	if sc.project != "" {
		if err := checkNamePart(sc.project); err != nil {
			r.Errorf("project", "%v", err)
		}
	}
	if sc.dataset != "" {
		if err := checkNamePart(sc.dataset); err != nil {
			r.Errorf("dataset", "%v", err)
		}
	}
	if sc.pageSize == 0 || sc.pageSize > maxPageSize {
		r.Errorf("page_size", "must be between 1 and %d", maxPageSize)
	}
	if sc.timeout == 0 {
		r.Errorf("timeout", "must be more than zero")
	}
	if sc.retries > 100 {
		r.Errorf("retries", "must be at most 100")
	}
	if _, u := r.HTTPURL("endpoint", false); u != nil {
		if u.Path == "" || u.Path == "/" {
			u.Path = "/bigquery/v2/"
		} else if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		sc.endpoint = u.String()
	}
	keyJSON := r.Str("credentials_json", false, "")
	keyFile := r.Str("credentials_file", false, "")
	switch {
	case keyJSON != "" && keyFile != "":
		r.Errorf("credentials_file", "set one of credentials_json and credentials_file, not both")
	case keyJSON != "":
		sc.key, sc.keyKey, sc.keyWhere = []byte(keyJSON), "credentials_json", "credentials_json"
		if err := checkKey(sc.key); err != nil {
			r.Errorf("credentials_json", "%v", err)
		}
	case keyFile != "":
		b, err := os.ReadFile(keyFile)
		if err != nil {
			r.Errorf("credentials_file", "reading the key: %v", err)
			break
		}
		sc.key, sc.keyKey, sc.keyWhere = b, "credentials_file", "credentials_file "+keyFile
		if err := checkKey(sc.key); err != nil {
			r.Errorf("credentials_file", "%s: %v", keyFile, err)
		}
	}
	return sc, r.Err()
}

// serviceAccountKey holds the fields of a key file the connector checks.
type serviceAccountKey struct {
	Type        string `json:"type"`
	ClientEmail string `json:"client_email"`
	PrivateKey  string `json:"private_key"`
	TokenURI    string `json:"token_uri"`
}

// checkKey verifies that b is a service-account key with a usable private
// key, without ever quoting the key in its messages.
func checkKey(b []byte) error {
	var k serviceAccountKey
	if err := json.Unmarshal(b, &k); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return fmt.Errorf("not a service-account key: invalid JSON at byte %d", syn.Offset)
		}
		return errors.New("not a service-account key: want a JSON object with type, client_email and private_key")
	}
	switch {
	case k.Type != "service_account":
		return fmt.Errorf("type is %q, want a service-account key (\"type\": \"service_account\"); for user or workload credentials leave credentials_json and credentials_file unset to use Application Default Credentials", k.Type)
	case k.ClientEmail == "":
		return errors.New("the service-account key has no client_email")
	case k.PrivateKey == "":
		return errors.New("the service-account key has no private_key")
	}
	block, _ := pem.Decode([]byte(k.PrivateKey))
	if block == nil {
		return errors.New("private_key of the service-account key is not PEM-encoded")
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if _, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 != nil {
			return errors.New("private_key of the service-account key is not an RSA private key (PKCS #8 or PKCS #1)")
		}
	}
	if k.TokenURI != "" {
		if u, err := url.Parse(k.TokenURI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("token_uri %q of the service-account key is not an http(s) URL", k.TokenURI)
		}
	}
	return nil
}

// Open checks a source's settings and builds its API client. It makes no
// request: bad credentials show on the first call, when a table is
// described.
func Open(ctx context.Context, cfg ingest.Config) (ingest.Source, error) {
	sc, err := parseSourceConfig(cfg)
	if err != nil {
		return nil, err
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 8
	// The token source outlives ctx (it refreshes tokens during reads), so
	// its context carries only the HTTP client to use.
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base, Timeout: sc.timeout})
	s := &Source{cfg: sc, base: base, account: "Application Default Credentials"}
	var ts oauth2.TokenSource
	if sc.key != nil {
		jc, err := google.JWTConfigFromJSON(sc.key, scope)
		if err != nil {
			return nil, fmt.Errorf("%s: bigquery: %s: %v", pos(cfg, sc.keyKey), sc.keyWhere, err)
		}
		ts = jc.TokenSource(tokenCtx)
		s.account = "service account " + jc.Email
		s.tokenURL = jc.TokenURL
	} else {
		creds, err := google.FindDefaultCredentials(tokenCtx, scope)
		if err != nil {
			return nil, fmt.Errorf("%s: bigquery: no credentials: set credentials_json or credentials_file to a service-account key, or set up Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, or gcloud auth application-default login): %v", pos(cfg, ""), err)
		}
		ts = creds.TokenSource
	}
	client := &http.Client{Transport: &oauth2.Transport{Source: ts, Base: base}, Timeout: sc.timeout}
	opts := []option.ClientOption{option.WithHTTPClient(client)}
	if sc.endpoint != "" {
		opts = append(opts, option.WithEndpoint(sc.endpoint))
	}
	svc, err := bq.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: bigquery: creating the API client: %w", pos(cfg, ""), err)
	}
	svc.UserAgent = "kiln"
	s.svc = svc
	return s, nil
}

// Source is one opened BigQuery source: its API client and settings. It is
// safe for concurrent Table and Read calls.
type Source struct {
	cfg      sourceConfig
	svc      *bq.Service
	base     *http.Transport
	account  string // named in authentication errors
	tokenURL string // of a service-account key
}

var _ ingest.Source = (*Source)(nil)

// Close releases idle connections; no call is made.
func (s *Source) Close() error {
	s.base.CloseIdleConnections()
	return nil
}

// pos is cfg.Pos(key), tolerating a Config without positions.
func pos(cfg ingest.Config, key string) string {
	if cfg.Pos == nil {
		return "<config>"
	}
	if p := cfg.Pos(key); p != "" {
		return p
	}
	if p := cfg.Pos(""); p != "" {
		return p
	}
	return "<config>"
}
