// Package sftpsource is the "sftp" ingest connector: it loads CSV, JSON
// lines, JSON and Parquet files (plain, gzip or zstd) from an SFTP server,
// picked by a path or a glob under the source's remote folder, with the
// files connector's formats and new-files-only state (files.Table).
//
//	sources:
//	  - name: partner
//	    ingest:
//	      connector: sftp
//	      host: sftp.partner.example
//	      user: kiln
//	      private_key: "{{ env_var('PARTNER_SFTP_KEY') }}"
//	      known_hosts: ~/.ssh/known_hosts
//	      path: /outbound
//	    tables:
//	      - name: orders
//	        ingest: {glob: "orders/*.csv.gz", mode: append, after_load: {move_to: done/}}
//
// The server's host key is checked against a known_hosts file (by default
// ~/.ssh/known_hosts); insecure_ignore_host_key: true is the explicit
// opt-out. One SSH connection serves every table of the source (SFTP
// requests are multiplexed on it); it is re-dialled if it drops.
//
// With after_load: {move_to: done/} a table's files are moved into that
// folder (relative to the source path) once the rows read from them are
// committed; a failed load leaves every file where it was, and the folder
// is never read by the table.
package sftpsource

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/files"
)

const (
	defaultPort    = 22
	defaultTimeout = 30 * time.Second
)

// Spec is the sftp connector's configuration.
var Spec = append([]ingest.Field{
	{Name: "host", Type: "string", Required: true, Level: "source", Doc: "SFTP server host name or address (without the port)."},
	{Name: "port", Type: "int", Default: int64(defaultPort), Level: "source", Doc: "SSH port."},
	{Name: "user", Type: "string", Required: true, Level: "source", Doc: "User to log in as."},
	{Name: "password", Type: "string", Level: "source", Doc: "Password (password and keyboard-interactive authentication); usually {{ env_var('...') }}."},
	{Name: "private_key", Type: "string", Level: "source", Doc: "Private key in PEM or OpenSSH format, as text; usually {{ env_var('...') }}."},
	{Name: "private_key_file", Type: "string", Level: "source", Doc: "Path of a private key file (~/ is the home folder); instead of private_key."},
	{Name: "passphrase", Type: "string", Level: "source", Doc: "Passphrase of an encrypted private key."},
	{Name: "known_hosts", Type: "string", Default: "~/.ssh/known_hosts", Level: "source", Doc: "known_hosts file the server's host key is checked against; an unknown or changed key is an error."},
	{Name: "insecure_ignore_host_key", Type: "bool", Default: false, Level: "source", Doc: "Accept any host key without checking it (exposes the connection to a man in the middle); the explicit opt-out of known_hosts."},
	{Name: "path", Type: "string", Level: "source", Doc: "Remote folder the tables' paths and globs are relative to: absolute, or relative to the login folder (the default)."},
	{Name: "timeout", Type: "duration", Default: defaultTimeout.String(), Level: "source", Doc: "Time allowed to connect and log in."},
}, files.RemoteTableSpec...)

// Connector returns the sftp connector.
func Connector() ingest.Connector {
	return ingest.Connector{
		Name: "sftp",
		Doc:  "CSV, JSON lines, JSON and Parquet files on an SFTP server (password or key auth, known_hosts checking), optionally moved to a done folder after loading.",
		Spec: Spec,
		Open: open,
	}
}

// settings are a parsed source config.
type settings struct {
	host       string
	port       int64
	user       string
	auth       []ssh.AuthMethod
	authNames  string // for messages: "password", "public key"
	hostKeys   ssh.HostKeyCallback
	hostAlgos  []string
	knownHosts string // "" with insecure_ignore_host_key
	path       string
	timeout    time.Duration
}

func (s *settings) addr() string {
	return net.JoinHostPort(s.host, strconv.FormatInt(s.port, 10))
}

