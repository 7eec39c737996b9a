package files

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// Mover is a Store that can move a file (sftp, ftp): after_load move_to.
type Mover interface {
	Store
	// Move renames from to to (both relative to the store root), creating
	// to's folder when it is missing.
	Move(ctx context.Context, from, to string) error
}

// MoveAfterLoad wraps t so that, once a load's rows and state are
// committed, every file the load read is moved into dir (relative to the
// store root; the file keeps its name). A file is never moved before its
// rows are committed: a load that fails leaves every file where it was.
// Files inside dir are no longer matched by t.
func MoveAfterLoad(t *Table, m Mover, dir string) *MovingTable {
	dir = strings.TrimPrefix(path.Clean(dir), "/")
	t.exclude = dir
	return &MovingTable{Table: t, mover: m, dir: dir}
}

// MovingTable is a Table whose loaded files move after the commit.
type MovingTable struct {
	*Table
	mover Mover
	dir   string
}

// AfterCommit moves the files the committed load read.
func (t *MovingTable) AfterCommit(ctx context.Context) error {
	for _, o := range t.Loaded() {
		to := path.Join(t.dir, path.Base(o.Path))
		if err := t.mover.Move(ctx, o.Path, to); err != nil {
			return fmt.Errorf("moving %s to %s: %w", t.mover.Describe(o.Path), t.mover.Describe(to), err)
		}
	}
	return nil
}
