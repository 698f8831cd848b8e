package devmode_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/internal/devmode"
	"github.com/latchkey/latchkey/internal/seal"
)

// start is the fixed clock of the first EnsureCerts call in each test.
var start = time.Date(2026, time.January, 2, 3, 4, 5, 0, time.UTC)

const day = 24 * time.Hour

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(readFile(t, path))
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return cert
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %#o, want %#o", filepath.Base(path), got, want)
	}
}

// certFiles returns the contents of the four dev TLS files in dir.
func certFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := make(map[string][]byte)
	for _, name := range []string{devmode.CAFile, devmode.CAKeyFile, devmode.ServerFile, devmode.ServerKeyFile} {
		files[name] = readFile(t, filepath.Join(dir, name))
	}
	return files
}

func ensureCerts(t *testing.T, dir string, now time.Time) devmode.Certs {
	t.Helper()
	c, err := devmode.EnsureCerts(dir, now)
	if err != nil {
		t.Fatalf("EnsureCerts(%s) = %v", now.Format(time.DateOnly), err)
	}
	return c
}

// checkServerCert checks that the server certificate in c chains to c's CA at
// now for every name a dev client dials, and for no other.
func checkServerCert(t *testing.T, c devmode.Certs, now time.Time) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, c.CA))
	cert := readCert(t, c.Cert)
	cases := []struct {
		name string
		ok   bool
	}{
		{"localhost", true},
		{"vault.localhost", true},
		{"default.vault.localhost", true},
		{"127.0.0.1", true},
		{"::1", true},
		{"a.b.vault.localhost", false}, // a wildcard covers one label
		{"example.com", false},
		{"10.0.0.1", false},
	}
	for _, tc := range cases {
		_, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.name, CurrentTime: now})
		if (err == nil) != tc.ok {
			t.Errorf("Verify(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestEnsureCertsCreates(t *testing.T) {
	dir := t.TempDir()
	c := ensureCerts(t, dir, start)
	want := devmode.Certs{
		CA:      filepath.Join(dir, devmode.CAFile),
		Cert:    filepath.Join(dir, devmode.ServerFile),
		Key:     filepath.Join(dir, devmode.ServerKeyFile),
		Created: true,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Fatalf("EnsureCerts mismatch (-want +got):\n%s", diff)
	}

	cert := readCert(t, c.Cert)
	wantDNS := []string{"localhost", "*.vault.localhost", "vault.localhost"}
	if diff := cmp.Diff(wantDNS, cert.DNSNames); diff != "" {
		t.Errorf("server certificate DNS names mismatch (-want +got):\n%s", diff)
	}
	wantIPs := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if len(cert.IPAddresses) != len(wantIPs) {
		t.Errorf("server certificate IP addresses = %v, want %v", cert.IPAddresses, wantIPs)
	}
	for _, ip := range wantIPs {
		found := false
		for _, got := range cert.IPAddresses {
			found = found || got.Equal(ip)
		}
		if !found {
			t.Errorf("server certificate IP addresses = %v, want %v among them", cert.IPAddresses, ip)
		}
	}
	if ca := readCert(t, c.CA); !ca.IsCA {
		t.Errorf("%s is not a CA certificate", devmode.CAFile)
	}
	checkServerCert(t, c, start)

	for _, f := range []struct {
		name string
		mode fs.FileMode
	}{
		{devmode.CAKeyFile, 0o600},
		{devmode.ServerKeyFile, 0o600},
		{devmode.CAFile, 0o644},
		{devmode.ServerFile, 0o644},
	} {
		checkMode(t, filepath.Join(dir, f.name), f.mode)
	}
}

func TestEnsureCertsReuses(t *testing.T) {
	dir := t.TempDir()
	ensureCerts(t, dir, start)
	before := certFiles(t, dir)
	for _, later := range []time.Duration{0, day, 300 * day} {
		c := ensureCerts(t, dir, start.Add(later))
		if c.Created {
			t.Errorf("EnsureCerts %v later: Created = true, want the files reused", later)
		}
		if diff := cmp.Diff(before, certFiles(t, dir)); diff != "" {
			t.Errorf("EnsureCerts %v later changed the files (-before +after):\n%s", later, diff)
		}
	}
}

// TestEnsureCertsRenews: a server certificate that expires within 30 days is
// replaced by one the same CA signs.
func TestEnsureCertsRenews(t *testing.T) {
	dir := t.TempDir()
	ensureCerts(t, dir, start)
	before := certFiles(t, dir)
	later := start.Add(380 * day) // the server certificate lives 397 days
	c := ensureCerts(t, dir, later)
	if !c.Created {
		t.Error("EnsureCerts near expiry: Created = false, want a new server certificate")
	}
	after := certFiles(t, dir)
	for _, name := range []string{devmode.CAFile, devmode.CAKeyFile} {
		if !bytes.Equal(before[name], after[name]) {
			t.Errorf("EnsureCerts near expiry replaced %s, want the CA kept", name)
		}
	}
	for _, name := range []string{devmode.ServerFile, devmode.ServerKeyFile} {
		if bytes.Equal(before[name], after[name]) {
			t.Errorf("EnsureCerts near expiry kept %s, want it renewed", name)
		}
	}
	if got := readCert(t, c.Cert).NotAfter; !got.After(later.Add(30 * day)) {
		t.Errorf("renewed server certificate expires %v, want after %v", got, later.Add(30*day))
	}
	checkServerCert(t, c, later)
}

func TestEnsureCertsBrokenCA(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		now    time.Time
	}{
		{"corrupted CA certificate", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, devmode.CAFile), "not a certificate\n")
		}, start},
		{"corrupted CA key", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, devmode.CAKeyFile), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
		}, start},
		{"CA key missing", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, devmode.CAKeyFile)); err != nil {
				t.Fatal(err)
			}
		}, start},
		{"CA certificate missing", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, devmode.CAFile)); err != nil {
				t.Fatal(err)
			}
		}, start},
		{"CA expired", func(t *testing.T, dir string) {}, start.Add(11 * 365 * day)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ensureCerts(t, dir, start)
			tc.damage(t, dir)
			_, err := devmode.EnsureCerts(dir, tc.now)
			if err == nil {
				t.Fatal("EnsureCerts succeeded, want an error")
			}
			caPath := filepath.Join(dir, devmode.CAFile)
			if msg := err.Error(); !strings.Contains(msg, "delete "+caPath) {
				t.Errorf("EnsureCerts = %q, want it to say to delete %s", msg, caPath)
			}
		})
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureMasterKey(t *testing.T) {
	dir := t.TempDir()
	path, created, err := devmode.EnsureMasterKey(dir)
	if err != nil || !created || path != filepath.Join(dir, devmode.MasterKeyFile) {
		t.Fatalf("EnsureMasterKey() = %q, %v, %v; want %q, true, nil", path, created, err, filepath.Join(dir, devmode.MasterKeyFile))
	}
	checkMode(t, path, 0o600)
	key, err := seal.LoadKeyFile(path)
	if err != nil {
		t.Fatalf("LoadKeyFile(%s) = %v", path, err)
	}

	again, created, err := devmode.EnsureMasterKey(dir)
	if err != nil || created || again != path {
		t.Fatalf("second EnsureMasterKey() = %q, %v, %v; want %q, false, nil", again, created, err, path)
	}
	reloaded, err := seal.LoadKeyFile(path)
	if err != nil || reloaded.ID() != key.ID() {
		t.Errorf("key after the second call has id %s (%v), want the same key %s", reloaded.ID(), err, key.ID())
	}
}