func parse(cfg ingest.Config) (*settings, error) {
	r := ingest.NewConfigReader(cfg, "sftp")
	s := &settings{
		host:    r.Str("host", true, ""),
		port:    r.Integer("port", defaultPort),
		user:    r.Str("user", true, ""),
		path:    r.Str("path", false, ""),
		timeout: r.Duration("timeout", defaultTimeout),
	}
	if h, p, err := net.SplitHostPort(s.host); err == nil {
		r.Errorf("host", "write the port under port: (host: %s, port: %s)", h, p)
	}
	if s.port == 0 || s.port > 65535 {
		r.Errorf("port", "must be between 1 and 65535, not %d", s.port)
	}
	password := r.Str("password", false, "")
	key := r.Str("private_key", false, "")
	keyFile := r.Str("private_key_file", false, "")
	passphrase := r.Str("passphrase", false, "")
	knownHosts := r.Str("known_hosts", false, "")
	insecure := r.Bool("insecure_ignore_host_key", false)

	var methods []string
	switch {
	case key != "" && keyFile != "":
		r.Errorf("private_key_file", "set private_key or private_key_file, not both")
	case key != "" || keyFile != "":
		pem, which := []byte(key), "private_key"
		if keyFile != "" {
			which = "private_key_file"
			b, err := os.ReadFile(expandHome(keyFile))
			if err != nil {
				r.Errorf("private_key_file", "%v", err)
				break
			}
			pem = b
		}
		signer, err := parseKey(pem, passphrase)
		if err != nil {
			r.Errorf(which, "%v", err)
			break
		}
		s.auth = append(s.auth, ssh.PublicKeys(signer))
		methods = append(methods, "public key "+ssh.FingerprintSHA256(signer.PublicKey()))
	case passphrase != "":
		r.Errorf("passphrase", "is set but there is no private_key or private_key_file")
	}
	if password != "" {
		s.auth = append(s.auth, ssh.Password(password), ssh.KeyboardInteractive(
			func(_, _ string, questions []string, _ []bool) ([]string, error) {
				// Servers that take passwords through keyboard-interactive
				// ask one question (some send an empty round first);
				// anything else is not a password prompt.
				switch len(questions) {
				case 0:
					return nil, nil
				case 1:
					return []string{password}, nil
				}
				return nil, fmt.Errorf("sftp: the server asks %d questions to log in (%s); only a password can be given", len(questions), strings.Join(questions, "; "))
			}))
		methods = append(methods, "password")
	}
	if len(s.auth) == 0 && r.Err() == nil {
		r.Errorf("password", "set password, private_key or private_key_file to log in")
	}
	s.authNames = strings.Join(methods, " and ")

	switch {
	case insecure && knownHosts != "":
		r.Errorf("insecure_ignore_host_key", "set known_hosts or insecure_ignore_host_key, not both")
	case insecure:
		s.hostKeys = ssh.InsecureIgnoreHostKey()
	default:
		if knownHosts == "" {
			knownHosts = "~/.ssh/known_hosts"
		}
		s.knownHosts = expandHome(knownHosts)
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if s.knownHosts != "" {
		cb, algos, err := knownHostsCallback(s.knownHosts, s.addr())
		if err != nil {
			return nil, fmt.Errorf("%ssftp: known_hosts: %v", cfg.At("known_hosts"), err)
		}
		s.hostKeys, s.hostAlgos = cb, algos
	}
	return s, nil
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return home + p[1:]
		}
	}
	return p
}

