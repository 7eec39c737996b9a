package gsheets

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"
	"google.golang.org/api/option"
	"google.golang.org/api/sheets/v4"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// Defaults of the settings.
const (
	defaultEndpoint      = "https://sheets.googleapis.com/"
	defaultExportURLBase = "https://docs.google.com"
	defaultRetries       = 5
	defaultRetryWait     = time.Second
	defaultMaxRetryWait  = time.Minute
	defaultTimeout       = 2 * time.Minute
	// scope is the only access the connector asks for.
	scope = "https://www.googleapis.com/auth/spreadsheets.readonly"
)

// Value rendering choices (value_render).
const (
	renderFormatted   = "formatted"
	renderUnformatted = "unformatted"
)

// spec is the "gsheets" connector's configuration.
var spec = []ingest.Field{
	{Name: "credentials_json", Type: "string", Level: "source",
		Doc: `Service-account key (the JSON text), usually "{{ env_var('GOOGLE_SA_KEY') }}". The spreadsheet must be shared with the key's client_email. Without credentials_json or credentials_file, sheets are read through the CSV export and must be shared with "Anyone with the link".`},
	{Name: "credentials_file", Type: "string", Level: "source",
		Doc: "Path of a service-account key file, instead of credentials_json (relative paths are relative to the directory kiln runs in)."},
	{Name: "endpoint", Type: "string", Level: "source", Default: defaultEndpoint,
		Doc: "Base URL of the Sheets API (a private endpoint or a test server)."},
	{Name: "export_url_base", Type: "string", Level: "source", Default: defaultExportURLBase,
		Doc: "Base URL of the CSV export used without credentials: <export_url_base>/spreadsheets/d/<id>/export?format=csv&gid=<gid>."},
	{Name: "retries", Type: "int", Default: int64(defaultRetries), Level: "source",
		Doc: "How many times a request is retried after a 429 (quota) or 5xx response or a network error, with exponential backoff honouring Retry-After."},
	{Name: "retry_wait", Type: "duration", Default: defaultRetryWait.String(), Level: "source",
		Doc: "The first backoff between retries; it doubles on each retry (with jitter)."},
	{Name: "max_retry_wait", Type: "duration", Default: defaultMaxRetryWait.String(), Level: "source",
		Doc: "The longest wait between retries, also the cap on a server's Retry-After."},
	{Name: "timeout", Type: "duration", Default: defaultTimeout.String(), Level: "source",
		Doc: "Time allowed for one request, reading the whole response included."},
	{Name: "spreadsheet_id", Type: "string", Required: true, Level: "any",
		Doc: "The spreadsheet's id (the part after /spreadsheets/d/ in its URL) or its whole URL; a #gid=<n> in the URL picks the tab when neither sheet nor gid is set."},
	{Name: "sheet", Type: "string", Level: "table",
		Doc: "The tab's name (with credentials only: the CSV export needs gid). Without sheet or gid the first tab is read."},
	{Name: "gid", Type: "int", Level: "table",
		Doc: "The tab's id (the number after #gid= in its URL), instead of sheet."},
	{Name: "range", Type: "string", Level: "table",
		Doc: `Cells to read in A1 notation without the sheet name, e.g. "A1:F" or "B3:H500"; the whole tab by default.`},
	{Name: "header_row", Type: "int", Default: int64(1), Level: "any",
		Doc: "Which row of the range holds the column names (1 = its first row); rows above it are skipped."},
	{Name: "value_render", Type: "string", Default: renderFormatted, Level: "any",
		Doc: "formatted (default): cells as the sheet shows them (as the CSV export does), typed by inference. unformatted (API only): numbers and booleans as stored, whatever their display format; dates and times still as shown."},
}

// Connector returns the "gsheets" ingest connector.
func Connector() ingest.Connector {
	return ingest.Connector{
		Name: "gsheets",
		Doc:  "Google Sheets tabs: Sheets API v4 with a service-account key, or the CSV export of link-shared sheets; header row to snake_case columns, types inferred.",
		Spec: spec,
		Open: open,
	}
}

// sourceConfig is a parsed source-level config.
type sourceConfig struct {
	key           []byte // service-account key JSON; nil for the CSV export
	endpoint      string
	exportURLBase *url.URL
	retries       int
	retryWait     time.Duration
	maxRetryWait  time.Duration
	timeout       time.Duration
	// Table defaults (Level "any").
	defaults tableConfig
}

// tableConfig is a parsed table-level config.
type tableConfig struct {
	spreadsheetID string
	urlGID        *int64 // a #gid= of a spreadsheet URL
	sheet         string
	gid           *int64
	rng           string
	headerRow     int
	valueRender   string
}

// spreadsheetURLRe finds the id in a spreadsheet URL.
var spreadsheetURLRe = regexp.MustCompile(`/spreadsheets/d/([A-Za-z0-9_-]+)`)

