package httpsource

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// Defaults of the source settings.
const (
	defaultRetries      = 5
	defaultTimeout      = 60 * time.Second
	defaultRetryWait    = time.Second
	defaultMaxRetryWait = time.Minute
)

// spec is the "http" connector's configuration, source and table level.
var spec = []ingest.Field{
	{Name: "base_url", Type: "string", Required: true, Level: "source",
		Doc: "Base URL of the API, e.g. https://api.example.com/v2; a table's path is appended to it."},
	{Name: "headers", Type: "map", Level: "source",
		Doc: "Extra request headers. Accept: application/json and User-Agent: kiln are sent unless set here."},
	{Name: "params", Type: "map", Level: "any",
		Doc: "Query parameters sent with every request; a list repeats the parameter. Table params override source params of the same name."},
	{Name: "auth", Type: "map", Level: "source",
		Doc: "Authentication: {type: bearer, token}, {type: basic, username, password}, or {type: api_key, name, value, in: header|query} (in defaults to header)."},
	{Name: "rate_limit", Type: "int", Level: "source",
		Doc: "At most this many requests per second across all tables of the source (a fraction like 0.5 is allowed); unlimited when unset."},
	{Name: "retries", Type: "int", Default: int64(defaultRetries), Level: "source",
		Doc: "How many times a request is retried after a 429 or 5xx response or a network error, with exponential backoff and honouring Retry-After."},
	{Name: "retry_wait", Type: "duration", Default: defaultRetryWait.String(), Level: "source",
		Doc: "The first backoff between retries; it doubles on each retry (with jitter)."},
	{Name: "max_retry_wait", Type: "duration", Default: defaultMaxRetryWait.String(), Level: "source",
		Doc: "The longest wait between retries, also the cap on a server's Retry-After."},
	{Name: "timeout", Type: "duration", Default: defaultTimeout.String(), Level: "source",
		Doc: "Time allowed for one request, reading the whole response body included."},
	{Name: "path", Type: "string", Required: true, Level: "table",
		Doc: "Path appended to base_url (e.g. /contacts), or an absolute URL."},
	{Name: "records", Type: "string", Level: "table",
		Doc: `Dot path to the array of records in the JSON body (e.g. data.items; a number indexes an array); "" (the default) means the body itself is the array.`},
	{Name: "paginate", Type: "map", Level: "table",
		Doc: "How to fetch the next page: {type: page, param: page, start: 1, size_param, size: 100}, " +
			"{type: offset, param: offset, limit_param: limit, limit: 100}, {type: cursor, next: meta.next_cursor, param: after}, " +
			"{type: next_url, next: links.next}, or {type: link_header}; any of them may add has_more: <dot path> to stop when that value is false. " +
			"Reading stops at the first page without records. Without paginate one request is made."},
	{Name: "cursor_param", Type: "string", Level: "table",
		Doc: "Query parameter that carries the last loaded cursor value on incremental loads (times as RFC 3339 with nanoseconds in UTC, minus the lookback; other values as text)."},
}

// Connector returns the "http" ingest connector. Requests go through client;
// nil means a client with dial, TLS and idle timeouts (the per-request limit
// is the source's timeout setting).
func Connector(client *http.Client) ingest.Connector {
	if client == nil {
		client = defaultClient()
	}
	return ingest.Connector{
		Name: "http",
		Doc:  "JSON REST APIs: pagination, auth, retries with backoff, rate limiting and incremental reads by a cursor query parameter.",
		Spec: spec,
		Open: func(ctx context.Context, cfg ingest.Config) (ingest.Source, error) {
			sc, err := parseSourceConfig(cfg)
			if err != nil {
				return nil, err
			}
			return &source{client: client, cfg: sc, limiter: newLimiter(sc.rateLimit)}, nil
		},
	}
}

func defaultClient() *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}

// sourceConfig is a parsed source-level config.
type sourceConfig struct {
	baseURL      *url.URL
	headers      map[string]string
	params       url.Values
	auth         auth
	rateLimit    float64
	retries      int
	retryWait    time.Duration
	maxRetryWait time.Duration
	timeout      time.Duration
}

// auth is how requests authenticate.
type auth struct {
	kind     string // "", "bearer", "basic", "api_key"
	token    string
	username string
	password string
	name     string // api_key
	value    string
	in       string // "header" or "query"
}

func parseSourceConfig(cfg ingest.Config) (sourceConfig, error) {
	r := ingest.NewConfigReader(cfg, "http")
	var sc sourceConfig
	_, sc.baseURL = r.HTTPURL("base_url", true)
	sc.headers = r.StringMap("headers")
	sc.params = r.Params("params")
	if a := r.Nested("auth"); a != nil {
		sc.auth = parseAuth(a)
	}
	sc.rateLimit = r.Number("rate_limit", 0)
	sc.retries = int(r.Integer("retries", defaultRetries))
	sc.retryWait = r.Duration("retry_wait", defaultRetryWait)
	sc.maxRetryWait = r.Duration("max_retry_wait", defaultMaxRetryWait)
	sc.timeout = r.Duration("timeout", defaultTimeout)
	if sc.timeout == 0 {
		r.Errorf("timeout", "must be more than zero")
	}
	return sc, r.Err()
}

func parseAuth(r *ingest.ConfigReader) auth {
	a := auth{kind: r.OneOf("type", true, "", "bearer", "basic", "api_key")}
	switch a.kind {
	case "bearer":
		r.Only("type", "token")
		a.token = r.Str("token", true, "")
	case "basic":
		r.Only("type", "username", "password")
		a.username = r.Str("username", true, "")
		a.password = r.Str("password", false, "")
	case "api_key":
		r.Only("type", "name", "value", "in")
		a.name = r.Str("name", true, "")
		a.value = r.Str("value", true, "")
		a.in = r.OneOf("in", false, "header", "header", "query")
	}
	return a
}

// tableConfig is a parsed table-level config.
type tableConfig struct {
	path        string
	params      url.Values
	records     string
	paginate    paginate
	cursorParam string
}

func parseTableConfig(cfg ingest.Config) (tableConfig, error) {
	r := ingest.NewConfigReader(cfg, "http")
	tc := tableConfig{
		path:        r.Str("path", true, ""),
		params:      r.Params("params"),
		records:     r.Str("records", false, ""),
		cursorParam: r.Str("cursor_param", false, ""),
	}
	if p := r.Nested("paginate"); p != nil {
		tc.paginate = parsePaginate(p)
	}
	return tc, r.Err()
}

// requestURL joins base and path: a path is appended to the base URL's path
// (so /v2 + /contacts is /v2/contacts); an absolute URL is used as is.
func requestURL(base *url.URL, path string) (*url.URL, error) {
	p, err := url.Parse(path)
	if err != nil {
		return nil, err
	}
	if p.IsAbs() {
		return p, nil
	}
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + "/" + strings.TrimPrefix(p.Path, "/")
	if p.Path == "" {
		u.Path = base.Path
	}
	u.RawPath = ""
	q := base.Query()
	for k, vs := range p.Query() {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return &u, nil
}
