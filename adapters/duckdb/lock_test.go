package duckdb_test

import (
	"errors"
	"os"
	"strconv"
	"testing"

	"github.com/kilnhq/kiln/adapters/adaptertest"
	"github.com/kilnhq/kiln/adapters/duckdb"
)

func TestLocker(t *testing.T) {
	adaptertest.Locker(t, open)
}

func TestLockInMemoryIsFree(t *testing.T) {
	for range 2 {
		unlock, err := duckdb.LockFile(t.Context(), ":memory:", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
	}
}

func TestLockBusyNamesHolder(t *testing.T) {
	path := adaptertest.DuckDB(t).Path
	duckErr := errors.New(`could not connect to database: IO Error: Could not set lock on file "` + path + `": Conflicting lock is held in /usr/local/bin/duckdb (PID 4242). See also https://duckdb.org/docs/current/connect/concurrency`)

	le, ok := duckdb.Busy(path, duckErr)
	if !ok || !le.Foreign || le.Holder != "pid 4242, /usr/local/bin/duckdb" {
		t.Errorf("Busy with no kiln lock file = %+v, %v; want the DuckDB shell named", le, ok)
	}
	if !errors.Is(le, duckErr) {
		t.Error("LockedError does not wrap DuckDB's error")
	}
	if _, ok := duckdb.Busy(path, errors.New("Catalog Error: no such table")); ok {
		t.Error("Busy matched an unrelated error")
	}

	// A kiln run holding the lock file is named from it.
	unlock, err := duckdb.LockFile(t.Context(), path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := os.Stat(path + duckdb.LockSuffix); err != nil {
		t.Fatal(err)
	}
	self := errors.New(`IO Error: Could not set lock on file "` + path + `": Conflicting lock is held in /usr/bin/kiln (PID ` + itoa(os.Getpid()) + `).`)
	le, ok = duckdb.Busy(path, self)
	if !ok || le.Foreign || le.Holder == "" {
		t.Errorf("Busy with this run's lock file = %+v, %v; want this kiln run named", le, ok)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
