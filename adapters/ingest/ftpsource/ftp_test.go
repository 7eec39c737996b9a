package ftpsource_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
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

func stepCSV(step int) []byte {
	s := ingesttest.Steps[step]
	var b strings.Builder
	b.WriteString(strings.Join(s.Columns, ",") + "\n")
	for _, r := range s.Rows {
		var f []string
		for _, v := range r {
			switch x := v.(type) {
			case nil:
				f = append(f, "")
			case time.Time:
				f = append(f, x.Format("2006-01-02T15:04:05.999999Z"))
			default:
				f = append(f, fmt.Sprint(x))
			}
		}
		b.WriteString(strings.Join(f, ",") + "\n")
	}
	return []byte(b.String())
}

func stepJSONL(step int) []byte {
	s := ingesttest.Steps[step]
	var b strings.Builder
	for _, r := range s.Rows {
		var f []string
		for i, v := range r {
			var enc string
			switch x := v.(type) {
			case nil:
				enc = "null"
			case string:
				enc = fmt.Sprintf("%q", x)
			case time.Time:
				enc = `"` + x.Format(time.RFC3339Nano) + `"`
			default:
				enc = fmt.Sprint(x)
			}
			f = append(f, fmt.Sprintf("%q: %s", s.Columns[i], enc))
		}
		b.WriteString("{" + strings.Join(f, ", ") + "}\n")
	}
	return []byte(b.String())
}

func gz(data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write(data)
	_ = w.Close()
	return b.Bytes()
}

