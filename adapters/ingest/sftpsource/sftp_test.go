package sftpsource_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
	"github.com/kilnhq/kiln/adapters/ingest/sftpsource"
)

var ctx = context.Background()

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
	return ingesttest.OpenSource(t, sftpsource.Connector(), cfg)
}

// TestConformanceCSV runs the shared suite on CSV files, logging in with a
// private key; each table reads a fresh folder given as an absolute path.
func TestConformanceCSV(t *testing.T) {
	srv := startSSH(t)
	base := srv.keyConfig(t)
	ingesttest.RunServer(t, srv.Folder, "items.csv", func(t *testing.T, dir string) ingest.Source {
		return openSource(t, ingesttest.With(base, "path", filepath.Join(srv.Root, dir)))
	}, map[string]any{"path": "items.csv"})
}

// TestConformanceJSONLinesGzip runs the suite on gzipped JSON lines with
// password authentication; the source path is relative to the login
// folder.
func TestConformanceJSONLinesGzip(t *testing.T) {
	srv := startSSH(t)
	ingesttest.RunServer(t, srv.Folder, "in/items.jsonl.gz", ingesttest.OpenWith(sftpsource.Connector(), srv.passwordConfig(t)), map[string]any{"glob": "in/*.jsonl.gz"})
}

func TestFormats(t *testing.T) {
	srv := startSSH(t)
	ingesttest.ServerFormats(t, srv.Folder, ingesttest.OpenWith(sftpsource.Connector(), srv.keyConfig(t)))
}

// TestNewFilesOnly logs in with a password.
func TestNewFilesOnly(t *testing.T) {
	srv := startSSH(t)
	ingesttest.ServerNewFilesOnly(t, srv.Folder, ingesttest.OpenWith(sftpsource.Connector(), srv.passwordConfig(t)))
}

func TestMoveAfterLoad(t *testing.T) {
	srv := startSSH(t)
	ingesttest.ServerMoveAfterLoad(t, srv.Folder, ingesttest.OpenWith(sftpsource.Connector(), srv.keyConfig(t)), "done/")
}

