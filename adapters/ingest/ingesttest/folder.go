package ingesttest

import (
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Folder is a local folder that a test server (SFTP, FTP) serves; tests
// put the source's files in it. Names are slash-separated and relative to
// Root.
type Folder struct {
	Root string
}

// Path is name's path on the local disk.
func (f Folder) Path(name string) string {
	return filepath.Join(f.Root, filepath.FromSlash(name))
}

// Write puts a file, creating its folders.
func (f Folder) Write(t testing.TB, name string, data []byte) {
	t.Helper()
	p := f.Path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Touch sets the modification time of a conformance step's file: step 1
// is written an hour after step 0. (Listings may have whole seconds, and
// both steps' CSV files have the same size: without it, step 1 would pass
// for step 0's file.)
func (f Folder) Touch(t testing.TB, name string, step int) {
	t.Helper()
	mt := time.Date(2024, 3, 1, 12+step, 0, 0, 0, time.UTC)
	if err := os.Chtimes(f.Path(name), mt, mt); err != nil {
		t.Fatal(err)
	}
}

// Exists reports whether the file or folder name exists.
func (f Folder) Exists(name string) bool {
	_, err := os.Stat(f.Path(name))
	return err == nil
}

// SilentServer listens on a local port, accepts connections and never
// answers (for connect timeouts); it returns the address.
func SilentServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}
