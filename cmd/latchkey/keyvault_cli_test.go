package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client"
)

// The keyvault secret and update commands, driven as a person would: the
// real CLI against a real dev server, whose vault hosts (*.vault.localhost)
// the CLI reaches whether or not DNS knows them.

// secretOut is a secret as `keyvault secret` prints it, read by its
// documented names as a script would.
type secretOut struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Value       *string           `json:"value"`
	ContentType *string           `json:"contentType"`
	Tags        map[string]string `json:"tags"`
	Attributes  struct {
		Enabled         bool       `json:"enabled"`
		Expires         *time.Time `json:"expires"`
		NotBefore       *time.Time `json:"notBefore"`
		Created         *time.Time `json:"created"`
		RecoverableDays int        `json:"recoverableDays"`
		RecoveryLevel   string     `json:"recoveryLevel"`
	} `json:"attributes"`
	RecoveryID         string     `json:"recoveryId"`
	ScheduledPurgeDate *time.Time `json:"scheduledPurgeDate"`
}

func (s secretOut) version() string { return s.ID[strings.LastIndex(s.ID, "/")+1:] }

// secret runs a keyvault secret command on vault v that must succeed.
func (d *devCLI) secret(v string, args ...string) string {
	d.t.Helper()
	return d.ok(append([]string{"keyvault", "secret", args[0], "--vault-name", v}, args[1:]...)...)
}

// secretFails runs a keyvault secret command that must fail saying want,
// and checks that the line never shows a value planted in the vault.
func (d *devCLI) secretFails(want, v string, args ...string) {
	d.t.Helper()
	args = append([]string{"keyvault", "secret", args[0], "--vault-name", v}, args[1:]...)
	code, _, line := d.run(args...)
	if code != exitError || !strings.Contains(line, want) {
		d.t.Errorf("latchkey %s: exit %d, %q; want exit 1 and a line with %q", strings.Join(args, " "), code, line, want)
	}
	for _, planted := range []string{"first-value-17", "second-value-42"} {
		if strings.Contains(line, planted) {
			d.t.Errorf("latchkey %s: the error shows a secret's value: %q", strings.Join(args, " "), line)
		}
	}
}

