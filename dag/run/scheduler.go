// Package run executes selected nodes: a worker pool of --threads runs each
// node as soon as its selected parents have succeeded, skips the descendants
// of a failure, and reports progress as events.
package run

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/kilnhq/kiln/dag"
)

// Status is a node's outcome, with dbt's run_results names.
type Status string

// Statuses.
const (
	StatusSuccess Status = "success"
	StatusError   Status = "error"
	StatusSkipped Status = "skipped"
	// Data tests.
	StatusPass Status = "pass"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
)

// OK reports whether descendants may run after this status.
func (s Status) OK() bool { return s == StatusSuccess || s == StatusPass || s == StatusWarn }

// Outcome is what running one node produced.
type Outcome struct {
	Status       Status
	Message      string // e.g. "SELECT 99", or the error text
	Err          error
	RowsAffected int64
	// Bytes is how much a raw-ingest load read (approximate).
	Bytes int64
	Code  string
	// Failures is the number of failing rows of a data test.
	Failures   int64
	Started    time.Time
	Elapsed    time.Duration
	SkipReason string
}

// EventKind says what an Event reports.
type EventKind string

// Event kinds.
const (
	EventStart  EventKind = "start"
	EventFinish EventKind = "finish"
)

// Event reports a node starting or finishing.
type Event struct {
	Kind    EventKind
	ID      string
	Index   int // 1-based position in start order
	Total   int
	Outcome Outcome // for EventFinish
}

// ExecFunc runs one node.
type ExecFunc func(ctx context.Context, id string) Outcome

// Schedule runs ids over g with threads workers. emit is called from one
// goroutine at a time. Nodes not started because ctx ended are skipped.
func Schedule(ctx context.Context, g *dag.Graph, ids []string, threads int, exec ExecFunc, emit func(Event)) map[string]Outcome {
	if threads < 1 {
		threads = 1
	}
	selected := map[string]bool{}
	for _, id := range ids {
		selected[id] = true
	}
	waiting := map[string]int{} // selected parents not yet finished
	for _, id := range ids {
		for _, p := range g.Parents(id) {
			if selected[p] {
				waiting[id]++
			}
		}
	}
	results := make(map[string]Outcome, len(ids))
	var mu sync.Mutex
	var ready []string
	for _, id := range ids {
		if waiting[id] == 0 {
			ready = append(ready, id)
		}
	}
	sort.Strings(ready)
	started := 0
	index := map[string]int{}
	done := make(chan struct {
		id  string
		out Outcome
	})
	running := 0
	emitLocked := func(e Event) {
		if emit != nil {
			emit(e)
		}
	}
	var finish func(id string, out Outcome)
	// skip marks id and its selected descendants skipped.
	skip := func(id, reason string) {
		var stack = []string{id}
		for len(stack) > 0 {
			cur := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if _, ok := results[cur]; ok {
				continue
			}
			started++
			out := Outcome{Status: StatusSkipped, SkipReason: reason, Message: "SKIP (" + reason + ")"}
			results[cur] = out
			emitLocked(Event{Kind: EventFinish, ID: cur, Index: started, Total: len(ids), Outcome: out})
			for _, c := range g.Children(cur) {
				if selected[c] {
					stack = append(stack, c)
				}
			}
		}
	}
	finish = func(id string, out Outcome) {
		results[id] = out
		for _, c := range g.Children(id) {
			if !selected[c] {
				continue
			}
			if !out.Status.OK() {
				skip(c, "upstream "+id+" "+string(out.Status))
				continue
			}
			waiting[c]--
			if waiting[c] == 0 {
				if _, done := results[c]; !done {
					ready = append(ready, c)
				}
			}
		}
	}
	for {
		mu.Lock()
		for running < threads && len(ready) > 0 {
			id := ready[0]
			ready = ready[1:]
			if _, ok := results[id]; ok {
				continue
			}
			if ctx.Err() != nil {
				skip(id, "run cancelled")
				continue
			}
			started++
			index[id] = started
			emitLocked(Event{Kind: EventStart, ID: id, Index: started, Total: len(ids)})
			running++
			go func(id string) {
				t0 := time.Now()
				out := exec(ctx, id)
				out.Started = t0
				out.Elapsed = time.Since(t0)
				done <- struct {
					id  string
					out Outcome
				}{id, out}
			}(id)
			results[id] = Outcome{Status: "running"}
		}
		if running == 0 && len(ready) == 0 {
			mu.Unlock()
			break
		}
		mu.Unlock()
		r := <-done
		mu.Lock()
		running--
		delete(results, r.id)
		emitLocked(Event{Kind: EventFinish, ID: r.id, Index: index[r.id], Total: len(ids), Outcome: r.out})
		finish(r.id, r.out)
		mu.Unlock()
	}
	// Anything never reached (cancelled before becoming ready) is skipped.
	for _, id := range ids {
		if _, ok := results[id]; !ok {
			results[id] = Outcome{Status: StatusSkipped, SkipReason: "run cancelled", Message: "SKIP (run cancelled)"}
		}
	}
	return results
}
