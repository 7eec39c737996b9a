package gsheets

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// excerptLen is how much of a response body an error quotes.
const excerptLen = 200

// statusError is a CSV export response whose status is not 2xx.
type statusError struct {
	code   int
	status string
	header http.Header
	body   []byte
}

func (e *statusError) Error() string {
	s := e.status
	if s == "" {
		s = statusText(e.code)
	}
	if b := ingest.Excerpt(e.body, excerptLen); b != "" {
		s += ": " + b
	}
	return s
}

// notCSVError is an HTML page where the CSV export was expected.
type notCSVError struct{ body []byte }

func (e *notCSVError) Error() string {
	return "the export answered with an HTML page, not CSV: " + ingest.Excerpt(e.body, 120)
}

// try runs call, with the source's timeout, until it succeeds, fails for
// good, or has been retried s.cfg.retries times; it returns the number of
// attempts made.
func (s *source) try(ctx context.Context, call func(ctx context.Context) error) (int, error) {
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
		err := call(cctx)
		timedOut := cctx.Err() != nil
		cancel()
		if err == nil {
			return attempt, nil
		}
		if ctx.Err() != nil {
			return attempt, ctx.Err()
		}
		if timedOut {
			err = fmt.Errorf("no complete response within the %s timeout", s.cfg.timeout)
		}
		retry, after := retryable(err)
		if timedOut {
			retry = true
		}
		if !retry || attempt > s.cfg.retries {
			return attempt, err
		}
		wait := ingest.Backoff(attempt, s.cfg.retryWait, s.cfg.maxRetryWait)
		if after >= 0 {
			wait = min(after, s.cfg.maxRetryWait)
		}
		if err := ingest.Sleep(ctx, wait); err != nil {
			return attempt, err
		}
	}
}

// retryable says whether err may go away on retry: a 429 or 5xx response
// (also from the token endpoint), a 403 whose reason is a rate limit, or a
// network error other than a host that does not exist. after is the
// server's Retry-After, or -1.
func retryable(err error) (retry bool, after time.Duration) {
	after = -1
	code, header := 0, http.Header(nil)
	var ge *googleapi.Error
	var re *oauth2.RetrieveError
	var se *statusError
	switch {
	case errors.As(err, &ge):
		code, header = ge.Code, ge.Header
		if code == http.StatusForbidden {
			for _, it := range ge.Errors {
				if it.Reason == "rateLimitExceeded" || it.Reason == "userRateLimitExceeded" {
					code = http.StatusTooManyRequests
				}
			}
		}
	case errors.As(err, &re):
		if re.Response != nil {
			code, header = re.Response.StatusCode, re.Response.Header
		}
	case errors.As(err, &se):
		code, header = se.code, se.header
	default:
		var nce *notCSVError
		if errors.As(err, &nce) {
			return false, after
		}
		var dns *net.DNSError
		if errors.As(err, &dns) && dns.IsNotFound {
			return false, after
		}
		var cert *tls.CertificateVerificationError
		if errors.As(err, &cert) {
			return false, after
		}
		var ue *url.Error
		var ne net.Error
		return errors.As(err, &ue) || errors.As(err, &ne), after
	}
	if code != http.StatusTooManyRequests && code < 500 {
		return false, after
	}
	if d, ok := ingest.RetryAfter(header.Get("Retry-After"), time.Now()); ok {
		after = d
	}
	return true, after
}

// gaveUp notes the attempts when a request was retried.
func gaveUp(attempts int) string {
	if attempts > 1 {
		return fmt.Sprintf(" (gave up after %d attempts)", attempts)
	}
	return ""
}

// apiError explains a failed Sheets API call on spreadsheet id (a1 is the
// range read, "" for spreadsheets.get).
func (s *source) apiError(err error, attempts int, id, a1 string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("gsheets: spreadsheet %q: %w", id, err)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return fmt.Errorf("gsheets: authentication failed: the token endpoint refused the service-account key of %s (%s)%s", s.email, tokenErrorText(re), gaveUp(attempts))
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) {
		return fmt.Errorf("gsheets: spreadsheet %q: malformed response from the Sheets API: %v", id, err)
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		var ue *url.Error
		if errors.As(err, &ue) {
			// The URL is the API's; the cause is what matters.
			err = ue.Err
		}
		return fmt.Errorf("gsheets: spreadsheet %q: %v%s", id, err, gaveUp(attempts))
	}
	what := fmt.Sprintf("spreadsheet %q", id)
	if a1 != "" {
		what = fmt.Sprintf("range %s of spreadsheet %q", a1, id)
	}
	text := apiErrorText(ge) + gaveUp(attempts)
	switch ge.Code {
	case http.StatusUnauthorized:
		return fmt.Errorf("gsheets: authentication refused reading %s (%s)", what, text)
	case http.StatusForbidden:
		return fmt.Errorf("gsheets: permission denied reading %s (%s); share the spreadsheet with %s", what, text, s.email)
	case http.StatusNotFound:
		return fmt.Errorf("gsheets: spreadsheet %q not found (%s)", id, text)
	case http.StatusBadRequest:
		if strings.Contains(ge.Message, "Unable to parse range") {
			return fmt.Errorf("gsheets: sheet or range %s not found in spreadsheet %q (%s)", a1, id, text)
		}
	}
	return fmt.Errorf("gsheets: reading %s: %s", what, text)
}

// exportError explains a failed CSV export of tab gid of spreadsheet id.
func (s *source) exportError(err error, attempts int, id string, gid int64) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("gsheets: spreadsheet %q: %w", id, err)
	}
	var nce *notCSVError
	if errors.As(err, &nce) {
		return fmt.Errorf("gsheets: spreadsheet %q is not readable through the CSV export: %v; share it with \"Anyone with the link\", or set credentials_json with a service account it is shared with", id, err)
	}
	var se *statusError
	if !errors.As(err, &se) {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("%s %s: %w", ue.Op, s.cfg.exportURLBase.Host, ue.Err)
		}
		return fmt.Errorf("gsheets: CSV export of spreadsheet %q: %v%s", id, err, gaveUp(attempts))
	}
	text := se.Error() + gaveUp(attempts)
	switch se.code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("gsheets: the CSV export of spreadsheet %q was refused (%s); share it with \"Anyone with the link\", or set credentials_json with a service account it is shared with", id, text)
	case http.StatusNotFound, http.StatusBadRequest:
		return fmt.Errorf("gsheets: spreadsheet %q or sheet gid %d not found by the CSV export (%s)", id, gid, text)
	}
	return fmt.Errorf("gsheets: CSV export of spreadsheet %q, sheet gid %d: %s", id, gid, text)
}

// tokenErrorText is a token endpoint's refusal: status, and the OAuth
// error and description when the body has them.
func tokenErrorText(re *oauth2.RetrieveError) string {
	s := ""
	if re.Response != nil {
		s = re.Response.Status
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	detail := ""
	if json.Unmarshal(re.Body, &body) == nil && body.Error != "" {
		detail = body.Error
		if body.Description != "" {
			detail += ": " + body.Description
		}
	} else {
		detail = ingest.Excerpt(re.Body, excerptLen)
	}
	if detail != "" {
		s += ": " + detail
	}
	return s
}

// statusText spells a status code as "404 Not Found".
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}