func TestKeyVaultSecretCLI(t *testing.T) {
	d := startDevCLI(t)
	const v = "default"
	first := decodeOut[secretOut](t, d.secret(v, "set", "--name", "db-pass", "--value", "first-value-17",
		"--content-type", "text/plain", "--tags", "env=dev,team=ml"))
	if first.Name != "db-pass" || first.Value == nil || *first.Value != "first-value-17" || len(first.version()) != 32 ||
		first.Tags["team"] != "ml" || first.ContentType == nil || !first.Attributes.Enabled || first.Attributes.RecoverableDays != 90 {
		t.Errorf("secret set = %+v", first)
	}
	if !strings.HasPrefix(first.ID, "https://default.vault.localhost:") {
		t.Errorf("secret set id %q, want the vault's own host", first.ID)
	}
	file := filepath.Join(t.TempDir(), "value")
	os.WriteFile(file, []byte("second-value-42"), 0o600)
	d.secret(v, "set", "--name", "db-pass", "--file", file)
	d.secretFails("not both", v, "set", "--name", "x", "--value", "first-value-17", "--file", file)
	d.secretFails("--value or --file", v, "set", "--name", "x")

	if got := decodeOut[secretOut](t, d.secret(v, "show", "--name", "db-pass")); got.Value == nil || *got.Value != "second-value-42" {
		t.Errorf("secret show = %+v, want the second value", got)
	}
	if got := decodeOut[secretOut](t, d.secret(v, "show", "--name", "db-pass", "--version", first.version())); *got.Value != "first-value-17" {
		t.Errorf("secret show --version = %q, want the first value", *got.Value)
	}
	if out := d.secret(v, "show", "--name", "db-pass", "-o", "table"); !strings.Contains(out, "Value") || !strings.Contains(out, "second-value-42") {
		t.Errorf("secret show -o table:\n%s", out)
	}
	if list := decodeOut[[]secretOut](t, d.secret(v, "list", "-o", "json")); len(list) != 1 || list[0].Name != "db-pass" || list[0].Value != nil {
		t.Errorf("secret list -o json = %+v, want db-pass without its value", list)
	}
	if out := d.secret(v, "list"); !strings.Contains(out, "db-pass") || strings.Contains(out, "second-value-42") {
		t.Errorf("secret list:\n%s", out)
	}
	if vs := decodeOut[[]secretOut](t, d.secret(v, "list-versions", "--name", "db-pass", "-o", "json")); len(vs) != 2 {
		t.Errorf("secret list-versions = %+v, want 2 versions", vs)
	}

	changed := decodeOut[secretOut](t, d.secret(v, "set-attributes", "--name", "db-pass", "--enabled", "false",
		"--expires", "2030-01-02T03:04:05Z", "--tags", "owner=ann"))
	if changed.Attributes.Enabled || changed.Attributes.Expires == nil || !changed.Attributes.Expires.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) ||
		changed.Tags["owner"] != "ann" || changed.Value != nil {
		t.Errorf("secret set-attributes = %+v", changed)
	}
	d.secretFails("disabled", v, "show", "--name", "db-pass")
	d.secretFails("true or false", v, "set-attributes", "--name", "db-pass", "--enabled", "maybe")
	d.secret(v, "set-attributes", "--name", "db-pass", "--enabled", "true")

	blob := filepath.Join(t.TempDir(), "db-pass.blob")
	d.secret(v, "backup", "--name", "db-pass", "--file", blob)
	if b, err := os.ReadFile(blob); err != nil || len(b) == 0 || strings.Contains(string(b), "second-value-42") {
		t.Errorf("backup file: %d bytes, %v; want an opaque blob", len(b), err)
	}
	deleted := decodeOut[secretOut](t, d.secret(v, "delete", "--name", "db-pass"))
	if !strings.HasSuffix(deleted.RecoveryID, "/deletedsecrets/db-pass") || deleted.ScheduledPurgeDate == nil {
		t.Errorf("secret delete = %+v", deleted)
	}
	if ds := decodeOut[[]secretOut](t, d.secret(v, "list-deleted", "-o", "json")); len(ds) != 1 || ds[0].Name != "db-pass" {
		t.Errorf("secret list-deleted = %+v", ds)
	}
	d.secretFails("deleted", v, "show", "--name", "db-pass")
	d.secret(v, "recover", "--name", "db-pass")
	if got := decodeOut[secretOut](t, d.secret(v, "show", "--name", "db-pass")); *got.Value != "second-value-42" {
		t.Errorf("after recover, show = %q", *got.Value)
	}
	d.secret(v, "delete", "--name", "db-pass")
	d.secret(v, "purge", "--name", "db-pass")
	if ds := decodeOut[[]secretOut](t, d.secret(v, "list-deleted", "-o", "json")); len(ds) != 0 {
		t.Errorf("after purge, list-deleted = %+v", ds)
	}
	d.secretFails("was not found", v, "show", "--name", "db-pass")
	d.secret(v, "restore", "--file", blob)
	if vs := decodeOut[[]secretOut](t, d.secret(v, "list-versions", "--name", "db-pass", "-o", "json")); len(vs) != 2 {
		t.Errorf("after restore, list-versions = %d versions, want 2", len(vs))
	}
	if got := decodeOut[secretOut](t, d.secret(v, "show", "--name", "db-pass")); *got.Value != "second-value-42" {
		t.Errorf("after restore, show = %q", *got.Value)
	}
	d.secretFails("already exists", v, "restore", "--file", blob)
	d.secretFails("was not found", "no-such-vault", "list")
}