func with(cfg map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range cfg {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func openSource(t *testing.T, cfg map[string]any) ingest.Source {
	t.Helper()
	src, err := ftpsource.Connector().Open(ctx, ingest.Config{Values: cfg})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func openTable(t *testing.T, src ingest.Source, cfg map[string]any) ingest.Table {
	t.Helper()
	tbl, err := src.Table(ctx, ingest.Config{Values: cfg})
	if err != nil {
		t.Fatalf("table: %v", err)
	}
	return tbl
}

func openErr(cfg map[string]any) error {
	src, err := ftpsource.Connector().Open(ctx, ingest.Config{Values: cfg, Pos: func(string) string { return "sources.yml:3:7" }})
	if err == nil {
		_ = src.Close()
	}
	return err
}

func query(t *testing.T, wh adapters.Warehouse, dest adapters.Relation, sel string) string {
	t.Helper()
	var out []string
	for _, r := range ingesttest.Query(t, wh, "select "+sel+" from "+wh.Dialect().Render(dest)+" order by 1") {
		out = append(out, strings.Join(r, "|"))
	}
	return strings.Join(out, " ")
}

func load(t *testing.T, wh adapters.Warehouse, dest adapters.Relation, tbl ingest.Table, opts ingest.LoadOptions) ingest.Result {
	t.Helper()
	res, err := ingest.Load(ctx, wh, dest, tbl, opts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return res
}

func TestConformanceCSV(t *testing.T) {
	srv := startFTP(t, false)
	n := 0
	ingesttest.Run(t, func(t *testing.T, step int) ingest.Table {
		n++
		dir := fmt.Sprintf("conf%d", n)
		srv.write(t, dir+"/items.csv", stepCSV(step))
		srv.touch(t, dir+"/items.csv", step)
		src := openSource(t, with(srv.config(), "path", "/"+dir))
		return openTable(t, src, map[string]any{"path": "items.csv"})
	})
}

// TestConformanceExplicitTLS runs the suite on gzipped JSON lines over
// AUTH TLS with a self-signed certificate.
func TestConformanceExplicitTLS(t *testing.T) {
	srv := startFTP(t, true)
	base := with(srv.config(), "tls", "explicit", "insecure_skip_verify", true)
	n := 0
	ingesttest.Run(t, func(t *testing.T, step int) ingest.Table {
		n++
		dir := fmt.Sprintf("conf%d", n)
		srv.write(t, dir+"/in/items.jsonl.gz", gz(stepJSONL(step)))
		srv.touch(t, dir+"/in/items.jsonl.gz", step)
		src := openSource(t, with(base, "path", dir))
		return openTable(t, src, map[string]any{"glob": "in/*.jsonl.gz"})
	})
}

func TestFormats(t *testing.T) {
	srv := startFTP(t, false)
	srv.write(t, "landing/semi.csv", []byte("id;name;note\n1;'a;b';NA\n2;'it''s';x\n"))
	srv.write(t, "landing/nohead.tsv.gz", gz([]byte("1\tone\n2\ttwo\n")))
	srv.write(t, "landing/nested/2024/01/ev.jsonl", []byte(`{"id": 1, "ts": "2024-01-01T10:00:00.123456Z"}`+"\n"))
	srv.write(t, "landing/nested/2024/02/ev.jsonl.gz", gz([]byte(`{"id": 2, "ts": "2024-02-01T10:00:00Z", "extra": true}`+"\n")))
	srv.write(t, "landing/nested/other.txt", []byte("ignored"))
	src := openSource(t, with(srv.config(), "path", "landing"))
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dest := ingesttest.Rel(wh, "raw", "semi")
		load(t, wh, dest, openTable(t, src, map[string]any{"path": "semi.csv", "delimiter": ";", "quote": "'", "null_string": "NA"}), ingest.LoadOptions{})
		if got, want := query(t, wh, dest, "id, name, note, _kiln_file"), "1|a;b|NULL|semi.csv 2|it's|x|semi.csv"; got != want {
			t.Errorf("csv options: %s, want %s", got, want)
		}
		dest = ingesttest.Rel(wh, "raw", "nohead")
		load(t, wh, dest, openTable(t, src, map[string]any{"path": "nohead.tsv.gz", "header": false}), ingest.LoadOptions{})
		if got, want := query(t, wh, dest, "column_1, column_2"), "1|one 2|two"; got != want {
			t.Errorf("gzip tsv: %s, want %s", got, want)
		}
		dest = ingesttest.Rel(wh, "raw", "events")
		load(t, wh, dest, openTable(t, src, map[string]any{"glob": "nested/**/*.jsonl*"}), ingest.LoadOptions{})
		if got, want := query(t, wh, dest, "id, ts, extra, _kiln_file"), "1|2024-01-01 10:00:00.123456|NULL|nested/2024/01/ev.jsonl 2|2024-02-01 10:00:00|true|nested/2024/02/ev.jsonl.gz"; got != want {
			t.Errorf("glob: %s, want %s", got, want)
		}
		dest = ingesttest.Rel(wh, "raw", "jan")
		load(t, wh, dest, openTable(t, src, map[string]any{"path": "nested/2024/01"}), ingest.LoadOptions{})
		if got := query(t, wh, dest, "id"); got != "1" {
			t.Errorf("folder path: %s, want 1", got)
		}
	})
}

func TestNewFilesOnly(t *testing.T) {
	srv := startFTP(t, false)
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dir := "drops_" + strings.ReplaceAll(t.Name(), "/", "_")
		srv.write(t, dir+"/a.csv", []byte("id\n1\n2\n"))
		src := openSource(t, with(srv.config(), "path", dir))
		dest := ingesttest.Rel(wh, "raw", "drops")
		opts := ingest.LoadOptions{Key: "raw.drops", Mode: ingest.ModeAppend}
		cfg := map[string]any{"glob": "*.csv"}
		if res := load(t, wh, dest, openTable(t, src, cfg), opts); res.Inserted != 2 {
			t.Errorf("first run inserted %d, want 2", res.Inserted)
		}
		srv.write(t, dir+"/b.csv", []byte("id\n3\n"))
		if res := load(t, wh, dest, openTable(t, src, cfg), opts); res.Inserted != 1 {
			t.Errorf("second run inserted %d, want 1 (only b.csv)", res.Inserted)
		}
		if res := load(t, wh, dest, openTable(t, src, cfg), opts); res.Inserted != 0 {
			t.Errorf("third run inserted %d, want 0", res.Inserted)
		}
		if got, want := query(t, wh, dest, "id, _kiln_file"), "1|a.csv 2|a.csv 3|b.csv"; got != want {
			t.Errorf("rows: %s, want %s", got, want)
		}
		srv.write(t, dir+"/b.csv", []byte("id\n3\n4\n"))
		if res := load(t, wh, dest, openTable(t, src, cfg), opts); res.Inserted != 2 {
			t.Errorf("changed file: inserted %d, want 2", res.Inserted)
		}
	})
}

