package sftpsource_test

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
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kilnhq/kiln/adapters"
	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
	"github.com/kilnhq/kiln/adapters/ingest/sftpsource"
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

// keyConfig is a source config logging in with the client key and checking
// the host key against a known_hosts file.
func (s *sshServer) keyConfig(t *testing.T) map[string]any {
	return map[string]any{
		"host": s.host, "port": s.port, "user": testUser,
		"private_key": s.clientPEM(t, ""),
		"known_hosts": s.knownHosts(t, s.hostKey),
	}
}

func (s *sshServer) passwordConfig(t *testing.T) map[string]any {
	return map[string]any{
		"host": s.host, "port": s.port, "user": testUser,
		"password":    testPassword,
		"known_hosts": s.knownHosts(t, s.hostKey),
	}
}

func openSource(t *testing.T, cfg map[string]any) ingest.Source {
	t.Helper()
	src, err := sftpsource.Connector().Open(ctx, ingest.Config{Values: cfg})
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

// TestConformanceCSV runs the shared suite on CSV files, logging in with a
// private key; each table reads a fresh folder given as an absolute path.
func TestConformanceCSV(t *testing.T) {
	srv := startSSH(t)
	base := srv.keyConfig(t)
	n := 0
	ingesttest.Run(t, func(t *testing.T, step int) ingest.Table {
		n++
		dir := fmt.Sprintf("conf%d", n)
		srv.write(t, dir+"/items.csv", stepCSV(step))
		srv.touch(t, dir+"/items.csv", step)
		src := openSource(t, with(base, "path", filepath.Join(srv.root, dir)))
		return openTable(t, src, map[string]any{"path": "items.csv"})
	})
}

// TestConformanceJSONLinesGzip runs the suite on gzipped JSON lines with
// password authentication; the source path is relative to the login
// folder.
func TestConformanceJSONLinesGzip(t *testing.T) {
	srv := startSSH(t)
	base := srv.passwordConfig(t)
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
	srv := startSSH(t)
	srv.write(t, "landing/semi.csv", []byte("id;name;note\n1;'a;b';NA\n2;'it''s';x\n"))
	srv.write(t, "landing/nohead.tsv.gz", gz([]byte("1\tone\n2\ttwo\n")))
	srv.write(t, "landing/nested/2024/01/ev.jsonl", []byte(`{"id": 1, "ts": "2024-01-01T10:00:00.123456Z"}`+"\n"))
	srv.write(t, "landing/nested/2024/02/ev.jsonl.gz", gz([]byte(`{"id": 2, "ts": "2024-02-01T10:00:00Z", "extra": true}`+"\n")))
	srv.write(t, "landing/nested/other.txt", []byte("ignored"))
	src := openSource(t, with(srv.keyConfig(t), "path", "landing"))
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

		// A folder path reads every file below it.
		dest = ingesttest.Rel(wh, "raw", "jan")
		load(t, wh, dest, openTable(t, src, map[string]any{"path": "nested/2024/01"}), ingest.LoadOptions{})
		if got := query(t, wh, dest, "id"); got != "1" {
			t.Errorf("folder path: %s, want 1", got)
		}
	})
}

// TestNewFilesOnly: append loads read each file once across runs, and a
// changed file again.
func TestNewFilesOnly(t *testing.T) {
	srv := startSSH(t)
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dir := "drops_" + strings.ReplaceAll(t.Name(), "/", "_")
		srv.write(t, dir+"/a.csv", []byte("id\n1\n2\n"))
		src := openSource(t, with(srv.passwordConfig(t), "path", dir))
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
		// A changed file (another size) is read again.
		srv.write(t, dir+"/b.csv", []byte("id\n3\n4\n"))
		if res := load(t, wh, dest, openTable(t, src, cfg), opts); res.Inserted != 2 {
			t.Errorf("changed file: inserted %d, want 2", res.Inserted)
		}
	})
}

