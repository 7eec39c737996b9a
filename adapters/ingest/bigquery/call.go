package bigquery

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// excerptLen is how much of a response body an error quotes.
const excerptLen = 300

// APIError is a BigQuery API call that failed after any retries, or an
// access token the token endpoint refused.
type APIError struct {
	Call     string // "jobs.query", "tables.get", ...
	Code     int    // HTTP status; 0 when no response came
	Reason   string // Google's error reason: notFound, accessDenied, invalidQuery, ...
	Message  string // Google's message, or the start of the response body
	Token    bool   // getting the access token failed
	Account  string // the credentials used
	Attempts int    // calls made, retries included
	Err      error
}

func (e *APIError) Error() string {
	var b strings.Builder
	switch {
	case e.Token && e.Code != 0:
		fmt.Fprintf(&b, "%s: getting an access token for %s: the token endpoint refused the credentials (%s)", e.Call, e.Account, statusText(e.Code))
	case e.Token:
		fmt.Fprintf(&b, "%s: getting an access token for %s", e.Call, e.Account)
	case e.Code == http.StatusUnauthorized:
		fmt.Fprintf(&b, "%s: authentication refused for %s (%s%s)", e.Call, e.Account, statusText(e.Code), reason(e.Reason))
	case e.Code == http.StatusForbidden && !rateLimited(e.Reason):
		fmt.Fprintf(&b, "%s: permission denied to %s (%s%s)", e.Call, e.Account, statusText(e.Code), reason(e.Reason))
	case e.Code == http.StatusNotFound:
		fmt.Fprintf(&b, "%s: not found (%s%s)", e.Call, statusText(e.Code), reason(e.Reason))
	case e.Code != 0:
		fmt.Fprintf(&b, "%s: %s%s", e.Call, statusText(e.Code), reason(e.Reason))
	default:
		b.WriteString(e.Call)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	} else if e.Code != 0 {
		b.WriteString(" (empty body)")
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts)", e.Attempts)
	}
	return b.String()
}

func (e *APIError) Unwrap() error { return e.Err }

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return strconv.Itoa(code)
}

func reason(r string) string {
	if r == "" {
		return ""
	}
	return ", " + r
}

// rateLimited says whether a reason is a transient limit (BigQuery sends
// some as 403).
func rateLimited(reason string) bool {
	switch reason {
	case "rateLimitExceeded", "backendError", "internalError":
		return true
	}
	return false
}

// retry calls f until it succeeds, fails for good, or has been retried
// s.cfg.retries times; errors come back as *APIError.
func retry[T any](ctx context.Context, s *Source, call string, f func(context.Context) (T, error)) (T, error) {
	var zero T
	for attempt := 1; ; attempt++ {
		v, err := f(ctx)
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return zero, fmt.Errorf("%s: %w", call, ctx.Err())
		}
		ae, again, wait := s.classify(call, err)
		ae.Attempts = attempt
		if !again || attempt > s.cfg.retries {
			return zero, ae
		}
		if wait <= 0 {
			wait = ingest.Backoff(attempt, s.cfg.retryWait, maxRetryWait)
		}
		if err := ingest.Sleep(ctx, wait); err != nil {
			return zero, fmt.Errorf("%w (stopped waiting to retry: %w)", ae, err)
		}
	}
}

// classify turns a call's error into an APIError and says whether it may
// go away on retry, and after how long the server asked to wait (0: use
// the backoff).
func (s *Source) classify(call string, err error) (*APIError, bool, time.Duration) {
	ae := &APIError{Call: call, Account: s.account, Err: err}
	var gerr *googleapi.Error
	var rerr *oauth2.RetrieveError
	switch {
	case errors.As(err, &gerr):
		ae.Code = gerr.Code
		ae.Message = gerr.Message
		if len(gerr.Errors) > 0 {
			ae.Reason = gerr.Errors[0].Reason
			if ae.Message == "" {
				ae.Message = gerr.Errors[0].Message
			}
		}
		if ae.Message == "" {
			ae.Message = excerpt(gerr.Body)
		}
		var wait time.Duration // the server's Retry-After, capped at maxRetryWait
		if ra, ok := ingest.RetryAfter(gerr.Header.Get("Retry-After"), time.Now()); ok {
			wait = min(ra, maxRetryWait)
		}
		switch {
		case gerr.Code == http.StatusTooManyRequests, gerr.Code >= 500:
			return ae, true, wait
		case gerr.Code == http.StatusForbidden && rateLimited(ae.Reason):
			return ae, true, wait
		}
		return ae, false, 0
	case errors.As(err, &rerr):
		ae.Token = true
		if s.tokenURL != "" {
			ae.Account += " from " + s.tokenURL
		}
		if rerr.Response != nil {
			ae.Code = rerr.Response.StatusCode
		}
		ae.Message = tokenMessage(rerr)
		return ae, ae.Code == http.StatusTooManyRequests || ae.Code >= 500, 0
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) {
		ae.Message = "malformed response: " + err.Error()
		return ae, false, 0
	}
	msg := err.Error()
	if strings.Contains(msg, "oauth2:") {
		// The token request did not get an answer (jwt does not wrap its
		// transport errors).
		ae.Token = true
	}
	ae.Message = msg
	return ae, retryable(err), 0
}

// tokenMessage is the OAuth error and its description, or the start of
// the body.
func tokenMessage(rerr *oauth2.RetrieveError) string {
	code, desc := rerr.ErrorCode, rerr.ErrorDescription
	if code == "" {
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(rerr.Body, &body) == nil {
			code, desc = body.Error, body.Description
		}
	}
	switch {
	case code != "" && desc != "":
		return code + ": " + desc
	case code != "":
		return code
	}
	return excerpt(string(rerr.Body))
}

// retryable says whether a transport error may go away on retry: not a host
// that does not exist nor a certificate that is refused.
func retryable(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return false
	}
	var cert *tls.CertificateVerificationError
	return !errors.As(err, &cert)
}

// excerpt is the start of s on one line, cut at a rune boundary.
func excerpt(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= excerptLen {
		return s
	}
	cut := excerptLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
