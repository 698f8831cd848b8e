package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentServesAnIdentity: latchkey agent serves the managed identity
// protocol on loopback until stopped, writes its variables to --env-file
// (mode 0600), refuses requests without IDENTITY_HEADER, and will not listen
// beyond loopback.
func TestAgentServesAnIdentity(t *testing.T) {
	d := startDevCLI(t)
	if code, _, errLine := d.run("identity", "create", "worker"); code != 0 {
		t.Fatalf("identity create: exit %d: %s", code, errLine)
	}
	envFile := filepath.Join(t.TempDir(), "agent.env")
	agent := startCLI(t, d.env, "agent", "--identity", "worker", "--data", d.data, "--env-file", envFile)
	vars := map[string]string{}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, err := os.ReadFile(envFile)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
		}
		break
	}
	if vars["IDENTITY_ENDPOINT"] == "" || vars["IDENTITY_HEADER"] == "" || vars["AZURE_CLIENT_ID"] == "" {
		t.Fatalf("agent env file holds %v; stderr:\n%s", vars, agent.stderr)
	}
	if fi, err := os.Stat(envFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("env file mode = %v, %v; want 0600 (it holds IDENTITY_HEADER)", fi.Mode().Perm(), err)
	}
	u := vars["IDENTITY_ENDPOINT"] + "?api-version=2019-08-01&resource=" + url.QueryEscape("https://vault.azure.net")
	get := func(header string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", u, nil)
		if header != "" {
			req.Header.Set("X-IDENTITY-HEADER", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, body := get(vars["IDENTITY_HEADER"]); code != 200 || body["access_token"] == "" || body["client_id"] != vars["AZURE_CLIENT_ID"] {
		t.Errorf("token with the header = %d %v", code, body)
	}
	if code, _ := get("wrong"); code != http.StatusUnauthorized {
		t.Errorf("token with a wrong header = %d, want 401", code)
	}
	code, _, stderr := runCLI(t, d.env, "agent", "--identity", "worker", "--data", d.data, "--listen", "0.0.0.0:0")
	if code == 0 || !strings.Contains(lastLine(stderr), "loopback") {
		t.Errorf("agent on 0.0.0.0: exit %d, %q; want a refusal naming loopback", code, lastLine(stderr))
	}
}