// TestMoveAfterLoad: files move into done/ only after their rows are
// committed; the next run reads only files that arrived since, and done/
// itself is never read.
func TestMoveAfterLoad(t *testing.T) {
	srv := startSSH(t)
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dir := "out_" + strings.ReplaceAll(t.Name(), "/", "_")
		srv.write(t, dir+"/a.csv", []byte("id\n1\n"))
		srv.write(t, dir+"/sub/b.csv", []byte("id\n2\n"))
		src := openSource(t, with(srv.keyConfig(t), "path", dir))
		cfg := map[string]any{"glob": "**/*.csv", "after_load": map[string]any{"move_to": "done/"}}
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
		for _, f := range []string{"done/a.csv", "done/b.csv"} {
			if !srv.exists(dir + "/" + f) {
				t.Errorf("%s missing after the load", f)
			}
		}

		// A new file with the name of a moved one: loaded, and replaces it
		// in done/.
		srv.write(t, dir+"/a.csv", []byte("id\n3\n4\n"))
		if res := load(t, wh, dest, openTable(t, src, cfg), opts); res.Inserted != 2 {
			t.Errorf("second run inserted %d, want 2 (only the new a.csv)", res.Inserted)
		}
		if b, _ := os.ReadFile(filepath.Join(srv.root, dir, "done", "a.csv")); string(b) != "id\n3\n4\n" {
			t.Errorf("done/a.csv = %q, want the second a.csv", b)
		}
		if got, want := query(t, wh, dest, "id"), "1 2 3 4"; got != want {
			t.Errorf("rows %s, want %s", got, want)
		}

		// Nothing new: the glob matches only done/, which is excluded.
		_, err := ingest.Load(ctx, wh, dest, openTable(t, src, cfg), opts)
		if err == nil || !strings.Contains(err.Error(), "no files match") {
			t.Errorf("third run: %v, want no files match", err)
		}
		if n := ingesttest.Count(t, wh, dest); n != 4 {
			t.Errorf("%d rows after the third run, want 4", n)
		}
	})
}

// TestMalformedNotMoved: a malformed file fails the load; nothing is
// committed and no file moves, the good one included.
func TestMalformedNotMoved(t *testing.T) {
	srv := startSSH(t)
	ingesttest.EachWarehouse(t, func(t *testing.T, wh adapters.Warehouse) {
		dir := "bad_" + strings.ReplaceAll(t.Name(), "/", "_")
		srv.write(t, dir+"/a_good.csv", []byte("id,name\n1,a\n"))
		srv.write(t, dir+"/b_bad.csv", []byte("id,name\n2,b\n3,c,extra\n"))
		srv.write(t, dir+"/c_corrupt.csv.gz", []byte("not gzip at all"))
		src := openSource(t, with(srv.keyConfig(t), "path", dir))
		dest := ingesttest.Rel(wh, "raw", "bad")
		cfg := map[string]any{"glob": "*.csv", "after_load": map[string]any{"move_to": "done"}}
		opts := ingest.LoadOptions{Key: "raw.bad", Mode: ingest.ModeAppend}

		_, err := ingest.Load(ctx, wh, dest, openTable(t, src, cfg), opts)
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
	})
}

