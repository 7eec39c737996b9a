package httpsource

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/kilnhq/kiln/adapters/ingest"
)

// maxBody caps one response body: a page is decoded whole.
const maxBody = 1 << 30

// response is one successful response, body read.
type response struct {
	header http.Header
	body   []byte
}

// get fetches u, waiting for the rate limiter before each attempt and
// retrying network errors, 429 and 5xx responses with backoff.
func (s *source) get(ctx context.Context, u *url.URL) (*response, error) {
	shown := s.redact(u)
	for attempt := 1; ; attempt++ {
		if err := s.limiter.wait(ctx); err != nil {
			return nil, fmt.Errorf("GET %s: %w", shown, err)
		}
		resp, body, err := s.do(ctx, u)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, fmt.Errorf("GET %s: %w", shown, ctx.Err())
			}
			if !retryable(err) || attempt > s.cfg.retries {
				return nil, fmt.Errorf("GET %s: %w", shown, s.transportError(u, err, attempt))
			}
			wait = ingest.Backoff(attempt, s.cfg.retryWait, s.cfg.maxRetryWait)
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			if attempt > s.cfg.retries {
				return nil, statusError(shown, resp, body, attempt)
			}
			wait = ingest.Backoff(attempt, s.cfg.retryWait, s.cfg.maxRetryWait)
			if ra, ok := ingest.RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				wait = min(ra, s.cfg.maxRetryWait)
			}
		case resp.StatusCode < 200 || resp.StatusCode > 299:
			return nil, statusError(shown, resp, body, attempt)
		default:
			return &response{header: resp.Header, body: body}, nil
		}
		if err := ingest.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("GET %s: waiting to retry: %w", shown, err)
		}
	}
}

// do makes one request and reads its whole body within the timeout.
func (s *source) do(ctx context.Context, u *url.URL) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	target := u
	if a := s.cfg.auth; a.kind == "api_key" && a.in == "query" {
		c := *u
		q := c.Query()
		q.Set(a.name, a.value)
		c.RawQuery = q.Encode()
		target = &c
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "kiln")
	for k, v := range s.cfg.headers {
		req.Header.Set(k, v)
	}
	switch a := s.cfg.auth; a.kind {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+a.token)
	case "basic":
		req.SetBasicAuth(a.username, a.password)
	case "api_key":
		if a.in == "header" {
			req.Header.Set(a.name, a.value)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which may carry an API key.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("no response within the %s timeout", s.cfg.timeout)
		}
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("reading the response body: not complete within the %s timeout", s.cfg.timeout)
		} else {
			err = fmt.Errorf("reading the response body: %w", err)
		}
		return nil, nil, err
	}
	if len(body) > maxBody {
		return nil, nil, fmt.Errorf("response body larger than %d bytes", maxBody)
	}
	return resp, body, nil
}

// retryable says whether a transport error may go away on retry: not a host
// that does not exist nor a malformed request.
func retryable(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return false
	}
	var cert *tls.CertificateVerificationError
	if errors.As(err, &cert) {
		return false
	}
	var ue url.InvalidHostError
	return !errors.As(err, &ue)
}

// transportError names the host when the request did not reach it.
func (s *source) transportError(u *url.URL, err error, attempts int) error {
	var dns *net.DNSError
	var op *net.OpError
	if errors.As(err, &dns) || (errors.As(err, &op) && op.Op == "dial") {
		return &UnreachableError{Host: u.Host, Attempts: attempts, Err: err}
	}
	if attempts > 1 {
		return fmt.Errorf("gave up after %d attempts: %w", attempts, err)
	}
	return err
}

func statusError(shown string, resp *http.Response, body []byte, attempts int) error {
	return &StatusError{
		Method:     http.MethodGet,
		URL:        shown,
		StatusCode: resp.StatusCode,
		Status:     resp.Status,
		Body:       ingest.Excerpt(body, excerptLen),
		Attempts:   attempts,
	}
}

// redact spells u for messages: any API key sent in the query, or password
// in the URL, is masked.
func (s *source) redact(u *url.URL) string {
	c := *u
	if a := s.cfg.auth; a.kind == "api_key" && a.in == "query" {
		q := c.Query()
		if q.Has(a.name) {
			q.Set(a.name, "xxxxx")
			c.RawQuery = q.Encode()
		}
	}
	return c.Redacted()
}

// limiter spaces requests at least 1/rate apart (a token bucket holding one
// token). A nil limiter does not wait.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func newLimiter(perSecond float64) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{interval: time.Duration(float64(time.Second) / perSecond)}
}

func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	slot := l.next
	if slot.Before(now) {
		slot = now
	}
	l.next = slot.Add(l.interval)
	l.mu.Unlock()
	return ingest.Sleep(ctx, time.Until(slot))
}
