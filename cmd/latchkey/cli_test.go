package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/devmode"
)

// devCLI runs CLI commands against one dev server, with a home folder of its
// own for the login cache.
type devCLI struct {
	t    *testing.T
	data string
	home string
	env  []string
}

// startDevCLI starts `latchkey dev` as a child and waits for its dev.json,
// which must name the dev admin.
func startDevCLI(t *testing.T) *devCLI {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	srv, _ := startDevIn(t, data)
	t.Cleanup(func() {
		srv.cmd.Process.Signal(syscall.SIGTERM)
		srv.wait(t, 15*time.Second)
	})
	home := t.TempDir()
	return &devCLI{t: t, data: data, home: home, env: []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}}
}

// startDevIn starts `latchkey dev --data data --addr 127.0.0.1:0 args...`,
// waits for its dev.json, which must name the dev admin, and returns the
// process and what dev.json says.
func startDevIn(t *testing.T, data string, args ...string) (*cli, devmode.Info) {
	t.Helper()
	srv := startCLI(t, nil, append([]string{"dev", "--data", data, "--addr", "127.0.0.1:0"}, args...)...)
	waitDevJSON(t, srv, data)
	info, err := devmode.ReadInfo(data)
	if err != nil {
		t.Fatal(err)
	}
	if info.Admin == nil || info.Admin.ClientID == "" || info.Admin.ClientSecret == "" {
		t.Fatalf("dev.json names no admin {clientId, clientSecret}: %+v", info)
	}
	return srv, info
}

// run runs latchkey args --data DATA and returns its exit code, stdout and
// the last line of stderr.
func (d *devCLI) run(args ...string) (int, string, string) {
	d.t.Helper()
	code, stdout, stderr := runCLI(d.t, d.env, append(args, "--data", d.data)...)
	return code, stdout, lastLine(stderr)
}

// logout runs latchkey logout, which takes no server flags.
func (d *devCLI) logout() {
	d.t.Helper()
	if code, _, stderr := runCLI(d.t, d.env, "logout"); code != 0 {
		d.t.Fatalf("latchkey logout: exit %d: %s", code, stderr)
	}
}

