// Package ftpsource is the "ftp" ingest connector: it loads CSV, JSON
// lines, JSON and Parquet files (plain, gzip or zstd) from an FTP server,
// picked by a path or a glob under the source's remote folder, with the
// files connector's formats and new-files-only state (files.Table).
//
//	sources:
//	  - name: supplier
//	    ingest:
//	      connector: ftp
//	      host: ftp.supplier.example
//	      user: kiln
//	      password: "{{ env_var('SUPPLIER_FTP_PASSWORD') }}"
//	      tls: explicit
//	      path: /exports
//	    tables:
//	      - name: stock
//	        ingest: {glob: "stock_*.csv", mode: append, after_load: {move_to: done/}}
//
// tls: explicit upgrades the connection with AUTH TLS, tls: implicit
// speaks TLS from the start (port 990); data connections are protected
// too (PROT P). Certificates are verified unless insecure_skip_verify is
// set. Passive mode is used (EPSV, then PASV).
//
// FTP connections do one thing at a time: the source keeps a small pool
// (max_connections) so its tables can read concurrently, each file read
// holding one connection until it is closed.
//
// Listings come from MLSD when the server has it (times to the second),
// else LIST (times often to the minute, or the day for older files): a
// file rewritten with the same size within that precision is not seen as
// changed by new-files-only loads.
package ftpsource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/kilnhq/kiln/adapters/ingest"
	"github.com/kilnhq/kiln/adapters/ingest/files"
)

const (
	defaultPort        = 21
	defaultImplicitTLS = 990
	defaultTimeout     = 30 * time.Second
	defaultConnections = 4
)

// Spec is the ftp connector's configuration.
var Spec = append([]ingest.Field{
	{Name: "host", Type: "string", Required: true, Level: "source", Doc: "FTP server host name or address (without the port)."},
	{Name: "port", Type: "int", Default: int64(defaultPort), Level: "source", Doc: "Control port; 990 by default with tls: implicit."},
	{Name: "user", Type: "string", Default: "anonymous", Level: "source", Doc: "User to log in as."},
	{Name: "password", Type: "string", Level: "source", Doc: "Password; usually {{ env_var('...') }}. Anonymous logins default to the password anonymous."},
	{Name: "tls", Type: "string", Default: "none", Level: "source", Doc: "none (plain FTP), explicit (AUTH TLS on the usual port, FTPES) or implicit (TLS from the start, FTPS on port 990); data connections are protected too."},
	{Name: "insecure_skip_verify", Type: "bool", Default: false, Level: "source", Doc: "With tls: accept any server certificate (self-signed ones) without verifying it."},
	{Name: "path", Type: "string", Level: "source", Doc: "Remote folder the tables' paths and globs are relative to: absolute, or relative to the login folder (the default)."},
	{Name: "timeout", Type: "duration", Default: defaultTimeout.String(), Level: "source", Doc: "Time allowed to connect (control and data connections)."},
	{Name: "max_connections", Type: "int", Default: int64(defaultConnections), Level: "source", Doc: "Most connections the source opens at once (one per table reading); lower it for servers that limit connections per user."},
}, files.RemoteTableSpec...)

// Connector returns the ftp connector.
func Connector() ingest.Connector {
	return ingest.Connector{
		Name: "ftp",
		Doc:  "CSV, JSON lines, JSON and Parquet files on an FTP or FTPS server, optionally moved to a done folder after loading.",
		Spec: Spec,
		Open: open,
	}
}

type settings struct {
	host, user, password string
	port                 int64
	tlsMode              string // "none", "explicit", "implicit"
	tls                  *tls.Config
	path                 string
	timeout              time.Duration
	connections          int64
}

func (s *settings) addr() string {
	return net.JoinHostPort(s.host, strconv.FormatInt(s.port, 10))
}

