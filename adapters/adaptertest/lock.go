package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
)

// Locker is the conformance suite for adapters.Locker. open must return a
// warehouse implementing it on a fresh database or file; Locker closes it.
// Both locks of each case are taken in this process, so an implementation
// must keep two Lock calls apart even when they come from one process.
func Locker(t *testing.T, open func(t *testing.T) adapters.Warehouse) {
	cases := []struct {
		name string
		fn   func(t *testing.T, l adapters.Locker)
	}{
		{"SecondFailsFastNamingHolder", testLockBusy},
		{"WaitsForRelease", testLockWaits},
		{"GivesUpAfterWait", testLockTimeout},
		{"CancelStopsWaiting", testLockCancel},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wh := open(t)
			t.Cleanup(func() {
				if err := wh.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			l, ok := wh.(adapters.Locker)
			if !ok {
				t.Fatalf("%T does not implement adapters.Locker", wh)
			}
			c.fn(t, l)
		})
	}
}

// lockKey is the key every case locks; a case-specific key would hide a
// warehouse that ignores keys (DuckDB locks its file whatever the key).
const lockKey = "kiln_conf"

func mustLock(t *testing.T, l adapters.Locker) func() {
	t.Helper()
	unlock, err := l.Lock(context.Background(), lockKey, 0)
	if err != nil {
		t.Fatalf("first Lock: %v", err)
	}
	t.Cleanup(unlock)
	return unlock
}

// lockedError checks that err is a *LockedError naming this process.
func lockedError(t *testing.T, err error) *adapters.LockedError {
	t.Helper()
	var le *adapters.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second Lock: got %v (%T), want *adapters.LockedError", err, err)
	}
	if le.Foreign {
		t.Errorf("holder %q reported as foreign; it is this kiln process", le.Holder)
	}
	if want := fmt.Sprintf("pid %d", os.Getpid()); !strings.Contains(le.Holder, want) {
		t.Errorf("holder %q does not name %s", le.Holder, want)
	}
	if host, _ := os.Hostname(); host != "" && !strings.Contains(le.Holder, host) {
		t.Errorf("holder %q does not name host %s", le.Holder, host)
	}
	if !strings.Contains(le.Holder, "since ") {
		t.Errorf("holder %q does not say since when", le.Holder)
	}
	return le
}

func testLockBusy(t *testing.T, l adapters.Locker) {
	unlock := mustLock(t, l)
	t0 := time.Now()
	_, err := l.Lock(context.Background(), lockKey, 0)
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("second Lock with no wait took %s", d)
	}
	lockedError(t, err)
	unlock()
	unlock() // harmless
	again, err := l.Lock(context.Background(), lockKey, 0)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	again()
}

func testLockWaits(t *testing.T, l adapters.Locker) {
	unlock := mustLock(t, l)
	const hold = 400 * time.Millisecond
	time.AfterFunc(hold, unlock)
	t0 := time.Now()
	second, err := l.Lock(context.Background(), lockKey, 20*time.Second)
	if err != nil {
		t.Fatalf("waiting Lock: %v", err)
	}
	defer second()
	if d := time.Since(t0); d < hold-50*time.Millisecond || d > 10*time.Second {
		t.Errorf("waiting Lock returned after %s; the first was released after %s", d, hold)
	}
	// The lock now belongs to the second caller.
	_, err = l.Lock(context.Background(), lockKey, 0)
	lockedError(t, err)
}

func testLockTimeout(t *testing.T, l adapters.Locker) {
	mustLock(t, l)
	const wait = 500 * time.Millisecond
	t0 := time.Now()
	_, err := l.Lock(context.Background(), lockKey, wait)
	d := time.Since(t0)
	le := lockedError(t, err)
	if d < wait || d > wait+5*time.Second {
		t.Errorf("Lock waiting %s gave up after %s", wait, d)
	}
	if le.Waited < wait {
		t.Errorf("Waited = %s, want at least %s", le.Waited, wait)
	}
}

func testLockCancel(t *testing.T, l adapters.Locker) {
	mustLock(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := l.Lock(ctx, lockKey, time.Minute)
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("Lock returned %s after its context ended", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock after cancel: %v, want context.DeadlineExceeded", err)
	}
}
