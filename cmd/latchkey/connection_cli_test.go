package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/client"
)

// TestCLIConnectionYAMLRoundTrip drives `latchkey connection` against a dev
// server: a Key Vault connection from a file, then a connection whose file
// holds credentials as ${env:NAME}, @file and a literal, with a --set
// override; list-secrets gives each back; the literal's warning names its
// field, never its value; show, list and update never print a credential.
func TestCLIConnectionYAMLRoundTrip(t *testing.T) {
	d := startDevCLI(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const (
		fromEnv     = "env-token-5d1c"
		fromFile    = "file-token-8a2b"
		literal     = "literal-token-3e4f"
		placeholder = "placeholder-9c0d"
		override    = "override-token-7b6a"
	)
	d.env = append(d.env, "PARTNER_TOKEN="+fromEnv)

	d.ok("identity", "create", "hub-vault-reader")
	d.ok("role", "assignment", "create", "--assignee", "hub-vault-reader", "--role", "Key Vault Secrets Officer", "--scope", "/hubs/default/vaults/default")
	kv := write("kv.yml", "name: hub-vault\ntype: key_vault\nvault: default\nidentity: hub-vault-reader\n")
	if got := decodeOut[client.Connection](t, d.ok("connection", "create", "--file", kv)); got.ID != "/hubs/default/connections/hub-vault" || got.Properties.Category != "KeyVault" {
		t.Fatalf("connection create (Key Vault) = %+v", got)
	}
	d.fails("a hub has exactly one", "connection", "create", "--file", kv, "--name", "second-vault")

	write("token.txt", fromFile+"\n")
	conn := write("conn.yml", `name: partner
type: custom
target: https://api.partner.example
configs:
  base_url: https://api.partner.example
secrets:
  from_env: ${env:PARTNER_TOKEN}
  from_file: "@token.txt"
  literal: `+literal+`
  overridden: `+placeholder+`
proxy:
  header: X-Api-Token
  key: from_env
is_shared: false
`)
	code, stdout, stderr := runCLI(t, d.env, "connection", "create", "--file", conn, "--project", "default",
		"--set", "credentials.keys.overridden="+override, "--data", d.data)
	if code != 0 {
		t.Fatalf("connection create: exit %d: %s", code, stderr)
	}
	for _, field := range []string{"secrets.literal", "secrets.overridden"} {
		if !strings.Contains(stderr, "latchkey: warning: conn.yml: "+field+" holds a credential written in the file: write it as ${env:NAME} or @path/to/file") {
			t.Errorf("stderr lacks the warning about %s:\n%s", field, stderr)
		}
	}
	for _, secret := range []string{fromEnv, fromFile, literal, placeholder, override} {
		if strings.Contains(stderr, secret) || strings.Contains(stdout, secret) {
			t.Errorf("connection create printed a credential (%s):\n%s\n%s", secret, stdout, stderr)
		}
	}
	created := decodeOut[client.Connection](t, stdout)
	if created.ID != "/hubs/default/projects/default/connections/partner" || created.Properties.AuthType != "CustomKeys" ||
		created.Properties.Metadata["base_url"] != "https://api.partner.example" || len(created.Properties.Secrets) != 4 {
		t.Fatalf("connection create = %+v", created)
	}

	secrets := decodeOut[client.Connection](t, d.ok("connection", "list-secrets", "--project", "default", "--name", "partner", "--output", "json"))
	want := map[string]string{"from_env": fromEnv, "from_file": fromFile, "literal": literal, "overridden": override}
	if secrets.Properties.Credentials == nil {
		t.Fatalf("list-secrets printed no credentials: %+v", secrets)
	}
	for k, v := range want {
		if got := secrets.Properties.Credentials.Keys[k]; got != v {
			t.Errorf("list-secrets credentials.keys.%s = %q, want %q", k, got, v)
		}
	}

	show := d.ok("connection", "show", "--project", "default", "--name", "partner", "-o", "yaml")
	list := d.ok("connection", "list", "--project", "default")
	for _, out := range []string{show, list} {
		for _, v := range want {
			if strings.Contains(out, v) {
				t.Errorf("show or list printed a credential:\n%s", out)
			}
		}
	}
	if !strings.Contains(show, "name: partner") || !strings.Contains(show, "header: X-Api-Token") {
		t.Errorf("show -o yaml:\n%s", show)
	}
	if !strings.Contains(list, "partner") || !strings.Contains(list, "hub-vault") || !strings.Contains(list, "(shared)") {
		t.Errorf("list:\n%s", list)
	}

	// usage: what the proxy metered of the connection (nothing yet), in JSON and as a table.
	if u := decodeOut[client.ConnectionUsage](t, d.ok("connection", "usage", "--project", "default", "--name", "partner")); u.Connection != created.ID ||
		u.Requests != 0 || u.Callers == nil {
		t.Errorf("connection usage = %+v, want no calls yet of %s", u, created.ID)
	}
	if tab := d.ok("connection", "usage", "--project", "default", "--name", "partner", "-o", "table"); !strings.Contains(tab, "Caller") {
		t.Errorf("connection usage -o table:\n%s", tab)
	}

	write("new.txt", "rotated-token-1f2e\n")
	d.ok("connection", "update", "--project", "default", "--name", "partner", "--set", "credentials.keys.from_file=@"+filepath.Join(dir, "new.txt"))
	again := decodeOut[client.Connection](t, d.ok("connection", "list-secrets", "--project", "default", "--name", "partner"))
	if again.Properties.Credentials.Keys["from_file"] != "rotated-token-1f2e" || again.Properties.Credentials.Keys["from_env"] != fromEnv {
		t.Errorf("after update: %+v", again.Properties.Credentials)
	}

	bad := write("bad.yml", "name: x\ntype: api_key\napi_base: https://x\napi_key: ${env:NOT_SET_ANYWHERE}\n")
	d.fails("bad.yml line 4: api_key refers to environment variable NOT_SET_ANYWHERE, which is not set", "connection", "create", "--file", bad)
	d.fails("is_shared: false", "connection", "create", "--file", conn)
	d.ok("connection", "delete", "--project", "default", "--name", "partner")
	d.fails("has a connection partner", "connection", "show", "--project", "default", "--name", "partner")
}