func parse(cfg ingest.Config) (*settings, error) {
	r := ingest.NewConfigReader(cfg, "ftp")
	s := &settings{
		host:        r.Str("host", true, ""),
		user:        r.Str("user", false, "anonymous"),
		password:    r.Str("password", false, ""),
		tlsMode:     r.OneOf("tls", false, "none", "none", "explicit", "implicit"),
		path:        r.Str("path", false, ""),
		timeout:     r.Duration("timeout", defaultTimeout),
		connections: r.Integer("max_connections", defaultConnections),
	}
	if s.user == "" {
		s.user = "anonymous"
	}
	if s.user == "anonymous" && s.password == "" {
		s.password = "anonymous"
	}
	if h, p, err := net.SplitHostPort(s.host); err == nil {
		r.Errorf("host", "write the port under port: (host: %s, port: %s)", h, p)
	}
	def := int64(defaultPort)
	if s.tlsMode == "implicit" {
		def = defaultImplicitTLS
	}
	s.port = r.Integer("port", def)
	if s.port == 0 || s.port > 65535 {
		r.Errorf("port", "must be between 1 and 65535, not %d", s.port)
	}
	if s.connections == 0 {
		r.Errorf("max_connections", "must be at least 1")
	}
	insecure := r.Bool("insecure_skip_verify", false)
	if insecure && s.tlsMode == "none" {
		r.Errorf("insecure_skip_verify", "applies to TLS only: set tls: explicit or implicit")
	}
	if s.tlsMode == "explicit" || s.tlsMode == "implicit" {
		s.tls = &tls.Config{
			ServerName:         s.host,
			InsecureSkipVerify: insecure,
			// Many servers require data connections to resume the
			// control connection's TLS session.
			ClientSessionCache: tls.NewLRUClientSessionCache(16),
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// source is one FTP server, with a pool of logged-in connections.
type source struct {
	set   *settings
	root  string        // absolute remote folder
	slots chan struct{} // one per open connection, idle or in use

	mu     sync.Mutex
	idle   []*ftp.ServerConn
	closed bool
}

func open(ctx context.Context, cfg ingest.Config) (ingest.Source, error) {
	set, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	s := &source{set: set, slots: make(chan struct{}, set.connections)}
	err = s.do(ctx, func(c *ftp.ServerConn) error {
		cwd, err := c.CurrentDir()
		if err != nil {
			return fmt.Errorf("ftp: reading the login folder on %s: %w", set.addr(), err)
		}
		root := set.path
		switch {
		case root == "":
			root = cwd
		case !path.IsAbs(root):
			root = path.Join(cwd, root)
		}
		root = path.Clean(root)
		if err := c.ChangeDir(root); err != nil {
			if !replied(err) {
				return err
			}
			if _, serr := c.FileSize(root); serr == nil {
				return fmt.Errorf("%sftp: path %s on %s is not a folder", cfg.At("path"), root, set.addr())
			}
			return fmt.Errorf("%sftp: path %s does not exist on %s (%v)", cfg.At("path"), root, set.addr(), err)
		}
		s.root = root
		return nil
	})
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// replied reports whether err is the server's answer to a command (the
// connection is fine) rather than a broken connection.
func replied(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te)
}

// acquire takes a connection: an idle one that still answers, or a new one.
func (s *source) acquire(ctx context.Context) (*ftp.ServerConn, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			<-s.slots
			return nil, errors.New("ftp: source is closed")
		}
		var c *ftp.ServerConn
		if n := len(s.idle); n > 0 {
			c, s.idle = s.idle[n-1], s.idle[:n-1]
		}
		s.mu.Unlock()
		if c == nil {
			break
		}
		if c.NoOp() == nil {
			return c, nil
		}
		_ = c.Quit()
	}
	c, err := dial(ctx, s.set)
	if err != nil {
		<-s.slots
		return nil, err
	}
	return c, nil
}

// release gives a connection back; a broken one is closed.
func (s *source) release(c *ftp.ServerConn, healthy bool) {
	s.mu.Lock()
	if healthy && !s.closed {
		s.idle = append(s.idle, c)
		c = nil
	}
	s.mu.Unlock()
	if c != nil {
		_ = c.Quit()
	}
	<-s.slots
}

// do runs f on a pooled connection.
func (s *source) do(ctx context.Context, f func(c *ftp.ServerConn) error) error {
	c, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	err = f(c)
	s.release(c, err == nil || replied(err))
	return err
}

func dial(ctx context.Context, set *settings) (*ftp.ServerConn, error) {
	addr := set.addr()
	ctx, cancel := context.WithTimeout(ctx, set.timeout)
	defer cancel()
	// The library bounds only the TCP dial: dial ourselves so the greeting,
	// the TLS handshake and the login are bounded by the timeout too. The
	// first connection is the control connection, later ones carry data.
	dialer := net.Dialer{Timeout: set.timeout, KeepAlive: 30 * time.Second}
	var control net.Conn
	stop := func() bool { return true }
	dialFunc := func(network, address string) (net.Conn, error) {
		if control == nil {
			nc, err := dialer.DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			control = nc
			if dl, ok := ctx.Deadline(); ok {
				_ = nc.SetDeadline(dl)
			}
			stop = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
			if set.tlsMode == "implicit" {
				return tls.Client(nc, set.tls), nil
			}
			return nc, nil
		}
		nc, err := dialer.Dial(network, address)
		if err != nil {
			return nil, err
		}
		if set.tls != nil {
			return tls.Client(nc, set.tls), nil
		}
		return nc, nil
	}
	opts := []ftp.DialOption{ftp.DialWithDialFunc(dialFunc)}
	switch set.tlsMode {
	case "explicit":
		opts = append(opts, ftp.DialWithExplicitTLS(set.tls))
	case "implicit":
		opts = append(opts, ftp.DialWithTLS(set.tls))
	}
	c, err := ftp.Dial(addr, opts...)
	if err != nil {
		stop()
		if control != nil && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)) {
			// The connection's deadline can fire a hair before the
			// context's own timer: both mean the timeout passed.
			return nil, timedOut(ctx, set)
		}
		return nil, explainDial(err, set)
	}
	if err := c.Login(set.user, set.password); err != nil {
		stop()
		_ = c.Quit()
		switch e := tlsProblem(err, set); {
		case e != nil:
			// With explicit TLS the handshake happens on the first command.
			return nil, e
		case ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
			return nil, timedOut(ctx, set)
		case replied(err) || !isNetwork(err):
			return nil, fmt.Errorf("ftp: authentication failed for user %s at %s: %v", set.user, addr, err)
		}
		return nil, fmt.Errorf("ftp: logging in to %s: %v", addr, err)
	}
	if !stop() {
		_ = c.Quit()
		return nil, interrupted(ctx, set)
	}
	_ = control.SetDeadline(time.Time{})
	return c, nil
}

