package ftpsource_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/ftpsource"
	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
)

var ctx = context.Background()

func openSource(t *testing.T, cfg map[string]any) ingest.Source {
	t.Helper()
	return ingesttest.OpenSource(t, ftpsource.Connector(), cfg)
}

func openErr(cfg map[string]any) error {
	src, err := ftpsource.Connector().Open(ctx, ingest.Config{Values: cfg, Pos: func(string) string { return "sources.yml:3:7" }})
	if err == nil {
		_ = src.Close()
	}
	return err
}

func TestConformanceCSV(t *testing.T) {
	srv := startFTP(t, false)
	ingesttest.RunServer(t, srv.Folder, "items.csv", func(t *testing.T, dir string) ingest.Source {
		return openSource(t, ingesttest.With(srv.config(), "path", "/"+dir))
	}, map[string]any{"path": "items.csv"})
}

// TestConformanceExplicitTLS runs the suite on gzipped JSON lines over
// AUTH TLS with a self-signed certificate.
func TestConformanceExplicitTLS(t *testing.T) {
	srv := startFTP(t, true)
	base := ingesttest.With(srv.config(), "tls", "explicit", "insecure_skip_verify", true)
	ingesttest.RunServer(t, srv.Folder, "in/items.jsonl.gz", ingesttest.OpenWith(ftpsource.Connector(), base), map[string]any{"glob": "in/*.jsonl.gz"})
}

func TestFormats(t *testing.T) {
	srv := startFTP(t, false)
	ingesttest.ServerFormats(t, srv.Folder, ingesttest.OpenWith(ftpsource.Connector(), srv.config()))
}

func TestNewFilesOnly(t *testing.T) {
	srv := startFTP(t, false)
	ingesttest.ServerNewFilesOnly(t, srv.Folder, ingesttest.OpenWith(ftpsource.Connector(), srv.config()))
}

func TestMoveAfterLoad(t *testing.T) {
	srv := startFTP(t, false)
	ingesttest.ServerMoveAfterLoad(t, srv.Folder, ingesttest.OpenWith(ftpsource.Connector(), srv.config()), "archive/done/")
}

func TestMalformedNotMoved(t *testing.T) {
	srv := startFTP(t, false)
	ingesttest.ServerMalformedNotMoved(t, srv.Folder, ingesttest.OpenWith(ftpsource.Connector(), srv.config()), func(t *testing.T, wh adapters.Warehouse, dest adapters.Relation, src ingest.Source, cfg map[string]any) {
		// The connections are still usable after the aborted transfers.
		delete(cfg, "after_load")
		cfg["glob"] = "a_*.csv"
		if res := ingesttest.Load(t, wh, dest, ingesttest.OpenTable(t, src, cfg), ingest.LoadOptions{}); res.Inserted != 1 {
			t.Errorf("after failed loads: inserted %d, want 1", res.Inserted)
		}
	})
}