// idRe is what a spreadsheet id is made of.
var idRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// rangeRe is an A1 range without a sheet name: a cell, column or row, or
// two of them joined by a colon ("A1:F", "B3:H500", "A:D", "2:100").
var rangeRe = regexp.MustCompile(`^(\$?[A-Za-z]{1,3}\$?[0-9]*|\$?[0-9]+)(:(\$?[A-Za-z]{1,3}\$?[0-9]*|\$?[0-9]+))?$`)

// readAny reads the settings that may sit on the source or the table into
// tc, keeping tc's values (the source's) where the table says nothing.
func readAny(r *ingest.ConfigReader, tc *tableConfig) {
	if r.Has("spreadsheet_id") {
		raw := strings.TrimSpace(r.Str("spreadsheet_id", true, ""))
		tc.spreadsheetID, tc.urlGID = "", nil
		switch {
		case raw == "":
		case strings.Contains(raw, "/"):
			m := spreadsheetURLRe.FindStringSubmatch(raw)
			if m == nil {
				r.Errorf("spreadsheet_id", "%q is neither a spreadsheet id nor a spreadsheet URL (…/spreadsheets/d/<id>/…)", raw)
				break
			}
			tc.spreadsheetID = m[1]
			if u, err := url.Parse(raw); err == nil {
				for _, part := range []string{u.Fragment, u.RawQuery} {
					if q, err := url.ParseQuery(part); err == nil && q.Get("gid") != "" {
						if g, err := strconv.ParseInt(q.Get("gid"), 10, 64); err == nil && g >= 0 {
							tc.urlGID = &g
							break
						}
					}
				}
			}
		case !idRe.MatchString(raw):
			r.Errorf("spreadsheet_id", "%q is not a spreadsheet id (letters, digits, - and _)", raw)
		default:
			tc.spreadsheetID = raw
		}
	}
	if r.Has("header_row") {
		n := r.Integer("header_row", 1)
		if n < 1 {
			r.Errorf("header_row", "must be 1 or more (the row of the range that names the columns)")
			n = 1
		}
		tc.headerRow = int(n)
	}
	if r.Has("value_render") {
		tc.valueRender = r.OneOf("value_render", false, renderFormatted, renderFormatted, renderUnformatted)
	}
}

func parseSourceConfig(cfg ingest.Config) (sourceConfig, error) {
	r := ingest.NewConfigReader(cfg, "gsheets")
	sc := sourceConfig{defaults: tableConfig{headerRow: 1, valueRender: renderFormatted}}
	hasJSON, hasFile := r.Has("credentials_json"), r.Has("credentials_file")
	switch {
	case hasJSON && hasFile:
		r.Errorf("credentials_file", "give credentials_json or credentials_file, not both")
	case hasJSON:
		s := r.Str("credentials_json", false, "")
		if strings.TrimSpace(s) == "" {
			r.Errorf("credentials_json", "is empty (remove it to read a link-shared sheet through the CSV export)")
		} else {
			sc.key = []byte(s)
			if err := checkKey(sc.key); err != nil {
				r.Errorf("credentials_json", "%v", err)
			}
		}
	case hasFile:
		if p := r.Str("credentials_file", true, ""); p != "" {
			b, err := os.ReadFile(p)
			if err != nil {
				r.Errorf("credentials_file", "%v", err)
			} else if err := checkKey(b); err != nil {
				r.Errorf("credentials_file", "%s: %v", p, err)
			} else {
				sc.key = b
			}
		}
	}
	sc.endpoint = defaultEndpoint
	if r.Has("endpoint") {
		if u := parseBaseURL(r, "endpoint"); u != nil {
			u.Path = strings.TrimSuffix(u.Path, "/") + "/"
			sc.endpoint = u.String()
		}
	}
	sc.exportURLBase, _ = url.Parse(defaultExportURLBase)
	if r.Has("export_url_base") {
		if u := parseBaseURL(r, "export_url_base"); u != nil {
			sc.exportURLBase = u
		}
	}
	sc.retries = int(r.Integer("retries", defaultRetries))
	sc.retryWait = r.Duration("retry_wait", defaultRetryWait)
	sc.maxRetryWait = r.Duration("max_retry_wait", defaultMaxRetryWait)
	sc.timeout = r.Duration("timeout", defaultTimeout)
	if sc.timeout == 0 {
		r.Errorf("timeout", "must be more than zero")
	}
	readAny(r, &sc.defaults)
	return sc, r.Err()
}

// parseBaseURL reads an http(s) base URL without a query or fragment.
func parseBaseURL(r *ingest.ConfigReader, key string) *url.URL {
	s, u := r.HTTPURL(key, true)
	if u != nil && (u.RawQuery != "" || u.Fragment != "") {
		r.Errorf(key, "%q must not have a query or fragment", s)
		return nil
	}
	return u
}

