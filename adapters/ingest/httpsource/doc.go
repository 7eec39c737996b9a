// Package httpsource is kiln's "http" ingest connector: it reads JSON REST
// APIs page by page and hands each page's records to the loader as one
// ingest.Batch.
//
// A source is a base URL with headers, query parameters, authentication
// (bearer, basic, API key in a header or the query), an optional
// requests-per-second limit and retries with exponential backoff on 429 and
// 5xx responses (honouring Retry-After). A table is a path, its records
// (a dot path into the JSON body), a pagination style (page number,
// offset/limit, cursor from the body, next URL from the body, or the RFC 8288
// Link header) and, for incremental loads, the query parameter that carries
// the last loaded cursor value.
//
// The package is named httpsource so that it does not clash with net/http
// where both are imported.
package httpsource
