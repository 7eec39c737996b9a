package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"
)

// Store is where a file-based connector's files live: a local folder
// (files), an S3 bucket, an SFTP or FTP server. Paths are slash-separated
// and relative to the store's root.
type Store interface {
	// List returns every file below dir ("" is the root), recursively.
	// A dir that does not exist lists nothing; other failures (refused
	// credentials, a missing bucket) are errors.
	List(ctx context.Context, dir string) ([]Object, error)
	// Open opens one listed file for reading.
	Open(ctx context.Context, o Object) (io.ReadCloser, error)
	// Describe names a path for messages and _kiln_file-adjacent errors:
	// "/data/raw/a.csv", "s3://bucket/raw/a.csv", "sftp://host/out/a.csv".
	Describe(p string) string
}

// Object is one file of a Store, with what identifies its version: a file
// whose size, modification time or ETag changed is loaded again by
// new-files-only loads.
type Object struct {
	Path  string
	Size  int64
	MTime time.Time // zero when the store does not say
	ETag  string    // S3; "" elsewhere
}

// Local is a Store on a local folder.
func Local(root string) Store { return localStore{root: root} }

type localStore struct{ root string }

func (l localStore) abs(p string) string { return filepath.Join(l.root, filepath.FromSlash(p)) }

func (l localStore) Describe(p string) string { return l.abs(p) }

func (l localStore) Open(_ context.Context, o Object) (io.ReadCloser, error) {
	return os.Open(l.abs(o.Path))
}

func (l localStore) List(_ context.Context, dir string) ([]Object, error) {
	start := l.abs(dir)
	var out []Object
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == start {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		out = append(out, Object{Path: path.Clean(filepath.ToSlash(rel)), Size: info.Size(), MTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", start, err)
	}
	return out, nil
}