func parseKey(pem []byte, passphrase string) (ssh.Signer, error) {
	// A key pasted into an environment variable may have lost its line
	// breaks to literal \n.
	if !bytes.Contains(pem, []byte("\n")) && bytes.Contains(pem, []byte(`\n`)) {
		pem = bytes.ReplaceAll(pem, []byte(`\n`), []byte("\n"))
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == "" {
			return nil, errors.New("the key is encrypted: set passphrase")
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, errors.New("passphrase does not decrypt the key")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("not a usable private key: %v", err)
	}
	return signer, nil
}

// source is one SFTP server; its connection is shared by all tables.
type source struct {
	set  *settings
	root string // absolute remote folder

	mu     sync.Mutex
	conn   *conn
	closed bool
}

// conn is one SSH connection with its SFTP session.
type conn struct {
	ssh  *ssh.Client
	sftp *sftp.Client
	done chan struct{} // closed when the SSH connection ends
}

func (c *conn) close() error {
	err := c.sftp.Close()
	if e := c.ssh.Close(); err == nil && e != nil && !errors.Is(e, net.ErrClosed) {
		err = e
	}
	return err
}

func open(ctx context.Context, cfg ingest.Config) (ingest.Source, error) {
	set, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	s := &source{set: set}
	c, err := s.client(ctx)
	if err != nil {
		return nil, err
	}
	root := set.path
	if root == "" {
		root = "."
	}
	abs, err := c.RealPath(root)
	if errors.Is(err, os.ErrNotExist) {
		_ = s.Close()
		return nil, fmt.Errorf("%ssftp: path %s does not exist on %s", cfg.At("path"), root, set.addr())
	}
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("%ssftp: path %s on %s: %v", cfg.At("path"), root, set.addr(), err)
	}
	info, err := c.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		_ = s.Close()
		return nil, fmt.Errorf("%ssftp: path %s does not exist on %s", cfg.At("path"), abs, set.addr())
	case err != nil:
		_ = s.Close()
		return nil, fmt.Errorf("%ssftp: path %s on %s: %v", cfg.At("path"), abs, set.addr(), err)
	case !info.IsDir():
		_ = s.Close()
		return nil, fmt.Errorf("%ssftp: path %s on %s is not a folder", cfg.At("path"), abs, set.addr())
	}
	s.root = abs
	return s, nil
}

// client returns the SFTP client, dialling (again) when there is no live
// connection.
func (s *source) client(ctx context.Context) (*sftp.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("sftp: source is closed")
	}
	if s.conn != nil {
		select {
		case <-s.conn.done:
			_ = s.conn.close()
			s.conn = nil
		default:
			return s.conn.sftp, nil
		}
	}
	c, err := dial(ctx, s.set)
	if err != nil {
		return nil, err
	}
	s.conn = c
	return c.sftp, nil
}

// hostKeyError is a refused host key, kept to explain it.
type hostKeyError struct{ err error }

func (e *hostKeyError) Error() string { return e.err.Error() }

func dial(ctx context.Context, set *settings) (*conn, error) {
	addr := set.addr()
	ctx, cancel := context.WithTimeout(ctx, set.timeout)
	defer cancel()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sftp: cannot reach %s: %v", addr, err)
	}
	// The handshake has no context: bound it with the deadline.
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var keyErr *hostKeyError
	config := &ssh.ClientConfig{
		User: set.user,
		Auth: set.auth,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			if err := set.hostKeys(hostname, remote, key); err != nil {
				keyErr = &hostKeyError{explainHostKey(err, set, key)}
				return keyErr
			}
			return nil
		},
		HostKeyAlgorithms: set.hostAlgos,
		Timeout:           set.timeout,
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, config)
	if err != nil {
		_ = nc.Close()
		switch {
		case keyErr != nil:
			return nil, keyErr
		case ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
			// The connection's deadline can fire a hair before the
			// context's own timer: both mean the timeout passed.
			return nil, interrupted(ctx, set)
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("sftp: authentication failed for user %s at %s (tried %s)", set.user, addr, set.authNames)
		}
		return nil, fmt.Errorf("sftp: connecting to %s: %v", addr, err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	sc2, err := sftp.NewClient(client)
	if err != nil {
		_ = client.Close()
		if ctx.Err() != nil {
			return nil, interrupted(ctx, set)
		}
		return nil, fmt.Errorf("sftp: %s does not serve SFTP to %s: %v", addr, set.user, err)
	}
	if !stop() {
		_ = sc2.Close()
		_ = client.Close()
		return nil, interrupted(ctx, set)
	}
	_ = nc.SetDeadline(time.Time{})
	c := &conn{ssh: client, sftp: sc2, done: make(chan struct{})}
	go func() {
		_ = client.Wait()
		close(c.done)
	}()
	return c, nil
}

// interrupted explains a connection attempt its context ended.
func interrupted(ctx context.Context, set *settings) error {
	if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("sftp: connecting to %s: timed out after %s", set.addr(), set.timeout)
	}
	return fmt.Errorf("sftp: connecting to %s: %w", set.addr(), ctx.Err())
}

