package ftpsource_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	ftpserver "goftp.io/server/v2"
	"goftp.io/server/v2/driver/file"

	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
)

const (
	testUser     = "kiln"
	testPassword = "s3cret"
)

// ftpServer is an in-process goftp server on a temporary folder (its
// login folder is /), accepting testUser with testPassword.
type ftpServer struct {
	ingesttest.Folder // the server's root

	host string
	port int64
	auth *countingAuth
}

// countingAuth is the server's password check; it counts logins.
type countingAuth struct {
	mu     sync.Mutex
	logins int
}

func (a *countingAuth) CheckPasswd(_ *ftpserver.Context, user, pass string) (bool, error) {
	ok := user == testUser && pass == testPassword
	if ok {
		a.mu.Lock()
		a.logins++
		a.mu.Unlock()
	}
	return ok, nil
}

func (a *countingAuth) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logins
}

// startFTP starts a plain FTP server, or an explicit-TLS (AUTH TLS) one
// with a self-signed certificate.
func startFTP(t *testing.T, explicitTLS bool) *ftpServer {
	t.Helper()
	s := &ftpServer{Folder: ingesttest.Folder{Root: t.TempDir()}, auth: &countingAuth{}}
	driver, err := file.NewDriver(s.Root)
	if err != nil {
		t.Fatal(err)
	}
	opts := &ftpserver.Options{
		Name:     "kiln test ftpd",
		Driver:   driver,
		Auth:     s.auth,
		Perm:     ftpserver.NewSimplePerm("kiln", "kiln"),
		Hostname: "127.0.0.1",
		Logger:   new(ftpserver.DiscardLogger),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	s.host = "127.0.0.1"
	s.port, _ = strconv.ParseInt(port, 10, 64)
	if explicitTLS {
		// goftp sets up TLS only in ListenAndServe: free the port for it.
		_ = l.Close()
		opts.Port = int(s.port)
		opts.TLS = true
		opts.ExplicitFTPS = true
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	}
	srv, err := ftpserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if explicitTLS {
			_ = srv.ListenAndServe()
		} else {
			_ = srv.Serve(l)
		}
	}()
	t.Cleanup(func() { _ = srv.Shutdown() })
	if explicitTLS {
		addr := net.JoinHostPort(s.host, port)
		for i := 0; ; i++ {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				_ = c.Close()
				break
			}
			if i == 100 {
				t.Fatalf("the FTP server did not start: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return s
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kiln test ftpd"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (s *ftpServer) config() map[string]any {
	return map[string]any{"host": s.host, "port": s.port, "user": testUser, "password": testPassword}
}
