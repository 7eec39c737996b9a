package pool

import (
	"context"
	"sync/atomic"
	"testing"
)

func TestEachVisitsEveryIndexOnce(t *testing.T) {
	seen := make([]int32, 1000)
	var running, peak atomic.Int32
	Each(context.Background(), len(seen), 3, func(i int) {
		r := running.Add(1)
		for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
		}
		atomic.AddInt32(&seen[i], 1)
		running.Add(-1)
	})
	for i, s := range seen {
		if s != 1 {
			t.Fatalf("index %d visited %d times", i, s)
		}
	}
	if peak.Load() > 3 {
		t.Fatalf("%d calls at once with 3 workers", peak.Load())
	}
}

func TestEachStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	Each(ctx, 100, 1, func(i int) {
		if calls.Add(1) == 5 {
			cancel()
		}
	})
	if calls.Load() != 5 {
		t.Fatalf("%d calls after cancel at 5", calls.Load())
	}
}
