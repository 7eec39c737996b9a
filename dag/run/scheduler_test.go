package run

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kilnhq/kiln/dag"
)

func TestScheduleSkipsDescendantsOfFailure(t *testing.T) {
	g, err := dag.New(map[string][]string{
		"a": nil, "b": {"a"}, "c": {"b"}, "x": nil, "y": {"x"}, "z": {"y", "a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var concurrent, peak int32
	exec := func(ctx context.Context, id string) Outcome {
		n := atomic.AddInt32(&concurrent, 1)
		for {
			p := atomic.LoadInt32(&peak)
			if n <= p || atomic.CompareAndSwapInt32(&peak, p, n) {
				break
			}
		}
		defer atomic.AddInt32(&concurrent, -1)
		mu.Lock()
		order = append(order, id)
		mu.Unlock()
		if id == "b" {
			return Outcome{Status: StatusError, Err: errors.New("boom")}
		}
		return Outcome{Status: StatusSuccess}
	}
	var events []Event
	res := Schedule(context.Background(), g, []string{"a", "b", "c", "x", "y", "z"}, 2, exec, func(e Event) { events = append(events, e) })
	want := map[string]Status{"a": StatusSuccess, "b": StatusError, "c": StatusSkipped, "x": StatusSuccess, "y": StatusSuccess, "z": StatusSuccess}
	for id, st := range want {
		if res[id].Status != st {
			t.Errorf("%s: %s, want %s", id, res[id].Status, st)
		}
	}
	if res["c"].SkipReason != "upstream b error" {
		t.Errorf("skip reason = %q", res["c"].SkipReason)
	}
	pos := map[string]int{}
	for i, id := range order {
		pos[id] = i
	}
	if pos["a"] > pos["b"] || pos["x"] > pos["y"] || pos["y"] > pos["z"] {
		t.Errorf("order violates dependencies: %v", order)
	}
	if peak > 2 {
		t.Errorf("ran %d at once with 2 threads", peak)
	}
	finishes := 0
	for _, e := range events {
		if e.Kind == EventFinish {
			finishes++
			if e.Index < 1 || e.Index > 6 {
				t.Errorf("event index %d", e.Index)
			}
		}
	}
	if finishes != 6 {
		t.Errorf("%d finish events, want 6", finishes)
	}
}

func TestScheduleCancelled(t *testing.T) {
	g, _ := dag.New(map[string][]string{"a": nil, "b": {"a"}})
	ctx, cancel := context.WithCancel(context.Background())
	res := Schedule(ctx, g, []string{"a", "b"}, 1, func(ctx context.Context, id string) Outcome {
		cancel()
		return Outcome{Status: StatusSuccess}
	}, nil)
	if res["b"].Status != StatusSkipped {
		t.Fatalf("b = %+v", res["b"])
	}
}
