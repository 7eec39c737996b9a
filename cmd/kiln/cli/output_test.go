package cli

import (
	"strings"
	"testing"
	"time"
)

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 46_900_000: "46.9 MB", 1_200_000_000: "1.2 GB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestStatusLine(t *testing.T) {
	lp := &loadProgress{started: time.Now().Add(-2 * time.Second), rows: 1_000_000, bytes: 46_900_000}
	got := statusLine([]string{"shop.orders " + lp.String(), "crm.contacts 10 rows, 1.2 kB, 5 rows/s"})
	if !strings.HasPrefix(got, "\r\x1b[K  loading shop.orders 1000000 rows, 46.9 MB, ") || !strings.Contains(got, " rows/s | crm.contacts 10 rows") {
		t.Errorf("status line = %q", got)
	}
	// 1M rows over at least 2 s: at most 500k rows/s (a stalled machine
	// only lowers it).
	if rate := lp.rate(); rate <= 0 || rate > 500_001 {
		t.Errorf("rate = %.0f rows/s, want at most 500000", rate)
	}
	long := statusLine([]string{strings.Repeat("x", 300)})
	if len(long) != len("\r\x1b[K")+160 || !strings.HasSuffix(long, "...") {
		t.Errorf("a long status line is %d bytes: %q", len(long), long)
	}
}
