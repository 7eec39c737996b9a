package sftpsource_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kilnhq/kiln/adapters/ingest/ingesttest"
)

const (
	testUser     = "kiln"
	testPassword = "s3cret"
)

// sshServer is an in-process SSH server serving the "sftp" subsystem with
// pkg/sftp's server, relative paths resolving in root. It accepts testUser
// with testPassword or with the client key, and "kbd" with testPassword
// through keyboard-interactive only.
type sshServer struct {
	ingesttest.Folder // the server's root

	addr, host string
	port       int64
	hostKey    ssh.PublicKey
	clientKey  ed25519.PrivateKey // authorized
	mu         sync.Mutex
	conns      []net.Conn
	logins     int
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func startSSH(t *testing.T) *sshServer {
	t.Helper()
	s := &sshServer{Folder: ingesttest.Folder{Root: t.TempDir()}, clientKey: newKey(t)}
	hostSigner, err := ssh.NewSignerFromKey(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	s.hostKey = hostSigner.PublicKey()
	authorized, err := ssh.NewPublicKey(s.clientKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	config := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pass []byte) (*ssh.Permissions, error) {
			if c.User() == testUser && string(pass) == testPassword {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		},
		// User "kbd" logs in only through keyboard-interactive, as
		// servers with PAM do.
		KeyboardInteractiveCallback: func(c ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			answers, err := client("", "", []string{"Password: "}, []bool{false})
			if err == nil && c.User() == "kbd" && len(answers) == 1 && answers[0] == testPassword {
				return nil, nil
			}
			return nil, errors.New("wrong answer")
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == testUser && string(key.Marshal()) == string(authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	config.AddHostKey(hostSigner)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	host, port, _ := net.SplitHostPort(s.addr)
	s.host = host
	s.port, _ = strconv.ParseInt(port, 10, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go s.serve(c, config)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			_ = c.Close()
		}
	})
	return s
}

func (s *sshServer) serve(c net.Conn, config *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(c, config)
	if err != nil {
		_ = c.Close()
		return
	}
	s.mu.Lock()
	s.logins++
	s.mu.Unlock()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, in, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			for req := range in {
				ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp"
				_ = req.Reply(ok, nil)
				if !ok {
					continue
				}
				go func() {
					defer ch.Close()
					srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(s.Root))
					if err != nil {
						return
					}
					if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
						return
					}
				}()
			}
		}()
	}
}

// knownHosts writes a known_hosts file listing key for the server.
func (s *sshServer) knownHosts(t *testing.T, key ssh.PublicKey) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, key) + "\n"
	if err := os.WriteFile(p, []byte("# test\n"+line), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clientPEM is the authorized client key in OpenSSH PEM form, encrypted
// with passphrase when it is not "".
func (s *sshServer) clientPEM(t *testing.T, passphrase string) string {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(s.clientKey, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(s.clientKey, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}