func TestMoveAfterLoad(t *testing.T) {
	srv := startFTP(t, false)
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dir := "out_" + strings.ReplaceAll(t.Name(), "/", "_")
		srv.write(t, dir+"/a.csv", []byte("id\n1\n"))
		srv.write(t, dir+"/sub/b.csv", []byte("id\n2\n"))
		src := openSource(t, with(srv.config(), "path", dir))
		cfg := map[string]any{"glob": "**/*.csv", "after_load": map[string]any{"move_to": "archive/done/"}}
		dest := ingesttest.Rel(wh, "raw", "moved")
		opts := ingest.LoadOptions{Key: "raw.moved", Mode: ingest.ModeAppend}

		if res := load(t, wh, dest, openTable(t, src, cfg), opts); res.Inserted != 2 {
			t.Errorf("first run inserted %d, want 2", res.Inserted)
		}
		for _, f := range []string{"a.csv", "sub/b.csv"} {
			if srv.exists(dir + "/" + f) {
				t.Errorf("%s was not moved", f)
			}
		}
		for _, f := range []string{"archive/done/a.csv", "archive/done/b.csv"} {
			if !srv.exists(dir + "/" + f) {
				t.Errorf("%s missing after the load", f)
			}
		}

		srv.write(t, dir+"/a.csv", []byte("id\n3\n4\n"))
		if res := load(t, wh, dest, openTable(t, src, cfg), opts); res.Inserted != 2 {
			t.Errorf("second run inserted %d, want 2 (only the new a.csv)", res.Inserted)
		}
		if b, _ := os.ReadFile(filepath.Join(srv.root, dir, "archive", "done", "a.csv")); string(b) != "id\n3\n4\n" {
			t.Errorf("archive/done/a.csv = %q, want the second a.csv", b)
		}
		if got, want := query(t, wh, dest, "id"), "1 2 3 4"; got != want {
			t.Errorf("rows %s, want %s", got, want)
		}
		_, err := ingest.Load(ctx, wh, dest, openTable(t, src, cfg), opts)
		if err == nil || !strings.Contains(err.Error(), "no files match") {
			t.Errorf("third run: %v, want no files match", err)
		}
		if n := ingesttest.Count(t, wh, dest); n != 4 {
			t.Errorf("%d rows after the third run, want 4", n)
		}
	})
}

func TestMalformedNotMoved(t *testing.T) {
	srv := startFTP(t, false)
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dir := "bad_" + strings.ReplaceAll(t.Name(), "/", "_")
		srv.write(t, dir+"/a_good.csv", []byte("id,name\n1,a\n"))
		srv.write(t, dir+"/b_bad.csv", []byte("id,name\n2,b\n3,c,extra\n"))
		srv.write(t, dir+"/c_corrupt.csv.gz", []byte("not gzip at all"))
		src := openSource(t, with(srv.config(), "path", dir))
		dest := ingesttest.Rel(wh, "raw", "bad")
		cfg := map[string]any{"glob": "*.csv", "after_load": map[string]any{"move_to": "done"}}

		_, err := ingest.Load(ctx, wh, dest, openTable(t, src, cfg), ingest.LoadOptions{Key: "raw.bad", Mode: ingest.ModeAppend})
		var bad *ingest.BadRecordError
		if !errors.As(err, &bad) || !strings.HasSuffix(bad.Record.Where, "b_bad.csv:3") {
			t.Fatalf("malformed csv: %v, want a bad record at b_bad.csv:3", err)
		}
		checkNothing(t, wh, dest, srv, dir, "a_good.csv", "b_bad.csv")

		cfg["glob"] = "*.csv*"
		_, err = ingest.Load(ctx, wh, dest, openTable(t, src, cfg), ingest.LoadOptions{Key: "raw.bad", Mode: ingest.ModeAppend, OnBadRows: "skip"})
		if err == nil || !strings.Contains(err.Error(), "c_corrupt.csv.gz") {
			t.Fatalf("corrupt gzip: %v, want an error naming the file", err)
		}
		checkNothing(t, wh, dest, srv, dir, "a_good.csv", "b_bad.csv", "c_corrupt.csv.gz")

		// The connections are still usable after the aborted transfers.
		delete(cfg, "after_load")
		cfg["glob"] = "a_*.csv"
		if res := load(t, wh, dest, openTable(t, src, cfg), ingest.LoadOptions{}); res.Inserted != 1 {
			t.Errorf("after failed loads: inserted %d, want 1", res.Inserted)
		}
	})
}

