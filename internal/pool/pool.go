// Package pool runs independent pieces of work on a fixed number of
// goroutines.
package pool

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// Each calls fn(i) for every i in [0, n) using up to workers goroutines
// (GOMAXPROCS when workers < 1) and returns when all calls have returned.
// Indices are handed out in increasing order. Once ctx is done no further
// calls start.
func Each(ctx context.Context, n, workers int, fn func(i int)) {
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}