// ok runs a command that must succeed and returns its stdout.
func (d *devCLI) ok(args ...string) string {
	d.t.Helper()
	code, stdout, stderr := d.run(args...)
	if code != 0 {
		d.t.Fatalf("latchkey %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// fails runs a command that must fail with exit 1 and one line saying want.
func (d *devCLI) fails(want string, args ...string) {
	d.t.Helper()
	code, _, stderr := d.run(args...)
	if code != exitError || !strings.HasPrefix(stderr, "latchkey: ") || !strings.Contains(stderr, want) {
		d.t.Errorf("latchkey %s: exit %d, %q; want exit 1 and a line with %q", strings.Join(args, " "), code, stderr, want)
	}
}

func decodeOut[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, out)
	}
	return v
}

// TestCLIManagesPrincipals drives the real CLI against a real dev server, as
// its admin (from dev.json) and then logged in as a user and a service
// principal.
func TestCLIManagesPrincipals(t *testing.T) {
	d := startDevCLI(t)
	sp := decodeOut[client.CreatedServicePrincipal](t, d.ok("sp", "create", "build-bot", "--years", "2"))
	if sp.AppID == "" || sp.Password == "" || sp.DisplayName != "build-bot" || time.Until(sp.PasswordExpires) < 700*24*time.Hour {
		t.Errorf("sp create = %+v", sp)
	}
	if list := d.ok("sp", "list"); !strings.Contains(list, "DisplayName") || !strings.Contains(list, "build-bot") || !strings.Contains(list, "latchkey-admin") {
		t.Errorf("sp list lacks the header, build-bot or the admin:\n%s", list)
	}
	if got := decodeOut[client.ServicePrincipal](t, d.ok("sp", "show", "--id", sp.AppID)); got.ID != sp.ID {
		t.Errorf("sp show = %+v, want %s", got, sp.ID)
	}
	reset := decodeOut[client.ResetCredentialResult](t, d.ok("sp", "credential", "reset", "--id", sp.AppID))
	if reset.Password == "" || reset.Password == sp.Password {
		t.Errorf("sp credential reset = %+v", reset)
	}

	mi := decodeOut[client.ManagedIdentity](t, d.ok("identity", "create", "trainer"))
	if mi.Scope != "/identities/trainer" {
		t.Errorf("identity create = %+v", mi)
	}
	if list := decodeOut[[]client.ManagedIdentity](t, d.ok("identity", "list", "-o", "json")); len(list) != 1 || list[0].ClientID != mi.ClientID {
		t.Errorf("identity list -o json = %+v", list)
	}
	if show := d.ok("identity", "show", "trainer", "-o", "table"); !strings.Contains(show, mi.ClientID) {
		t.Errorf("identity show -o table lacks the client id:\n%s", show)
	}
	d.ok("identity", "delete", "trainer")
	d.fails(`managed identity "trainer" was not found`, "identity", "show", "trainer")

	d.ok("user", "create", "ann", "--password", "correct horse battery")
	if list := d.ok("user", "list"); !strings.Contains(list, "ann") {
		t.Errorf("user list lacks ann:\n%s", list)
	}
	d.fails("shorter than 12 characters", "user", "create", "bob", "--password", "short")
	d.fails("--output", "user", "list", "-o", "yaml")
	if code, _, stderr := d.run("sp", "show"); code != exitUsage {
		t.Errorf("sp show without --id: exit %d (%s), want %d", code, stderr, exitUsage)
	}

	d.loginAsUser()
	d.loginAsServicePrincipal(sp.AppID, reset.Password)

	d.ok("sp", "delete", "--id", sp.AppID)
	d.fails("was not found", "sp", "show", "--id", sp.AppID)
	d.ok("user", "delete", "ann")
}

// loginAsUser logs in as ann, checks the cache and that ann may not manage
// principals, then logs out and is the dev admin again.
func (d *devCLI) loginAsUser() {
	t := d.t
	t.Helper()
	summary := decodeOut[loginSummary](t, d.ok("login", "-u", "ann", "-p", "correct horse battery"))
	if summary.User.Name != "ann" || summary.User.Type != "user" || summary.TenantID == "" {
		t.Errorf("login as ann = %+v", summary)
	}
	cache := d.readCache()
	if bytes.Contains(cache, []byte("correct horse battery")) || !bytes.Contains(cache, []byte(`"accessToken"`)) {
		t.Errorf("the login cache of a user must hold a token, never the password:\n%s", cache)
	}
	d.fails("Forbidden", "user", "list")
	d.fails("invalid user name or password", "login", "-u", "ann", "-p", "wrong password!!")
	d.logout()
	d.ok("user", "list")
}

// loginAsServicePrincipal logs in with a client secret, as az login does.
func (d *devCLI) loginAsServicePrincipal(appID, secret string) {
	t := d.t
	t.Helper()
	summary := decodeOut[loginSummary](t, d.ok("login", "--service-principal", "-u", appID, "-p", secret))
	if summary.User.Name != appID || summary.User.Type != "servicePrincipal" {
		t.Errorf("login as a service principal = %+v", summary)
	}
	if cache := d.readCache(); !bytes.Contains(cache, []byte(appID)) {
		t.Errorf("the login cache lacks the service principal:\n%s", cache)
	}
	d.fails("Forbidden", "sp", "list")
	d.logout()
	d.fails("invalid_client", "login", "--service-principal", "-u", appID, "-p", "not-the-secret")
	if _, err := os.Stat(filepath.Join(d.home, ".config", "latchkey", "auth.json")); !os.IsNotExist(err) {
		t.Errorf("a failed login left a login cache behind: %v", err)
	}
}

// readCache returns the login cache after checking its and its folder's modes.
func (d *devCLI) readCache() []byte {
	t := d.t
	t.Helper()
	path := filepath.Join(d.home, ".config", "latchkey", "auth.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no login cache: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("auth.json mode %v, want 0600", fi.Mode().Perm())
	}
	if di, err := os.Stat(filepath.Dir(path)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("the login cache's folder: %v, want mode 0700", err)
	}
	b, _ := os.ReadFile(path)
	return b
}

// TestCLIWithoutServer: with no flag, no login and no dev server, a command
// says how to get one, in one line.
func TestCLIWithoutServer(t *testing.T) {
	t.Chdir(t.TempDir())
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"sp", "list"}, &stdout, &stderr, func(string) string { return "" })
	if want := "latchkey: " + errNoServer.Error() + "\n"; code != exitError || stderr.String() != want {
		t.Errorf("sp list with no server: exit %d, stderr %q; want exit 1 and %q", code, stderr.String(), want)
	}
}
