package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/duckdb"
)

// lockPlan is how one command shares its target with other kiln runs.
// Commands that write (run, seed, snapshot, test, build) take the target's
// run lock and hold it to the end, so two of them never interleave; the
// others take no lock. --lock-timeout says how long to wait for it.
//
// The lock is the warehouse's (adapters.Locker): a Postgres advisory lock
// keyed by the target schema, or an flock on the DuckDB file's lock file.
// DuckDB also lets only one process open the file at all, so there the
// lock is taken before opening it (openDuckDB) and every command, writing
// or not, waits while the file is busy and names who has it.
type lockPlan struct {
	writes bool
	wait   time.Duration
	// held releases a lock taken before the warehouse was opened.
	held func()
}

func (a *app) lockPlan(command string) *lockPlan {
	switch command {
	case "run", "seed", "snapshot", "test", "build", "ingest":
		return &lockPlan{writes: true, wait: a.f.lockTimeout}
	}
	return &lockPlan{wait: a.f.lockTimeout}
}

// lockTarget takes the run lock of s's target when the command writes, and
// returns the func that releases it.
func (a *app) lockTarget(s *session, wh adapters.Warehouse) (func(), error) {
	plan := s.lock
	if plan == nil || !plan.writes {
		return func() {}, nil
	}
	if held := plan.held; held != nil {
		// Taken before open. Close the database before letting go, so
		// that the run waiting for the lock can open the file at once
		// (closing twice is harmless).
		plan.held = nil
		return func() { _ = wh.Close(); held() }, nil
	}
	l, ok := wh.(adapters.Locker)
	if !ok || s.target.Profile.Type == "redshift" { // Redshift has no advisory locks
		return func() {}, nil
	}
	unlock, err := l.Lock(a.ctx, s.target.Profile.Schema, plan.wait)
	if err != nil {
		return nil, s.lockError(err)
	}
	return unlock, nil
}

// openDuckDB opens the target's DuckDB file. A writing command first takes
// the file's run lock; any command retries while another process has the
// file open, until --lock-timeout has passed.
func (s *session) openDuckDB(ctx context.Context, p adapters.Profile) (adapters.Warehouse, error) {
	plan := s.lock
	if plan == nil {
		plan = &lockPlan{}
	}
	start := time.Now()
	if plan.writes {
		unlock, err := duckdb.LockFile(ctx, p.Path, plan.wait)
		if err != nil {
			return nil, s.lockError(err)
		}
		plan.held = unlock
	}
	for {
		w, err := duckdb.Open(ctx, p)
		if err == nil {
			return w, nil
		}
		le, busy := duckdb.Busy(p.Path, err)
		if busy && time.Since(start) < plan.wait {
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
				continue
			}
		}
		if plan.held != nil {
			plan.held()
			plan.held = nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for DuckDB file %s: %w", p.Path, ctx.Err())
		}
		if busy {
			le.Waited = time.Since(start)
			return nil, s.lockError(le)
		}
		return nil, invalid(fmt.Errorf("opening DuckDB %s: %w", p.Path, err))
	}
}

// lockError turns an *adapters.LockedError into the message a user sees
// (exit code 2: the invocation could not start); other errors pass through.
func (s *session) lockError(err error) error {
	var le *adapters.LockedError
	if !errors.As(err, &le) {
		return err
	}
	who := "another kiln run"
	if le.Foreign {
		who = "another process"
	}
	msg := fmt.Sprintf("%s holds the lock on target %q", who, s.target.Name)
	if le.Holder != "" {
		msg += " (" + le.Holder + ")"
	}
	if le.Waited >= time.Second {
		msg += fmt.Sprintf("; gave up after waiting %s: retry later or pass a longer --lock-timeout", le.Waited.Truncate(100*time.Millisecond))
	} else {
		msg += "; retry later or pass --lock-timeout 5m"
	}
	return invalid(&lockedError{msg: msg, err: le})
}

// lockedError is the message of a busy target, wrapping the LockedError.
type lockedError struct {
	msg string
	err error
}

func (e *lockedError) Error() string { return e.msg }
func (e *lockedError) Unwrap() error { return e.err }
