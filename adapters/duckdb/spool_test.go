package duckdb

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSweepSpools(t *testing.T) {
	dir := t.TempDir()
	old, fresh, other := filepath.Join(dir, "kiln-load-1.csv"), filepath.Join(dir, "kiln-load-2.csv"), filepath.Join(dir, "mine.csv")
	for _, p := range []string{old, fresh, other} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-48 * time.Hour)
	for _, p := range []string{old, other} {
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
	sweepSpools(dir, time.Now().Add(-spoolMaxAge))
	for p, want := range map[string]bool{old: false, fresh: true, other: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}
