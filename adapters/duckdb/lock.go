package duckdb

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kilnhq/kiln/adapters"
)

var _ adapters.Locker = (*Warehouse)(nil)

// LockSuffix is appended to a database file's path to name its run lock
// file. The file is left in place after a run: removing a file that others
// may be waiting to flock would let two runs hold "the" lock at once.
const LockSuffix = ".kiln.lock"

// lockPoll is how often a waiting Lock tries again.
const lockPoll = 100 * time.Millisecond

// lockOwner is what a lock file holds while a run has it.
type lockOwner struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
}

// Lock implements adapters.Locker with an flock on the database file's
// lock file (see LockFile); key is not needed, since the file is the
// target. An in-memory database has nothing to share and always locks.
func (w *Warehouse) Lock(ctx context.Context, key string, wait time.Duration) (func(), error) {
	return LockFile(ctx, w.path, wait)
}

// LockFile takes the run lock of the DuckDB file at path: an exclusive flock
// on path+LockSuffix, which then holds the pid, host and start time of this
// process so a second run can name it. Callers take it before Open, since
// DuckDB itself lets only one process open the file. The kernel releases
// the lock when the process dies. While another process holds it LockFile
// polls until wait has passed (wait <= 0: it tries once) and returns an
// *adapters.LockedError naming the holder; it stops with ctx's error when
// ctx is done. An in-memory path needs no lock.
func LockFile(ctx context.Context, path string, wait time.Duration) (func(), error) {
	if path == "" || path == ":memory:" {
		return func() {}, nil
	}
	lp := path + LockSuffix
	if err := os.MkdirAll(filepath.Dir(lp), 0o755); err != nil {
		return nil, fmt.Errorf("creating directory for lock file %s: %w", lp, err)
	}
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file %s: %w", lp, err)
	}
	start := time.Now()
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", lp, err)
		}
		if ok {
			break
		}
		waited := time.Since(start)
		if waited >= wait {
			f.Close()
			return nil, &adapters.LockedError{Holder: readOwner(lp).describe(), Waited: waited.Round(time.Millisecond)}
		}
		t := time.NewTimer(min(lockPoll, wait-waited))
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("waiting for the lock on %s: %w", path, ctx.Err())
		case <-t.C:
		}
	}
	host, _ := os.Hostname()
	b, _ := json.Marshal(lockOwner{PID: os.Getpid(), Host: host, Started: time.Now().UTC()})
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			// Closing the descriptor drops the flock; the owner text stays
			// and is only read while the file is locked again.
			_ = f.Truncate(0)
			f.Close()
		})
	}, nil
}

func readOwner(lockPath string) lockOwner {
	var o lockOwner
	b, err := os.ReadFile(lockPath)
	if err == nil {
		_ = json.Unmarshal(b, &o)
	}
	return o
}

func (o lockOwner) describe() string {
	return adapters.DescribeHolder(o.PID, o.Host, o.Started)
}

// conflict matches DuckDB's error when another process has the file open:
// `IO Error: Could not set lock on file "x.duckdb": Conflicting lock is held
// in /usr/bin/duckdb (PID 1234)`.
var conflict = regexp.MustCompile(`Could not set lock on file(?:.*?Conflicting lock is held in (.*?) \(PID (\d+)\))?`)

// Busy reports whether err, returned by Open for the file at path, says
// that another process has the file open, and names that process: the kiln
// run recorded in the lock file when its pid matches the one DuckDB
// reports, else the program DuckDB names (Foreign is then true).
func Busy(path string, err error) (*adapters.LockedError, bool) {
	if err == nil {
		return nil, false
	}
	m := conflict.FindStringSubmatch(err.Error())
	if m == nil {
		return nil, false
	}
	pid, _ := strconv.Atoi(m[2])
	le := &adapters.LockedError{Err: err}
	owner := readOwner(path + LockSuffix)
	switch {
	case owner.PID != 0 && (pid == 0 || owner.PID == pid):
		le.Holder = owner.describe()
	case pid != 0:
		le.Foreign = true
		le.Holder = fmt.Sprintf("pid %d, %s", pid, strings.TrimSpace(m[1]))
	default:
		le.Foreign = true
	}
	return le, true
}
