// Package devmode prepares the files of `latchkey dev`: a development CA and a
// server certificate it signs, a master key file, and dev.json, the contract that
// tells other tools (the CLI, tests, SDK samples) where the dev server is and how
// to trust it.
//
// Everything it creates is reused on the next start. Nothing here is meant for
// production: the CA key sits next to the data it protects. devmode may import
// internal/seal and internal/errs; it knows nothing of HTTP serving or storage.
package devmode

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File names inside the data folder.
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	ServerFile    = "server.pem"
	ServerKeyFile = "server-key.pem"
)

const (
	caLifetime     = 10 * 365 * 24 * time.Hour
	serverLifetime = 397 * 24 * time.Hour // the longest leaf lifetime browsers accept
	renewBefore    = 30 * 24 * time.Hour
)

// ServerNames are the names the dev server certificate covers: loopback, and every
// vault host under vault.localhost (each vault is its own origin).
func ServerNames() (dns []string, ips []net.IP) {
	return []string{"localhost", "*.vault.localhost", "vault.localhost"},
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
}

// Certs are the paths of the dev TLS files.
type Certs struct {
	CA, Cert, Key string
	Created       bool // a new CA or server certificate was made on this start
}

// EnsureCerts returns the dev CA and server certificate in dir, creating what is
// missing and renewing a server certificate that is near expiry or does not cover
// ServerNames. now is the clock used for validity periods.
func EnsureCerts(dir string, now time.Time) (Certs, error) {
	c := Certs{
		CA:   filepath.Join(dir, CAFile),
		Cert: filepath.Join(dir, ServerFile),
		Key:  filepath.Join(dir, ServerKeyFile),
	}
	caCert, caKey, created, err := ensureCA(dir, now)
	if err != nil {
		return Certs{}, err
	}
	c.Created = created
	if !created && serverCertUsable(c.Cert, c.Key, caCert, now) {
		return c, nil
	}
	if err := writeServerCert(c.Cert, c.Key, caCert, caKey, now); err != nil {
		return Certs{}, err
	}
	c.Created = true
	return c, nil
}

func ensureCA(dir string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, bool, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	switch {
	case err == nil:
		cert, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, nil, false, fmt.Errorf("dev CA %s: %w: delete %s and %s to make a new one", certPath, err, certPath, keyPath)
		}
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok || now.After(cert.NotAfter) {
			return nil, nil, false, fmt.Errorf("dev CA %s is expired or not ECDSA: delete %s and %s to make a new one", certPath, certPath, keyPath)
		}
		return cert, key, false, nil
	case errors.Is(err, os.ErrNotExist) && !exists(certPath) && !exists(keyPath):
		// First start: make one below.
	default:
		return nil, nil, false, fmt.Errorf("dev CA: %w: delete %s and %s to make a new one", err, certPath, keyPath)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, false, fmt.Errorf("generate dev CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Latchkey development CA", Organization: []string{"Latchkey dev mode"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, false, fmt.Errorf("create dev CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, false, fmt.Errorf("parse dev CA: %w", err)
	}
	if err := writeKeyPair(certPath, keyPath, der, key); err != nil {
		return nil, nil, false, err
	}
	return cert, key, true, nil
}

func serverCertUsable(certPath, keyPath string, ca *x509.Certificate, now time.Time) bool {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return false
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || cert.CheckSignatureFrom(ca) != nil || now.Add(renewBefore).After(cert.NotAfter) {
		return false
	}
	dns, ips := ServerNames()
	for _, name := range dns {
		if !slices.Contains(cert.DNSNames, name) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func writeServerCert(certPath, keyPath string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate dev server key: %w", err)
	}
	dns, ips := ServerNames()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"Latchkey dev mode"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("create dev server certificate: %w", err)
	}
	return writeKeyPair(certPath, keyPath, der, key)
}

// writeKeyPair writes the key first (0600), then the certificate (0644), each
// through a temporary file and a rename so a crash never leaves half a file.
func writeKeyPair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key for %s: %w", keyPath, err)
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the system's CSPRNG is broken; nothing is safe
	}
	return n
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