func (s *source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn == nil {
		return nil
	}
	err := s.conn.close()
	s.conn = nil
	return err
}

// Table opens a table of the server's files. An absolute path, glob or
// move_to is read from the server's root folder instead of the source path.
func (s *source) Table(ctx context.Context, cfg ingest.Config) (ingest.Table, error) {
	return files.NewRemoteTable(ctx, cfg, "sftp", s.root, func(root string) files.Mover {
		return &store{src: s, root: root}
	})
}

// store is a files.Mover on the server, rooted at a remote folder.
type store struct {
	src  *source
	root string
}

func (st *store) abs(p string) string { return path.Join(st.root, p) }

// Describe names a file as sftp://host[:port]/path.
func (st *store) Describe(p string) string {
	host := st.src.set.host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if st.src.set.port != defaultPort {
		host = st.src.set.addr()
	}
	return "sftp://" + host + "/" + strings.TrimPrefix(st.abs(p), "/")
}

// List returns the regular files below dir (or dir itself when it is a
// file); a missing dir lists nothing. Symbolic links to files are listed,
// links to folders are not followed.
func (st *store) List(ctx context.Context, dir string) ([]files.Object, error) {
	c, err := st.src.client(ctx)
	if err != nil {
		return nil, err
	}
	start := st.abs(dir)
	info, err := c.Stat(start)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("listing %s: %w", st.Describe(dir), err)
	case info.Mode().IsRegular():
		return []files.Object{object(dir, info)}, nil
	case !info.IsDir():
		return nil, nil
	}
	var out []files.Object
	var walk func(rel string) error
	walk = func(rel string) error {
		entries, err := c.ReadDirContext(ctx, st.abs(rel))
		if err != nil {
			return fmt.Errorf("listing %s: %w", st.Describe(rel), err)
		}
		for _, e := range entries {
			p := path.Join(rel, e.Name())
			mode := e.Mode()
			if mode&os.ModeSymlink != 0 {
				if e, err = c.Stat(st.abs(p)); err != nil {
					continue // a dangling link
				}
				if !e.Mode().IsRegular() {
					continue
				}
				mode = e.Mode()
			}
			switch {
			case mode.IsDir():
				if err := walk(p); err != nil {
					return err
				}
			case mode.IsRegular():
				out = append(out, object(p, e))
			}
		}
		return nil
	}
	if err := walk(dir); err != nil {
		return nil, err
	}
	return out, nil
}

func object(p string, info os.FileInfo) files.Object {
	return files.Object{Path: strings.TrimPrefix(path.Clean(p), "/"), Size: info.Size(), MTime: info.ModTime()}
}

// Open opens a listed file.
func (st *store) Open(ctx context.Context, o files.Object) (io.ReadCloser, error) {
	c, err := st.src.client(ctx)
	if err != nil {
		return nil, err
	}
	return c.Open(st.abs(o.Path))
}

// Move renames from to to, creating to's folder; a file already at to is
// replaced.
func (st *store) Move(ctx context.Context, from, to string) error {
	c, err := st.src.client(ctx)
	if err != nil {
		return err
	}
	src, dst := st.abs(from), st.abs(to)
	if err := c.MkdirAll(path.Dir(dst)); err != nil {
		return fmt.Errorf("creating %s: %w", st.Describe(path.Dir(to)), err)
	}
	if _, ok := c.HasExtension("posix-rename@openssh.com"); ok {
		return c.PosixRename(src, dst)
	}
	err = c.Rename(src, dst)
	if err != nil {
		// Plain SFTP rename refuses an existing target.
		if info, serr := c.Stat(dst); serr == nil && info.Mode().IsRegular() {
			if rerr := c.Remove(dst); rerr == nil {
				err = c.Rename(src, dst)
			}
		}
	}
	return err
}