func checkNothing(t *testing.T, wh adapters.Warehouse, dest adapters.Relation, srv *sshServer, dir string, still ...string) {
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

func openErr(cfg map[string]any) error {
	src, err := sftpsource.Connector().Open(ctx, ingest.Config{Values: cfg, Pos: func(string) string { return "sources.yml:3:7" }})
	if err == nil {
		_ = src.Close()
	}
	return err
}

func TestAuth(t *testing.T) {
	srv := startSSH(t)
	srv.write(t, "x.csv", []byte("id\n1\n"))
	known := srv.knownHosts(t, srv.hostKey)
	base := map[string]any{"host": srv.host, "port": srv.port, "user": testUser, "known_hosts": known}
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, []byte(srv.clientPEM(t, "pass phrase")), 0o600); err != nil {
		t.Fatal(err)
	}
	otherKey := (&sshServer{clientKey: newKey(t)}).clientPEM(t, "")

	for _, c := range []struct {
		name string
		cfg  map[string]any
		want string // "" for success
	}{
		{"password", with(base, "password", testPassword), ""},
		{"keyboard-interactive", with(base, "user", "kbd", "password", testPassword), ""},
		{"keyboard-interactive refused", with(base, "user", "kbd", "password", "nope"), "authentication failed for user kbd"},
		{"key", with(base, "private_key", srv.clientPEM(t, "")), ""},
		{"key with escaped newlines", with(base, "private_key", strings.ReplaceAll(srv.clientPEM(t, ""), "\n", `\n`)), ""},
		{"encrypted key file", with(base, "private_key_file", keyFile, "passphrase", "pass phrase"), ""},
		{"key refused, password accepted", with(base, "private_key", otherKey, "password", testPassword), ""},
		{"bad password", with(base, "password", "nope"), "sftp: authentication failed for user kiln at " + srv.addr + " (tried password)"},
		{"unknown user", with(base, "user", "mallory", "password", testPassword), "authentication failed for user mallory"},
		{"unauthorized key", with(base, "private_key", otherKey), "authentication failed for user kiln at " + srv.addr + " (tried public key SHA256:"},
		{"wrong passphrase", with(base, "private_key_file", keyFile, "passphrase", "wrong"), "sources.yml:3:7: sftp: private_key_file: passphrase does not decrypt the key"},
		{"missing passphrase", with(base, "private_key_file", keyFile), "private_key_file: the key is encrypted: set passphrase"},
		{"not a key", with(base, "private_key", "hello"), "private_key: not a usable private key"},
		{"no credentials", base, "set password, private_key or private_key_file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := openErr(c.cfg)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("open: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("open: %v, want %q", err, c.want)
			}
		})
	}
}

func TestHostKey(t *testing.T) {
	srv := startSSH(t)
	srv.write(t, "x.csv", []byte("id\n1\n"))
	base := srv.passwordConfig(t)
	otherHost, err := ssh.NewPublicKey(newKey(t).Public())
	if err != nil {
		t.Fatal(err)
	}
	fp := ssh.FingerprintSHA256(srv.hostKey)

	// A known_hosts file without the server.
	unknown := filepath.Join(t.TempDir(), "known_hosts")
	_ = os.WriteFile(unknown, []byte(knownhosts.Line([]string{"[other.example]:2222"}, otherHost)+"\n"), 0o600)
	err = openErr(with(base, "known_hosts", unknown))
	for _, want := range []string{"host key of " + srv.addr, fp, "is not in " + unknown, "ssh-keyscan -p", "insecure_ignore_host_key: true"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("unknown host: %v, want %q", err, want)
		}
	}

	// A known_hosts file with another key for the server.
	changed := srv.knownHosts(t, otherHost)
	err = openErr(with(base, "known_hosts", changed))
	for _, want := range []string{"does not match", changed + ":2", fp} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("changed host key: %v, want %q", err, want)
		}
	}

	// A missing known_hosts file.
	missing := filepath.Join(t.TempDir(), "nope")
	err = openErr(with(base, "known_hosts", missing))
	if err == nil || !strings.Contains(err.Error(), missing+" does not exist") || !strings.Contains(err.Error(), "insecure_ignore_host_key") ||
		!strings.HasPrefix(err.Error(), "sources.yml:3:7: ") {
		t.Errorf("missing known_hosts: %v", err)
	}

	// The explicit opt-out.
	noCheck := with(base, "insecure_ignore_host_key", true)
	delete(noCheck, "known_hosts")
	if err := openErr(noCheck); err != nil {
		t.Errorf("insecure_ignore_host_key: %v", err)
	}
	if err := openErr(with(base, "insecure_ignore_host_key", true)); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("known_hosts and insecure_ignore_host_key: %v", err)
	}
	if err := openErr(with(base, "known_hosts", srv.knownHosts(t, srv.hostKey))); err != nil {
		t.Errorf("known key: %v", err)
	}
}