// TestEnsureMasterKeyKeepsBadFile: a key file that does not parse is reported,
// never replaced, since replacing it would lose what it sealed.
func TestEnsureMasterKeyKeepsBadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, devmode.MasterKeyFile)
	writeFile(t, path, "too short\n")
	if _, _, err := devmode.EnsureMasterKey(dir); err == nil {
		t.Fatal("EnsureMasterKey with a bad key file succeeded, want an error")
	}
	if got := string(readFile(t, path)); got != "too short\n" {
		t.Errorf("EnsureMasterKey rewrote the bad key file to %q", got)
	}
}

func TestInfoRoundTrip(t *testing.T) {
	dir := t.TempDir()
	info := devmode.Info{
		URL:           "https://127.0.0.1:8443",
		CACert:        "/abs/.latchkey/ca.pem",
		TenantID:      "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
		AuthorityHost: "https://127.0.0.1:8443/",
	}
	path, err := devmode.WriteInfo(dir, info)
	if err != nil || path != filepath.Join(dir, devmode.InfoFile) {
		t.Fatalf("WriteInfo() = %q, %v; want %q, nil", path, err, filepath.Join(dir, devmode.InfoFile))
	}
	// dev.json is a contract: these names are only ever added to.
	const golden = `{
  "url": "https://127.0.0.1:8443",
  "caCert": "/abs/.latchkey/ca.pem",
  "tenantId": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
  "authorityHost": "https://127.0.0.1:8443/"
}
`
	if diff := cmp.Diff(golden, string(readFile(t, path))); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", devmode.InfoFile, diff)
	}
	checkMode(t, path, 0o600)

	got, err := devmode.ReadInfo(dir)
	if err != nil {
		t.Fatalf("ReadInfo() = %v", err)
	}
	if diff := cmp.Diff(info, got); diff != "" {
		t.Errorf("ReadInfo() mismatch (-want +got):\n%s", diff)
	}
}

func TestReadInfoMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	_, err := devmode.ReadInfo(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadInfo(%s) = %v, want an error wrapping fs.ErrNotExist", dir, err)
	}
	if err == nil || !strings.Contains(err.Error(), "start a dev server with `latchkey dev`") {
		t.Errorf("ReadInfo(%s) = %v, want it to say to start `latchkey dev`", dir, err)
	}
}