// timedOut explains an attempt stopped by the timeout (or by ctx).
func timedOut(ctx context.Context, set *settings) error {
	if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("ftp: connecting to %s: timed out after %s", set.addr(), set.timeout)
	}
	return interrupted(ctx, set)
}

// interrupted explains a connection attempt its context ended.
func interrupted(ctx context.Context, set *settings) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("ftp: connecting to %s: timed out after %s", set.addr(), set.timeout)
	}
	return fmt.Errorf("ftp: connecting to %s: %w", set.addr(), ctx.Err())
}

func isNetwork(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// tlsProblem explains a refused certificate or a server that does not
// speak TLS; nil for other errors.
func tlsProblem(err error, set *settings) error {
	addr := set.addr()
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	var recordHeader tls.RecordHeaderError
	switch {
	case errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &verify):
		return fmt.Errorf("ftp: the TLS certificate of %s is not trusted (%v): add its issuer to the system's trusted certificates, or set insecure_skip_verify: true to accept it unverified", addr, err)
	case errors.As(err, &recordHeader) && set.tlsMode == "implicit":
		return fmt.Errorf("ftp: %s does not speak TLS from the start (tls: implicit); try tls: explicit: %v", addr, err)
	case errors.As(err, &recordHeader):
		return fmt.Errorf("ftp: TLS with %s failed: %v", addr, err)
	}
	return nil
}

func explainDial(err error, set *settings) error {
	addr := set.addr()
	var op *net.OpError
	if e := tlsProblem(err, set); e != nil {
		return e
	}
	switch {
	case set.tlsMode == "explicit" && replied(err):
		return fmt.Errorf("ftp: %s refused AUTH TLS (tls: explicit): %v", addr, err)
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("ftp: cannot reach %s: %v", addr, op.Err)
	}
	return fmt.Errorf("ftp: connecting to %s: %v", addr, err)
}

func (s *source) Close() error {
	s.mu.Lock()
	s.closed = true
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, c := range idle {
		_ = c.Quit()
	}
	return nil
}

// Table opens a table of the server's files. An absolute path, glob or
// move_to is read from the server's root folder instead of the source path.
func (s *source) Table(ctx context.Context, cfg ingest.Config) (ingest.Table, error) {
	return files.NewRemoteTable(ctx, cfg, "ftp", s.root, func(root string) files.Mover {
		return &store{src: s, root: root, made: map[string]bool{}}
	})
}

// store is a files.Mover on the server, rooted at a remote folder.
type store struct {
	src  *source
	root string

	mu   sync.Mutex
	made map[string]bool // folders known to exist (Move)
}

func (st *store) abs(p string) string { return path.Join(st.root, p) }

// Describe names a file as ftp://host[:port]/path.
func (st *store) Describe(p string) string {
	set := st.src.set
	host := set.host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	def := int64(defaultPort)
	if set.tlsMode == "implicit" {
		def = defaultImplicitTLS
	}
	if set.port != def {
		host = set.addr()
	}
	return "ftp://" + host + "/" + strings.TrimPrefix(st.abs(p), "/")
}