func TestMissingPathAndHost(t *testing.T) {
	srv := startSSH(t)
	srv.write(t, "landing/x.csv", []byte("id\n1\n"))
	base := srv.passwordConfig(t)

	err := openErr(with(base, "path", "nowhere"))
	if err == nil || !strings.Contains(err.Error(), "sftp: path "+filepath.Join(srv.root, "nowhere")+" does not exist on "+srv.addr) {
		t.Errorf("missing source path: %v", err)
	}
	err = openErr(with(base, "path", "landing/x.csv"))
	if err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Errorf("source path is a file: %v", err)
	}

	src := openSource(t, with(base, "path", "landing"))
	for _, cfg := range []map[string]any{{"path": "missing.csv"}, {"glob": "missing/*.csv"}, {"glob": "*.json"}} {
		_, err := openTable(t, src, cfg).Read(ctx, ingest.ReadRequest{}, func(ingest.Batch) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "no files match") || !strings.Contains(err.Error(), "sftp://"+srv.addr+"/") {
			t.Errorf("%v: %v, want no files match naming the sftp:// folder", cfg, err)
		}
	}

	// A port nothing listens on.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	_ = l.Close()
	_, port, _ := net.SplitHostPort(addr)
	err = openErr(with(base, "port", port))
	if err == nil || !strings.Contains(err.Error(), "sftp: cannot reach "+addr) {
		t.Errorf("unreachable: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"user": "u", "password": "p", "insecure_ignore_host_key": true}, "sources.yml:3:7: sftp: host: is required"},
		{map[string]any{"host": "h", "password": "p", "insecure_ignore_host_key": true}, "sftp: user: is required"},
		{map[string]any{"host": "h:2222", "user": "u", "password": "p", "insecure_ignore_host_key": true}, "write the port under port:"},
		{map[string]any{"host": "h", "user": "u", "password": "p", "port": int64(70000), "insecure_ignore_host_key": true}, "between 1 and 65535"},
		{map[string]any{"host": "h", "user": "u", "private_key": "x", "private_key_file": "y", "insecure_ignore_host_key": true}, "not both"},
		{map[string]any{"host": "h", "user": "u", "password": "p", "passphrase": "x", "insecure_ignore_host_key": true}, "no private_key"},
	} {
		if err := openErr(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.cfg, err, c.want)
		}
	}

	srv := startSSH(t)
	src := openSource(t, srv.passwordConfig(t))
	pos := func(string) string { return "sources.yml:9:9" }
	for _, c := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"path": "a.csv", "after_load": "done"}, "sources.yml:9:9: sftp: after_load: must be a mapping"},
		{map[string]any{"path": "a.csv", "after_load": map[string]any{"move": "done"}}, "after_load.move: unknown key"},
		{map[string]any{"path": "a.csv", "after_load": map[string]any{}}, "after_load.move_to: is required"},
		{map[string]any{}, "needs a path or a glob"},
		{map[string]any{"path": "a.csv", "format": "xml"}, `unknown format "xml"`},
	} {
		if _, err := src.Table(ctx, ingest.Config{Values: c.cfg, Pos: pos}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// TestReconnect: a source whose connection dropped dials again.
func TestReconnect(t *testing.T) {
	srv := startSSH(t)
	srv.write(t, "r/a.csv", []byte("id\n1\n"))
	src := openSource(t, with(srv.keyConfig(t), "path", "r"))
	read := func() error {
		_, err := openTable(t, src, map[string]any{"path": "a.csv"}).Read(ctx, ingest.ReadRequest{}, func(ingest.Batch) error { return nil })
		return err
	}
	if err := read(); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	for _, c := range srv.conns {
		_ = c.Close()
	}
	srv.mu.Unlock()
	var err error
	for i := 0; i < 50; i++ { // the drop is noticed asynchronously
		if err = read(); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("after the connection dropped: %v", err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.logins < 2 {
		t.Errorf("%d logins, want a second one", srv.logins)
	}
}

func TestTimeout(t *testing.T) {
	addr := silentServer(t)
	host, port, _ := net.SplitHostPort(addr)
	cfg := map[string]any{"host": host, "port": port, "user": "u", "password": "p", "timeout": "300ms", "insecure_ignore_host_key": true}
	start := time.Now()
	err := openErr(cfg)
	if err == nil || !strings.Contains(err.Error(), "sftp: connecting to "+addr+": timed out after 300ms") {
		t.Errorf("silent server: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %s, want about 300ms", d)
	}
}