// checkKey validates a service-account key up front, so that a wrong key
// is a configuration error rather than a failure at the first request.
func checkKey(b []byte) error {
	conf, err := google.JWTConfigFromJSON(b, scope)
	if err != nil {
		return fmt.Errorf("not a service-account key: %v", err)
	}
	if conf.Email == "" {
		return fmt.Errorf("the service-account key has no client_email")
	}
	if len(conf.PrivateKey) == 0 {
		return fmt.Errorf("the service-account key has no private_key")
	}
	block, _ := pem.Decode(conf.PrivateKey)
	if block == nil {
		return fmt.Errorf("the service-account key's private_key is not PEM-encoded")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return fmt.Errorf("the service-account key's private_key is not an RSA key: %v", err)
		}
	}
	if _, ok := key.(*rsa.PrivateKey); !ok {
		return fmt.Errorf("the service-account key's private_key is a %T, not an RSA key", key)
	}
	return nil
}

func parseTableConfig(cfg ingest.Config, defaults tableConfig, exportMode bool) (tableConfig, error) {
	r := ingest.NewConfigReader(cfg, "gsheets")
	tc := defaults
	readAny(r, &tc)
	if tc.spreadsheetID == "" && !r.Has("spreadsheet_id") {
		r.Errorf("spreadsheet_id", "is required (on the table or the source)")
	}
	tc.sheet = r.Str("sheet", false, "")
	if r.Has("sheet") && tc.sheet == "" {
		r.Errorf("sheet", "must not be empty")
	}
	if r.Has("gid") {
		g := r.Integer("gid", 0)
		tc.gid = &g
	}
	if tc.sheet != "" && tc.gid != nil {
		r.Errorf("gid", "give sheet or gid, not both")
	}
	if tc.sheet == "" && tc.gid == nil && tc.urlGID != nil {
		tc.gid = tc.urlGID
	}
	if exportMode && tc.sheet != "" {
		r.Errorf("sheet", "the CSV export (no credentials_json or credentials_file) finds a tab by its gid, not its name: give gid (the number after #gid= in the tab's URL), or credentials")
	}
	tc.rng = strings.TrimSpace(r.Str("range", false, ""))
	switch {
	case tc.rng == "" && r.Has("range"):
		r.Errorf("range", "must not be empty")
	case strings.Contains(tc.rng, "!"):
		r.Errorf("range", "%q names a sheet: give the tab with sheet or gid and the range without it (e.g. A1:F)", tc.rng)
	case tc.rng != "" && !rangeRe.MatchString(tc.rng):
		r.Errorf("range", "%q is not a range in A1 notation (e.g. A1:F, B3:H500)", tc.rng)
	}
	if exportMode && tc.valueRender == renderUnformatted {
		r.Errorf("value_render", "unformatted needs the Sheets API (credentials_json or credentials_file); the CSV export gives formatted values")
	}
	return tc, r.Err()
}

// source is one opened gsheets source; its tables share its clients.
type source struct {
	cfg   sourceConfig
	email string          // the service account; "" for the CSV export
	api   *sheets.Service // nil for the CSV export
	plain *http.Client    // CSV export requests
}

func open(ctx context.Context, cfg ingest.Config) (ingest.Source, error) {
	sc, err := parseSourceConfig(cfg)
	if err != nil {
		return nil, err
	}
	base := newTransport()
	s := &source{cfg: sc, plain: &http.Client{Transport: base}}
	if sc.key == nil {
		return s, nil
	}
	conf, err := google.JWTConfigFromJSON(sc.key, scope)
	if err != nil { // checked by parseSourceConfig
		return nil, fmt.Errorf("gsheets: %v", err)
	}
	s.email = conf.Email
	s.api, err = newService(ctx, conf, base, sc)
	if err != nil {
		return nil, fmt.Errorf("gsheets: %v", err)
	}
	return s, nil
}

// newService builds the Sheets API client: requests carry a bearer token
// fetched from the key's token_uri with a signed JWT, through base.
func newService(ctx context.Context, conf *jwt.Config, base http.RoundTripper, sc sourceConfig) (*sheets.Service, error) {
	// The token source outlives Open's context: it must not be cancelled
	// with it. Token requests get the request timeout of their own.
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base, Timeout: sc.timeout})
	client := &http.Client{Transport: &oauth2.Transport{Base: base, Source: conf.TokenSource(tokenCtx)}}
	return sheets.NewService(ctx, option.WithHTTPClient(client), option.WithEndpoint(sc.endpoint))
}

func newTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Table implements ingest.Source.
func (s *source) Table(_ context.Context, cfg ingest.Config) (ingest.Table, error) {
	tc, err := parseTableConfig(cfg, s.cfg.defaults, s.api == nil)
	if err != nil {
		return nil, err
	}
	return &table{src: s, cfg: tc}, nil
}

// Close implements ingest.Source.
func (s *source) Close() error {
	if t, ok := s.plain.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	return nil
}
