package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters/ingest"
)

func TestBackoff(t *testing.T) {
	base, maxWait := 100*time.Millisecond, time.Second
	for attempt, full := range map[int]time.Duration{
		1: 100 * time.Millisecond,
		2: 200 * time.Millisecond,
		3: 400 * time.Millisecond,
		4: 800 * time.Millisecond,
		5: time.Second, // capped
		9: time.Second,
	} {
		for range 20 {
			got := ingest.Backoff(attempt, base, maxWait)
			if got < full/2 || got > full {
				t.Errorf("Backoff(%d) = %v, want within [%v, %v]", attempt, got, full/2, full)
			}
		}
	}
	if got := ingest.Backoff(3, 0, time.Second); got != 0 {
		t.Errorf("Backoff with a zero base = %v, want 0", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"7":                             7 * time.Second,
		" 7 ":                           7 * time.Second,
		"0":                             0,
		"Thu, 02 Jan 2025 03:04:35 GMT": 30 * time.Second,
		"Thu, 02 Jan 2025 03:00:00 GMT": 0,
	} {
		if got, ok := ingest.RetryAfter(v, now); !ok || got != want {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "soon", "-3"} {
		if _, ok := ingest.RetryAfter(v, now); ok {
			t.Errorf("RetryAfter(%q) accepted", v)
		}
	}
}

func TestSleep(t *testing.T) {
	if err := ingest.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep: %v", err)
	}
	if err := ingest.Sleep(context.Background(), 0); err != nil {
		t.Errorf("Sleep(0): %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := ingest.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a cancelled context = %v, want context.Canceled", err)
	}
	if err := ingest.Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(0) on a cancelled context = %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Sleep on a cancelled context took %v", el)
	}
}

func TestExcerpt(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 10, ""},
		{"short", 10, "short"},
		{" a\n\tb  c ", 20, "a b c"},
		{"0123456789abc", 10, "0123456789…"},
		{"ab\ncd  ef", 5, "ab cd…"},
		{"héllo", 2, "h…"}, // é is two bytes: not split
		{"a\xffb", 10, "a\uFFFDb"},
	} {
		if got := ingest.Excerpt(c.in, c.n); got != c.want {
			t.Errorf("Excerpt(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
		if got := ingest.Excerpt([]byte(c.in), c.n); got != c.want {
			t.Errorf("Excerpt([]byte(%q), %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