func TestKeyVaultUpdateCLI(t *testing.T) {
	d := startDevCLI(t)
	d.ok("keyvault", "create", "--hub", "default", "--name", "guarded")
	const v = "guarded"
	if st := decodeOut[vaultSettingsView](t, d.ok("keyvault", "update", "--name", v)); st.RetentionDays != 90 || st.PurgeProtection || len(st.NetworkAllow) != 0 {
		t.Errorf("keyvault update with no change = %+v, want the defaults", st)
	}
	st := decodeOut[vaultSettingsView](t, d.ok("keyvault", "update", "--name", v, "--retention-days", "7", "--enable-purge-protection"))
	if st.Name != v || st.RetentionDays != 7 || !st.PurgeProtection {
		t.Errorf("keyvault update = %+v, want 7 days and purge protection", st)
	}
	d.fails("7 to 90", "keyvault", "update", "--name", v, "--retention-days", "3")
	d.fails("cannot be turned off", "keyvault", "update", "--name", v, "--enable-purge-protection=false")

	d.secret(v, "set", "--name", "kept", "--value", "first-value-17")
	deleted := decodeOut[secretOut](t, d.secret(v, "delete", "--name", "kept"))
	if deleted.Attributes.RecoverableDays != 7 || deleted.ScheduledPurgeDate == nil || time.Until(*deleted.ScheduledPurgeDate) > 8*24*time.Hour {
		t.Errorf("deleted under a 7-day retention = %+v", deleted)
	}
	d.secretFails("purge protection", v, "purge", "--name", "kept")
	d.secret(v, "recover", "--name", "kept")

	// A network allow-list without the CLI's address shuts the data plane.
	st = decodeOut[vaultSettingsView](t, d.ok("keyvault", "update", "--name", v, "--network-allow", "10.0.0.0/8,192.168.1.7/32"))
	if strings.Join(st.NetworkAllow, ",") != "10.0.0.0/8,192.168.1.7/32" {
		t.Errorf("network allow-list = %v", st.NetworkAllow)
	}
	d.secretFails("client address 127.0.0.1 is not allowed to reach vault guarded", v, "show", "--name", "kept")
	d.fails("not an address range", "keyvault", "update", "--name", v, "--network-allow", "nope")
	if out := d.ok("keyvault", "update", "--name", v, "--network-allow", "", "-o", "table"); !strings.Contains(out, "RetentionDays") {
		t.Errorf("keyvault update -o table:\n%s", out)
	}
	d.secret(v, "show", "--name", "kept")
}

// TestKeyVaultCLIPrincipals: a service principal with a data role only
// reaches the vault (its URL cannot come from the vault's record, which it
// may not read), and a user's login is told what vault commands need.
func TestKeyVaultCLIPrincipals(t *testing.T) {
	d := startDevCLI(t)
	d.secret("default", "set", "--name", "shared", "--value", "first-value-17")
	sp := decodeOut[client.CreatedServicePrincipal](t, d.ok("sp", "create", "reader-bot"))
	d.ok("role", "assignment", "create", "--assignee", sp.AppID, "--role", "Key Vault Secrets User", "--scope", "/hubs/default/vaults/default")
	d.ok("user", "create", "ann", "--password", "correct horse battery")

	d.ok("login", "--service-principal", "-u", sp.AppID, "-p", sp.Password)
	if got := decodeOut[secretOut](t, d.secret("default", "show", "--name", "shared")); *got.Value != "first-value-17" {
		t.Errorf("show as a Key Vault Secrets User = %q", *got.Value)
	}
	d.secretFails("Forbidden", "default", "set", "--name", "shared", "--value", "second-value-42")
	d.logout()

	d.ok("login", "-u", "ann", "-p", "correct horse battery")
	d.secretFails("service principal", "default", "list")
	d.logout()
}

// TestVaultDNSNote: latchkey dev says whether the vault host resolves here
// and, if not, gives the one hosts-file line that makes it.
func TestVaultDNSNote(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}
	if note := vaultDNSNote(t.Context(), "https://default.vault.invalid:8443", addr); !strings.Contains(note, "does not resolve") ||
		!strings.HasSuffix(note, "\n            127.0.0.1 default.vault.invalid") {
		t.Errorf("note for a name that does not resolve:\n%s", note)
	}
	if note := vaultDNSNote(t.Context(), "https://localhost:8443", addr); note != "localhost resolves to this server on this machine." {
		t.Errorf("note for localhost: %q", note)
	}
}