// List returns the files below dir (or dir itself when it is a file); a
// missing dir lists nothing. Links are not followed.
func (st *store) List(ctx context.Context, dir string) ([]files.Object, error) {
	var out []files.Object
	var walk func(c *ftp.ServerConn, rel string) error
	walk = func(c *ftp.ServerConn, rel string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := c.List(st.abs(rel))
		if err != nil {
			return fmt.Errorf("listing %s: %w", st.Describe(rel), err)
		}
		for _, e := range entries {
			if e.Name == "." || e.Name == ".." || e.Name == "" {
				continue
			}
			p := path.Join(rel, path.Base(e.Name))
			switch e.Type {
			case ftp.EntryTypeFolder:
				if err := walk(c, p); err != nil {
					return err
				}
			case ftp.EntryTypeFile:
				out = append(out, object(p, e))
			}
		}
		return nil
	}
	err := st.src.do(ctx, func(c *ftp.ServerConn) error {
		if dir == "" {
			return walk(c, dir)
		}
		e, err := st.stat(c, dir)
		switch {
		case err != nil:
			return err
		case e == nil:
			return nil
		case e.Type == ftp.EntryTypeFile:
			out = append(out, object(dir, e))
			return nil
		case e.Type == ftp.EntryTypeFolder:
			return walk(c, dir)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// stat describes one path: nil when it does not exist.
func (st *store) stat(c *ftp.ServerConn, rel string) (*ftp.Entry, error) {
	abs := st.abs(rel)
	if c.IsTimePreciseInList() { // MLST is supported
		e, err := c.GetEntry(abs)
		if err == nil {
			return e, nil
		}
		if !replied(err) {
			return nil, fmt.Errorf("listing %s: %w", st.Describe(rel), err)
		}
		return nil, nil
	}
	// Without MLST, find the name in its folder's listing.
	entries, err := c.List(path.Dir(abs))
	if err != nil {
		if replied(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing %s: %w", st.Describe(path.Dir(rel)), err)
	}
	for _, e := range entries {
		if path.Base(e.Name) == path.Base(abs) {
			return e, nil
		}
	}
	return nil, nil
}

func object(p string, e *ftp.Entry) files.Object {
	return files.Object{Path: strings.TrimPrefix(path.Clean(p), "/"), Size: int64(e.Size), MTime: e.Time}
}

// Open retrieves a listed file; the connection is the reader's until it
// is closed.
func (st *store) Open(ctx context.Context, o files.Object) (io.ReadCloser, error) {
	c, err := st.src.acquire(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.Retr(st.abs(o.Path))
	if err != nil {
		st.src.release(c, replied(err))
		return nil, err
	}
	return &reader{resp: resp, done: func(ok bool) { st.src.release(c, ok) }}, nil
}

// reader is a file being retrieved.
type reader struct {
	resp *ftp.Response
	done func(healthy bool)
	once sync.Once
}

func (r *reader) Read(p []byte) (int, error) { return r.resp.Read(p) }

func (r *reader) Close() error {
	err := r.resp.Close()
	r.once.Do(func() { r.done(err == nil) })
	return err
}

// Move renames from to to, creating to's folder; a file already at to is
// replaced.
func (st *store) Move(ctx context.Context, from, to string) error {
	src, dst := st.abs(from), st.abs(to)
	return st.src.do(ctx, func(c *ftp.ServerConn) error {
		if err := st.mkdirAll(c, path.Dir(dst)); err != nil {
			return fmt.Errorf("creating %s: %w", st.Describe(path.Dir(to)), err)
		}
		err := c.Rename(src, dst)
		if err != nil && replied(err) {
			// Some servers refuse to rename onto an existing file.
			if _, serr := c.FileSize(dst); serr == nil {
				if derr := c.Delete(dst); derr == nil {
					err = c.Rename(src, dst)
				}
			}
		}
		return err
	})
}

// mkdirAll creates an absolute folder and its missing parents.
func (st *store) mkdirAll(c *ftp.ServerConn, dir string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	var missing []string
	for d := dir; d != "/" && d != "." && !st.made[d]; d = path.Dir(d) {
		err := c.ChangeDir(d)
		if err == nil {
			st.made[d] = true
			break
		}
		if !replied(err) {
			return err
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		if err := c.MakeDir(d); err != nil && c.ChangeDir(d) != nil {
			return err
		}
		st.made[d] = true
	}
	return nil
}
