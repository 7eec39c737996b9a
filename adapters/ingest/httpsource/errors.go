package httpsource

import (
	"fmt"
	"net/http"
	"strings"
)

// excerptLen is how much of a response body an error quotes.
const excerptLen = 200

// StatusError is a response whose status is not 2xx (after any retries).
// Callers branch on StatusCode; AuthRefused says whether it was 401 or 403.
type StatusError struct {
	Method     string
	URL        string // with any API key in the query redacted
	StatusCode int
	Status     string // e.g. "401 Unauthorized"
	Body       string // the first 200 bytes of the response body
	Attempts   int    // requests made, retries included
}

// AuthRefused reports whether the server refused the credentials (401, 403).
func (e *StatusError) AuthRefused() bool {
	return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: ", e.Method, e.URL)
	if e.AuthRefused() {
		b.WriteString("authentication refused: ")
	}
	b.WriteString(e.Status)
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts)", e.Attempts)
	}
	if e.Body != "" {
		fmt.Fprintf(&b, ": %s", e.Body)
	} else {
		b.WriteString(" (empty body)")
	}
	return b.String()
}

// UnreachableError is a request that could not reach its host (DNS failure,
// connection refused, TLS handshake, ...).
type UnreachableError struct {
	Host     string
	Attempts int
	Err      error
}

func (e *UnreachableError) Error() string {
	if e.Attempts > 1 {
		return fmt.Sprintf("cannot reach host %s (gave up after %d attempts): %v", e.Host, e.Attempts, e.Err)
	}
	return fmt.Sprintf("cannot reach host %s: %v", e.Host, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }
