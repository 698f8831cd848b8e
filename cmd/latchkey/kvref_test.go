package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/devmode"
)

// printEnvApp is a child of `latchkey run` that prints the variable name as
// NAME=value. With LATCHKEY_TEST_PRINTENV_WAIT set it then stays until
// SIGTERM (exit 0), printing "got SIGHUP" for each SIGHUP.
func printEnvApp(name string) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM)
	fmt.Printf("%s=%s\n", name, os.Getenv(name))
	if os.Getenv("LATCHKEY_TEST_PRINTENV_WAIT") == "" {
		return 0
	}
	deadline := time.After(60 * time.Second)
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGTERM {
				return 0
			}
			fmt.Println("got SIGHUP")
		case <-deadline:
			return 3
		}
	}
}

func TestParseKeyVaultReference(t *testing.T) {
	const uri = "https://v1.vault.localhost:8443"
	tests := []struct {
		name, in string
		want     kvRef
		err      string
	}{
		{"secret uri", "@Microsoft.KeyVault(SecretUri=" + uri + "/secrets/db-pass)", kvRef{SecretURI: uri, Vault: "v1", Name: "db-pass"}, ""},
		{"secret uri with version", "@Microsoft.KeyVault(SecretUri=" + uri + "/secrets/db-pass/0123abcd)", kvRef{SecretURI: uri, Vault: "v1", Name: "db-pass", Version: "0123abcd"}, ""},
		{"trailing slash", "@Microsoft.KeyVault(SecretUri=" + uri + "/secrets/db-pass/)", kvRef{SecretURI: uri, Vault: "v1", Name: "db-pass"}, ""},
		{"keys in any case, spaces", "  @microsoft.keyvault( secreturi = https://V1.Vault.Localhost:8443/Secrets/db-pass ) ", kvRef{SecretURI: uri, Vault: "v1", Name: "db-pass"}, ""},
		{"no port", "@Microsoft.KeyVault(SecretUri=https://v1.vault.example.com/secrets/s)", kvRef{SecretURI: "https://v1.vault.example.com", Vault: "v1", Name: "s"}, ""},
		{"vault name", "@Microsoft.KeyVault(VaultName=v1;SecretName=db-pass)", kvRef{Vault: "v1", Name: "db-pass"}, ""},
		{"vault name with version", "@Microsoft.KeyVault(VaultName=v1; SecretName=db-pass; SecretVersion=0123abcd;)", kvRef{Vault: "v1", Name: "db-pass", Version: "0123abcd"}, ""},
		{"vault name, keys in any case", "@MICROSOFT.KEYVAULT(vaultname=v1;SECRETNAME=s)", kvRef{Vault: "v1", Name: "s"}, ""},

		{"no closing parenthesis", "@Microsoft.KeyVault(VaultName=v1;SecretName=s", kvRef{}, "does not end with )"},
		{"empty", "@Microsoft.KeyVault()", kvRef{}, "needs SecretUri"},
		{"unknown key", "@Microsoft.KeyVault(VaultName=v1;SecretName=s;Password=x)", kvRef{}, "unknown key"},
		{"part without =", "@Microsoft.KeyVault(VaultName)", kvRef{}, "without '='"},
		{"key twice", "@Microsoft.KeyVault(VaultName=v1;VaultName=v2;SecretName=s)", kvRef{}, "twice"},
		{"empty value", "@Microsoft.KeyVault(VaultName=;SecretName=s)", kvRef{}, "empty"},
		{"secret name missing", "@Microsoft.KeyVault(VaultName=v1)", kvRef{}, "needs SecretUri"},
		{"both forms", "@Microsoft.KeyVault(SecretUri=" + uri + "/secrets/s;VaultName=v1)", kvRef{}, "one form"},
		{"http", "@Microsoft.KeyVault(SecretUri=http://v1.vault.localhost/secrets/s)", kvRef{}, "https://"},
		{"not a vault host", "@Microsoft.KeyVault(SecretUri=https://example.com/secrets/s)", kvRef{}, "not a vault's"},
		{"an address", "@Microsoft.KeyVault(SecretUri=https://127.0.0.1:8443/secrets/s)", kvRef{}, "not a vault's"},
		{"query", "@Microsoft.KeyVault(SecretUri=" + uri + "/secrets/s?x=1)", kvRef{}, "https://"},
		{"user info", "@Microsoft.KeyVault(SecretUri=https://u:p@v1.vault.localhost/secrets/s)", kvRef{}, "https://"},
		{"keys path", "@Microsoft.KeyVault(SecretUri=" + uri + "/keys/s)", kvRef{}, "/secrets/NAME"},
		{"too deep", "@Microsoft.KeyVault(SecretUri=" + uri + "/secrets/s/v/x)", kvRef{}, "/secrets/NAME"},
		{"bad secret name", "@Microsoft.KeyVault(VaultName=v1;SecretName=db_pass)", kvRef{}, "secret name"},
		{"bad vault name", "@Microsoft.KeyVault(VaultName=v.1;SecretName=s)", kvRef{}, "vault name"},
		{"bad version", "@Microsoft.KeyVault(VaultName=v1;SecretName=s;SecretVersion=1-2)", kvRef{}, "version"},
		{"not a reference", "hunter2", kvRef{}, "not a Key Vault reference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseKeyVaultReference(tc.in)
			if got != tc.want || (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseKeyVaultReference(%q) = %+v, %v; want %+v, error with %q", tc.in, got, err, tc.want, tc.err)
			}
			if err == nil {
				if again, err := parseKeyVaultReference(got.String()); again != got || err != nil {
					t.Errorf("parse(%q) = %+v, %v; want it to round-trip to %+v", got.String(), again, err, got)
				}
			}
		})
	}
}

func FuzzParseKeyVaultReference(f *testing.F) {
	for _, s := range []string{
		"@Microsoft.KeyVault(SecretUri=https://v.vault.localhost:8443/secrets/db/0123abcd)",
		"@Microsoft.KeyVault(VaultName=v;SecretName=db;SecretVersion=0123abcd)",
		"@microsoft.keyvault( secreturi = https://V.vault.x/secrets/db/ )",
		"@Microsoft.KeyVault(SecretUri=https://v.vault.x/secrets/%2e%2e)",
		"@Microsoft.KeyVault(;;=;)", "@Microsoft.KeyVault(", "plain value",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := parseKeyVaultReference(s)
		if err != nil {
			return
		}
		if !isKeyVaultReference(s) {
			t.Fatalf("parse(%q) succeeded on what is not a reference", s)
		}
		if err := ref.check(); err != nil {
			t.Fatalf("parse(%q) = %+v, which fails its own check: %v", s, ref, err)
		}
		again, err := parseKeyVaultReference(ref.String())
		if err != nil || again != ref {
			t.Fatalf("parse(%q) = %+v; its String %q parses to %+v, %v", s, ref, ref.String(), again, err)
		}
	})
}

// runWithRefs prepares a dev server with identity runner, allowed to read the
// vault default (secret db-password) but not the vault locked (secret
// other), and returns the child command that prints DB_PASSWORD.
func runWithRefs(t *testing.T) (*devCLI, []string) {
	d := startDevCLI(t)
	d.ok("identity", "create", "runner")
	d.ok("keyvault", "create", "--hub", "default", "--name", "locked")
	d.secret("default", "set", "--name", "db-password", "--value", "first-value-17")
	d.secret("locked", "set", "--name", "other", "--value", "second-value-42")
	d.ok("role", "assignment", "create", "--assignee", "runner", "--role", "Key Vault Secrets User", "--scope", "/hubs/default/vaults/default")
	// The child is this test binary in its print-env role; env(1) takes it out
	// of the CLI role that latchkey itself runs in.
	return d, []string{"env", "-u", "LATCHKEY_TEST_BE_CLI", "LATCHKEY_TEST_BE_PRINTENV=DB_PASSWORD", os.Args[0]}
}

// TestRunResolvesKeyVaultReferences is the reference's promise: a child of
// `latchkey run` sees the secret's value, read as the run's identity, and a
// reference the identity may not read stops the start, naming the variable
// and never the value.
func TestRunResolvesKeyVaultReferences(t *testing.T) {
	d, child := runWithRefs(t)
	info, err := devmode.ReadInfo(d.data)
	if err != nil {
		t.Fatal(err)
	}
	runArgs := append([]string{"run", "--identity", "runner", "--data", d.data, "--"}, child...)
	for _, ref := range []string{
		"@Microsoft.KeyVault(VaultName=default;SecretName=db-password)",
		"@microsoft.keyvault( secreturi = " + info.VaultURL + "/secrets/db-password/ )",
	} {
		code, stdout, stderr := runCLI(t, append(d.env, "DB_PASSWORD="+ref), runArgs...)
		if code != 0 || stdout != "DB_PASSWORD=first-value-17\n" {
			t.Errorf("run with DB_PASSWORD=%s: exit %d, stdout %q; want the value; stderr:\n%s", ref, code, stdout, stderr)
		}
	}

	lockedURL := strings.Replace(info.VaultURL, "//default.", "//locked.", 1)
	for _, tc := range []struct{ ref, want string }{
		{"@Microsoft.KeyVault(SecretUri=" + lockedURL + "/secrets/other)", "Forbidden"},
		{"@Microsoft.KeyVault(VaultName=default;SecretName=missing)", "was not found"},
		{"@Microsoft.KeyVault(VaultName=nowhere;SecretName=other)", "vault nowhere"},
		{"@Microsoft.KeyVault(SecretUri=https://default.vault.elsewhere.example/secrets/db-password)", "this server's vaults only"},
		{"@Microsoft.KeyVault(VaultName=default;SecretName=db-password", "does not end with )"},
	} {
		code, stdout, stderr := runCLI(t, append(d.env, "DB_PASSWORD="+tc.ref), runArgs...)
		line := lastLine(stderr)
		if code != exitError || stdout != "" || !strings.Contains(line, "environment variable DB_PASSWORD") || !strings.Contains(line, tc.want) {
			t.Errorf("run with DB_PASSWORD=%s: exit %d, stdout %q, last line %q; want exit 1 before the child, naming the variable and %q",
				tc.ref, code, stdout, line, tc.want)
		}
		if strings.Contains(stderr, "second-value-42") || strings.Contains(stderr, "first-value-17") {
			t.Errorf("run with DB_PASSWORD=%s: stderr shows a secret's value:\n%s", tc.ref, stderr)
		}
	}
}

// TestRunWatchFollowsNewVersions: with --watch the child is restarted with a
// new version's value; with --watch-signal it is sent the signal instead.
func TestRunWatchFollowsNewVersions(t *testing.T) {
	d, child := runWithRefs(t)
	env := append(d.env, "DB_PASSWORD=@Microsoft.KeyVault(VaultName=default;SecretName=db-password)")
	child = append(child[:3], append([]string{"LATCHKEY_TEST_PRINTENV_WAIT=1"}, child[3:]...)...)

	restart := startCLI(t, env, append([]string{"run", "--identity", "runner", "--watch", "--watch-interval", "200ms", "--data", d.data, "--"}, child...)...)
	waitOutput(t, restart, "DB_PASSWORD=first-value-17\n")
	d.secret("default", "set", "--name", "db-password", "--value", "rotated-value-2")
	waitOutput(t, restart, "DB_PASSWORD=rotated-value-2\n")
	if errs := restart.stderr.String(); !strings.Contains(errs, "the secret of DB_PASSWORD changed: restarting") || strings.Contains(errs, "rotated-value-2") {
		t.Errorf("stderr of run --watch:\n%s\nwant a restart line naming the variable, not the value", errs)
	}
	restart.cmd.Process.Signal(syscall.SIGTERM)
	if code := restart.wait(t, 15*time.Second); code != 0 {
		t.Errorf("run --watch after SIGTERM: exit %d, want the child's 0; stderr:\n%s", code, restart.stderr)
	}

	reload := startCLI(t, env, append([]string{"run", "--identity", "runner", "--watch", "--watch-interval", "200ms", "--watch-signal", "SIGHUP", "--data", d.data, "--"}, child...)...)
	waitOutput(t, reload, "DB_PASSWORD=rotated-value-2\n")
	d.secret("default", "set", "--name", "db-password", "--value", "rotated-value-3")
	waitOutput(t, reload, "got SIGHUP\n")
	if out := reload.stdout.String(); strings.Contains(out, "rotated-value-3") {
		t.Errorf("run --watch-signal restarted the child:\n%s", out)
	}
	reload.cmd.Process.Signal(syscall.SIGTERM)
	reload.wait(t, 15*time.Second)
}

// waitOutput waits until c's stdout holds want.
func waitOutput(t *testing.T, c *cli, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(c.stdout.String(), want) {
		select {
		case <-c.done:
			t.Fatalf("latchkey %v exited (%d) before printing %q; stdout %q, stderr:\n%s", c.cmd.Args[1:], c.cmd.ProcessState.ExitCode(), want, c.stdout, c.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("latchkey %v did not print %q; stdout %q, stderr:\n%s", c.cmd.Args[1:], want, c.stdout, c.stderr)
		}
	}
}