func TestMalformedNotMoved(t *testing.T) {
	srv := startSSH(t)
	ingesttest.ServerMalformedNotMoved(t, srv.Folder, ingesttest.OpenWith(sftpsource.Connector(), srv.keyConfig(t)), nil)
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
	srv.Write(t, "x.csv", []byte("id\n1\n"))
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
		{"password", ingesttest.With(base, "password", testPassword), ""},
		{"keyboard-interactive", ingesttest.With(base, "user", "kbd", "password", testPassword), ""},
		{"keyboard-interactive refused", ingesttest.With(base, "user", "kbd", "password", "nope"), "authentication failed for user kbd"},
		{"key", ingesttest.With(base, "private_key", srv.clientPEM(t, "")), ""},
		{"key with escaped newlines", ingesttest.With(base, "private_key", strings.ReplaceAll(srv.clientPEM(t, ""), "\n", `\n`)), ""},
		{"encrypted key file", ingesttest.With(base, "private_key_file", keyFile, "passphrase", "pass phrase"), ""},
		{"key refused, password accepted", ingesttest.With(base, "private_key", otherKey, "password", testPassword), ""},
		{"bad password", ingesttest.With(base, "password", "nope"), "sftp: authentication failed for user kiln at " + srv.addr + " (tried password)"},
		{"unknown user", ingesttest.With(base, "user", "mallory", "password", testPassword), "authentication failed for user mallory"},
		{"unauthorized key", ingesttest.With(base, "private_key", otherKey), "authentication failed for user kiln at " + srv.addr + " (tried public key SHA256:"},
		{"wrong passphrase", ingesttest.With(base, "private_key_file", keyFile, "passphrase", "wrong"), "sources.yml:3:7: sftp: private_key_file: passphrase does not decrypt the key"},
		{"missing passphrase", ingesttest.With(base, "private_key_file", keyFile), "private_key_file: the key is encrypted: set passphrase"},
		{"not a key", ingesttest.With(base, "private_key", "hello"), "private_key: not a usable private key"},
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
	srv.Write(t, "x.csv", []byte("id\n1\n"))
	base := srv.passwordConfig(t)
	otherHost, err := ssh.NewPublicKey(newKey(t).Public())
	if err != nil {
		t.Fatal(err)
	}
	fp := ssh.FingerprintSHA256(srv.hostKey)

	// A known_hosts file without the server.
	unknown := filepath.Join(t.TempDir(), "known_hosts")
	_ = os.WriteFile(unknown, []byte(knownhosts.Line([]string{"[other.example]:2222"}, otherHost)+"\n"), 0o600)
	err = openErr(ingesttest.With(base, "known_hosts", unknown))
	for _, want := range []string{"host key of " + srv.addr, fp, "is not in " + unknown, "ssh-keyscan -p", "insecure_ignore_host_key: true"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("unknown host: %v, want %q", err, want)
		}
	}

	// A known_hosts file with another key for the server.
	changed := srv.knownHosts(t, otherHost)
	err = openErr(ingesttest.With(base, "known_hosts", changed))
	for _, want := range []string{"does not match", changed + ":2", fp} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("changed host key: %v, want %q", err, want)
		}
	}

	// A missing known_hosts file.
	missing := filepath.Join(t.TempDir(), "nope")
	err = openErr(ingesttest.With(base, "known_hosts", missing))
	if err == nil || !strings.Contains(err.Error(), missing+" does not exist") || !strings.Contains(err.Error(), "insecure_ignore_host_key") ||
		!strings.HasPrefix(err.Error(), "sources.yml:3:7: ") {
		t.Errorf("missing known_hosts: %v", err)
	}

	// The explicit opt-out.
	noCheck := ingesttest.With(base, "insecure_ignore_host_key", true)
	delete(noCheck, "known_hosts")
	if err := openErr(noCheck); err != nil {
		t.Errorf("insecure_ignore_host_key: %v", err)
	}
	if err := openErr(ingesttest.With(base, "insecure_ignore_host_key", true)); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("known_hosts and insecure_ignore_host_key: %v", err)
	}
	if err := openErr(ingesttest.With(base, "known_hosts", srv.knownHosts(t, srv.hostKey))); err != nil {
		t.Errorf("known key: %v", err)
	}
}

func TestMissingPathAndHost(t *testing.T) {
	srv := startSSH(t)
	srv.Write(t, "landing/x.csv", []byte("id\n1\n"))
	base := srv.passwordConfig(t)

	err := openErr(ingesttest.With(base, "path", "nowhere"))
	if err == nil || !strings.Contains(err.Error(), "sftp: path "+filepath.Join(srv.Root, "nowhere")+" does not exist on "+srv.addr) {
		t.Errorf("missing source path: %v", err)
	}
	err = openErr(ingesttest.With(base, "path", "landing/x.csv"))
	if err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Errorf("source path is a file: %v", err)
	}

	src := openSource(t, ingesttest.With(base, "path", "landing"))
	for _, cfg := range []map[string]any{{"path": "missing.csv"}, {"glob": "missing/*.csv"}, {"glob": "*.json"}} {
		_, err := ingesttest.OpenTable(t, src, cfg).Read(ctx, ingest.ReadRequest{}, func(ingest.Batch) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "no files match") || !strings.Contains(err.Error(), "sftp://"+srv.addr+"/") {
			t.Errorf("%v: %v, want no files match naming the sftp:// folder", cfg, err)
		}
	}

	// A port nothing listens on.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	_ = l.Close()
	_, port, _ := net.SplitHostPort(addr)
	err = openErr(ingesttest.With(base, "port", port))
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
	srv.Write(t, "r/a.csv", []byte("id\n1\n"))
	src := openSource(t, ingesttest.With(srv.keyConfig(t), "path", "r"))
	read := func() error {
		_, err := ingesttest.OpenTable(t, src, map[string]any{"path": "a.csv"}).Read(ctx, ingest.ReadRequest{}, func(ingest.Batch) error { return nil })
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
	addr := ingesttest.SilentServer(t)
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