func TestBadCredentials(t *testing.T) {
	srv := startFTP(t, false)
	addr := net.JoinHostPort(srv.host, fmt.Sprint(srv.port))
	for _, c := range []struct {
		cfg  map[string]any
		want string
	}{
		{ingesttest.With(srv.config(), "password", "nope"), "ftp: authentication failed for user kiln at " + addr + ": 530"},
		{ingesttest.With(srv.config(), "user", "mallory"), "ftp: authentication failed for user mallory at " + addr},
		{map[string]any{"host": srv.host, "port": srv.port}, "ftp: authentication failed for user anonymous at " + addr},
	} {
		if err := openErr(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestTLSErrors(t *testing.T) {
	tlsSrv := startFTP(t, true)
	tlsAddr := net.JoinHostPort(tlsSrv.host, fmt.Sprint(tlsSrv.port))
	// The self-signed certificate is refused unless told otherwise.
	err := openErr(ingesttest.With(tlsSrv.config(), "tls", "explicit"))
	if err == nil || !strings.Contains(err.Error(), "ftp: the TLS certificate of "+tlsAddr+" is not trusted") || !strings.Contains(err.Error(), "insecure_skip_verify: true") {
		t.Errorf("self-signed certificate: %v", err)
	}
	if err := openErr(ingesttest.With(tlsSrv.config(), "tls", "explicit", "insecure_skip_verify", true, "password", "nope")); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("bad password over TLS: %v", err)
	}
	// A server without TLS refuses AUTH TLS.
	plain := startFTP(t, false)
	plainAddr := net.JoinHostPort(plain.host, fmt.Sprint(plain.port))
	if err := openErr(ingesttest.With(plain.config(), "tls", "explicit", "insecure_skip_verify", true)); err == nil || !strings.Contains(err.Error(), "ftp: "+plainAddr+" refused AUTH TLS") {
		t.Errorf("explicit TLS on a plain server: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	src, err := ftpsource.Connector().Open(ctx, ingest.Config{Values: ingesttest.With(plain.config(), "tls", "implicit", "timeout", "2s")})
	if err == nil {
		_ = src.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "does not speak TLS from the start (tls: implicit)") {
		t.Errorf("implicit TLS on a plain server: %v", err)
	}
}

func TestMissingPath(t *testing.T) {
	srv := startFTP(t, false)
	srv.Write(t, "landing/x.csv", []byte("id\n1\n"))
	addr := net.JoinHostPort(srv.host, fmt.Sprint(srv.port))

	if err := openErr(ingesttest.With(srv.config(), "path", "nowhere")); err == nil || !strings.Contains(err.Error(), "sources.yml:3:7: ftp: path /nowhere does not exist on "+addr) {
		t.Errorf("missing source path: %v", err)
	}
	if err := openErr(ingesttest.With(srv.config(), "path", "/landing/x.csv")); err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Errorf("source path is a file: %v", err)
	}
	src := openSource(t, ingesttest.With(srv.config(), "path", "landing"))
	for _, cfg := range []map[string]any{{"path": "missing.csv"}, {"glob": "missing/*.csv"}, {"glob": "*.json"}} {
		_, err := ingesttest.OpenTable(t, src, cfg).Read(ctx, ingest.ReadRequest{}, func(ingest.Batch) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "no files match") || !strings.Contains(err.Error(), "ftp://"+addr+"/landing") {
			t.Errorf("%v: %v, want no files match naming the ftp:// folder", cfg, err)
		}
	}
	// An absolute table path is read from the server's root.
	n := 0
	if _, err := ingesttest.OpenTable(t, src, map[string]any{"path": "/landing/x.csv"}).Read(ctx, ingest.ReadRequest{}, func(b ingest.Batch) error {
		n += len(b.Rows)
		if b.File != "landing/x.csv" {
			t.Errorf("file %q", b.File)
		}
		return nil
	}); err != nil || n != 1 {
		t.Errorf("absolute path: %d rows, %v", n, err)
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	_ = l.Close()
	_, port, _ := net.SplitHostPort(closed)
	if err := openErr(ingesttest.With(srv.config(), "port", port)); err == nil || !strings.Contains(err.Error(), "ftp: cannot reach "+closed) {
		t.Errorf("unreachable: %v", err)
	}
}

// TestPool: one connection serves a table's files in turn, and tables
// reading at once share max_connections.
func TestPool(t *testing.T) {
	srv := startFTP(t, false)
	for i := range 5 {
		srv.Write(t, fmt.Sprintf("p/f%d.csv", i), []byte(fmt.Sprintf("id\n%d\n", i)))
	}
	src := openSource(t, ingesttest.With(srv.config(), "path", "p", "max_connections", int64(1)))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	rows := make([]int, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tbl, err := src.Table(ctx, ingest.Config{Values: map[string]any{"glob": "*.csv"}})
			if err != nil {
				errs[i] = err
				return
			}
			_, errs[i] = tbl.Read(ctx, ingest.ReadRequest{}, func(b ingest.Batch) error {
				rows[i] += len(b.Rows)
				return nil
			})
		}()
	}
	wg.Wait()
	for i := range 4 {
		if errs[i] != nil || rows[i] != 5 {
			t.Errorf("table %d: %d rows, %v", i, rows[i], errs[i])
		}
	}
	if n := srv.auth.count(); n != 1 {
		t.Errorf("%d logins, want 1 (max_connections: 1)", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"user": "u"}, "sources.yml:3:7: ftp: host: is required"},
		{map[string]any{"host": "h:21"}, "write the port under port:"},
		{map[string]any{"host": "h", "tls": "yes"}, `tls: "yes" is not one of none, explicit, implicit`},
		{map[string]any{"host": "h", "insecure_skip_verify": true}, "applies to TLS only"},
		{map[string]any{"host": "h", "max_connections": int64(0)}, "must be at least 1"},
	} {
		if err := openErr(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.cfg, err, c.want)
		}
	}
	srv := startFTP(t, false)
	src := openSource(t, srv.config())
	pos := func(string) string { return "sources.yml:9:9" }
	for _, c := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"path": "a.csv", "after_load": "done"}, "sources.yml:9:9: ftp: after_load: must be a mapping"},
		{map[string]any{"path": "a.csv", "after_load": map[string]any{"move": "done"}}, "after_load.move: unknown key"},
		{map[string]any{}, "needs a path or a glob"},
	} {
		if _, err := src.Table(ctx, ingest.Config{Values: c.cfg, Pos: pos}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestTimeout(t *testing.T) {
	addr := ingesttest.SilentServer(t)
	host, port, _ := net.SplitHostPort(addr)
	cfg := map[string]any{"host": host, "port": port, "user": "u", "password": "p", "timeout": "300ms"}
	start := time.Now()
	err := openErr(cfg)
	if err == nil || !strings.Contains(err.Error(), "ftp: connecting to "+addr+": timed out after 300ms") {
		t.Errorf("silent server: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %s, want about 300ms", d)
	}
}