func checkNothing(t *testing.T, wh adapters.Warehouse, dest adapters.Relation, srv *ftpServer, dir string, still ...string) {
	t.Helper()
	if info, _ := wh.Relation(ctx, dest); info != nil {
		t.Errorf("a failed load committed %s", dest.Identifier)
	}
	if st, _, found, _ := ingest.ReadState(ctx, wh, "", "", "raw.bad"); found {
		t.Errorf("a failed load stored state %v", st)
	}
	for _, f := range still {
		if !srv.exists(dir + "/" + f) {
			t.Errorf("%s moved by a failed load", f)
		}
	}
	if srv.exists(dir + "/done") {
		t.Errorf("done/ created by a failed load")
	}
}

func TestBadCredentials(t *testing.T) {
	srv := startFTP(t, false)
	addr := net.JoinHostPort(srv.host, fmt.Sprint(srv.port))
	for _, c := range []struct {
		cfg  map[string]any
		want string
	}{
		{with(srv.config(), "password", "nope"), "ftp: authentication failed for user kiln at " + addr + ": 530"},
		{with(srv.config(), "user", "mallory"), "ftp: authentication failed for user mallory at " + addr},
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
	err := openErr(with(tlsSrv.config(), "tls", "explicit"))
	if err == nil || !strings.Contains(err.Error(), "ftp: the TLS certificate of "+tlsAddr+" is not trusted") || !strings.Contains(err.Error(), "insecure_skip_verify: true") {
		t.Errorf("self-signed certificate: %v", err)
	}
	if err := openErr(with(tlsSrv.config(), "tls", "explicit", "insecure_skip_verify", true, "password", "nope")); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("bad password over TLS: %v", err)
	}
	// A server without TLS refuses AUTH TLS.
	plain := startFTP(t, false)
	plainAddr := net.JoinHostPort(plain.host, fmt.Sprint(plain.port))
	if err := openErr(with(plain.config(), "tls", "explicit", "insecure_skip_verify", true)); err == nil || !strings.Contains(err.Error(), "ftp: "+plainAddr+" refused AUTH TLS") {
		t.Errorf("explicit TLS on a plain server: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	src, err := ftpsource.Connector().Open(ctx, ingest.Config{Values: with(plain.config(), "tls", "implicit", "timeout", "2s")})
	if err == nil {
		_ = src.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "does not speak TLS from the start (tls: implicit)") {
		t.Errorf("implicit TLS on a plain server: %v", err)
	}
}

func TestMissingPath(t *testing.T) {
	srv := startFTP(t, false)
	srv.write(t, "landing/x.csv", []byte("id\n1\n"))
	addr := net.JoinHostPort(srv.host, fmt.Sprint(srv.port))

	if err := openErr(with(srv.config(), "path", "nowhere")); err == nil || !strings.Contains(err.Error(), "sources.yml:3:7: ftp: path /nowhere does not exist on "+addr) {
		t.Errorf("missing source path: %v", err)
	}
	if err := openErr(with(srv.config(), "path", "/landing/x.csv")); err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Errorf("source path is a file: %v", err)
	}
	src := openSource(t, with(srv.config(), "path", "landing"))
	for _, cfg := range []map[string]any{{"path": "missing.csv"}, {"glob": "missing/*.csv"}, {"glob": "*.json"}} {
		_, err := openTable(t, src, cfg).Read(ctx, ingest.ReadRequest{}, func(ingest.Batch) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "no files match") || !strings.Contains(err.Error(), "ftp://"+addr+"/landing") {
			t.Errorf("%v: %v, want no files match naming the ftp:// folder", cfg, err)
		}
	}
	// An absolute table path is read from the server's root.
	n := 0
	if _, err := openTable(t, src, map[string]any{"path": "/landing/x.csv"}).Read(ctx, ingest.ReadRequest{}, func(b ingest.Batch) error {
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
	if err := openErr(with(srv.config(), "port", port)); err == nil || !strings.Contains(err.Error(), "ftp: cannot reach "+closed) {
		t.Errorf("unreachable: %v", err)
	}
}

// TestPool: one connection serves a table's files in turn, and tables
// reading at once share max_connections.
func TestPool(t *testing.T) {
	srv := startFTP(t, false)
	for i := range 5 {
		srv.write(t, fmt.Sprintf("p/f%d.csv", i), []byte(fmt.Sprintf("id\n%d\n", i)))
	}
	src := openSource(t, with(srv.config(), "path", "p", "max_connections", int64(1)))
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
	addr := silentServer(t)
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
