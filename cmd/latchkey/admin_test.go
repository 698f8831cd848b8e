package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/devmode"
	"github.com/latchkey/latchkey/internal/seal"
)

// TestAdminBootstrapForServe: on a latchkey serve installation, `latchkey
// admin bootstrap` prints the first administrator's credentials, which can
// log in and manage; running it again replaces the secret.
func TestAdminBootstrapForServe(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(data, "master.key")
	if err := os.WriteFile(keyFile, []byte(key.Encode()), 0o600); err != nil {
		t.Fatal(err)
	}
	certs, err := devmode.EnsureCerts(data, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	bootstrap := func() map[string]string {
		t.Helper()
		code, stdout, stderr := runCLI(t, nil, "admin", "bootstrap", "--data", data, "--master-key-file", keyFile)
		var creds map[string]string
		if code != 0 || json.Unmarshal([]byte(stdout), &creds) != nil || creds["appId"] == "" || creds["password"] == "" || creds["tenant"] == "" {
			t.Fatalf("admin bootstrap: exit %d, stdout %q, stderr %s", code, stdout, stderr)
		}
		return creds
	}
	first := bootstrap()
	srv := startCLI(t, nil, "serve", "--data", data, "--master-key-file", keyFile,
		"--tls-cert", certs.Cert, "--tls-key", certs.Key, "--addr", "127.0.0.1:0")
	stopOnCleanup(t, srv)
	url := "https://" + waitStarted(t, srv)

	home := t.TempDir()
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}
	login := func(creds map[string]string) int {
		code, _, _ := runCLI(t, env, "login", "--service-principal", "-u", creds["appId"], "-p", creds["password"],
			"--tenant", creds["tenant"], "--server", url, "--ca-cert", certs.CA)
		return code
	}
	if code := login(first); code != 0 {
		t.Fatalf("login with the bootstrap credentials: exit %d", code)
	}
	if code, _, stderr := runCLI(t, env, "hub", "create", "--name", "research", "--server", url, "--ca-cert", certs.CA); code != 0 {
		t.Fatalf("hub create as the bootstrap admin: exit %d: %s", code, stderr)
	}

	second := bootstrap()
	if second["appId"] != first["appId"] || second["password"] == first["password"] {
		t.Errorf("a second bootstrap must keep the admin and replace its secret: %v then %v", first["appId"], second["appId"])
	}
	// The replaced secret no longer signs in; the new one does (the running
	// server learns of the change from the change feed).
	deadline := time.Now().Add(10 * time.Second)
	for login(first) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if code := login(first); code == 0 {
		t.Error("the replaced secret still signs in")
	}
	if code := login(second); code != 0 {
		t.Error("the new secret does not sign in")
	}
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Errorf("serve listened on %s", url)
	}
}
