package sftpsource

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsCallback checks host keys against file. It also returns the
// host key algorithms of the keys file lists for addr, so the server is
// asked for a key of a kind the file knows (nil when it lists none).
func knownHostsCallback(file, addr string) (ssh.HostKeyCallback, []string, error) {
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s does not exist: add the server's host key to it (%s, after checking the fingerprint with the server's administrator), "+
			"set known_hosts to a file that has it, or set insecure_ignore_host_key: true to skip the check", file, keyscan(addr, file))
	}
	cb, err := knownhosts.New(file)
	if err != nil {
		return nil, nil, err
	}
	// Probe with a throwaway key: the mismatch lists the known keys.
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, nil, err
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	var algos []string
	var ke *knownhosts.KeyError
	if err := cb(addr, &net.TCPAddr{IP: net.IPv4zero}, probe); errors.As(err, &ke) {
		seen := map[string]bool{}
		for _, k := range ke.Want {
			for _, a := range algorithms(k.Key.Type()) {
				if !seen[a] {
					seen[a] = true
					algos = append(algos, a)
				}
			}
		}
	}
	return cb, algos, nil
}

// algorithms are the host key algorithms that verify with a key type.
func algorithms(keyType string) []string {
	switch keyType {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01}
	}
	return []string{keyType}
}

func keyscan(addr, file string) string {
	host, port, _ := net.SplitHostPort(addr)
	if port == "22" {
		return fmt.Sprintf("ssh-keyscan %s >> %s", host, file)
	}
	return fmt.Sprintf("ssh-keyscan -p %s %s >> %s", port, host, file)
}

// explainHostKey turns a refused host key into a message that says what
// to do.
func explainHostKey(err error, set *settings, key ssh.PublicKey) error {
	addr := set.addr()
	fp := key.Type() + " " + ssh.FingerprintSHA256(key)
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &ke) && len(ke.Want) == 0:
		return fmt.Errorf("sftp: the host key of %s (%s) is not in %s: check the fingerprint with the server's administrator, then add the key (%s), "+
			"or set insecure_ignore_host_key: true to skip the check", addr, fp, set.knownHosts, keyscan(addr, set.knownHosts))
	case errors.As(err, &ke):
		var where []string
		for _, k := range ke.Want {
			where = append(where, fmt.Sprintf("%s:%d", k.Filename, k.Line))
		}
		return fmt.Errorf("sftp: the host key of %s (%s) does not match the one known for it at %s: the server's key changed, or the connection is being intercepted; "+
			"if the change is expected, remove the old key (ssh-keygen -R '%s' -f %s) and add the new one (%s)",
			addr, fp, strings.Join(where, ", "), knownhosts.Normalize(addr), set.knownHosts, keyscan(addr, set.knownHosts))
	case errors.As(err, &re):
		return fmt.Errorf("sftp: the host key of %s (%s) is revoked in %s:%d", addr, fp, re.Revoked.Filename, re.Revoked.Line)
	}
	return fmt.Errorf("sftp: checking the host key of %s (%s): %v", addr, fp, err)
}
