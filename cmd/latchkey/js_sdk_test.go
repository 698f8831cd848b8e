package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/devmode"
)

// TestJavaScriptSDK runs e2e/js/scenario.mjs, the Key Vault scenario written
// against the official Azure SDK for JavaScript (@azure/keyvault-secrets with
// @azure/identity), against a real `latchkey dev`: the wire protocol, not one
// client, is what passes. .ci/install-js-deps installs the packages; outside CI
// (CI unset) the test skips when node or the packages are missing.
func TestJavaScriptSDK(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "e2e", "js"))
	if err != nil {
		t.Fatal(err)
	}
	node := jsPrerequisites(t, dir)
	d := startDevCLI(t)
	info, err := devmode.ReadInfo(d.data)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "scenario.mjs"))
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(),
		"NODE_EXTRA_CA_CERTS="+info.CACert,
		"LATCHKEY_DEV_JSON="+filepath.Join(d.data, "dev.json"),
	)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("node scenario.mjs did not finish within 2 minutes; output:\n%s", out)
	}
	if err != nil {
		t.Fatalf("node scenario.mjs: %v; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "js scenario: ok") {
		t.Fatalf("node scenario.mjs exited 0 without saying \"js scenario: ok\"; output:\n%s", out)
	}
	t.Logf("JavaScript SDK scenario passed in %s:\n%s", time.Since(start).Round(time.Millisecond), out)
}

// jsPrerequisites returns the path of node, or skips the test (fails it in
// CI, where .ci/run installs everything) when node or e2e/js/node_modules is
// missing.
func jsPrerequisites(t *testing.T, dir string) string {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("%s; CI is set, so .ci/run should have installed it (.ci/install-js-deps)", what)
		}
		t.Skipf("%s; JavaScript SDK scenario skipped (run .ci/install-js-deps with Node 20+ to enable it)", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@azure", "keyvault-secrets")); errors.Is(err, os.ErrNotExist) {
		missing(filepath.Join(dir, "node_modules") + " lacks the Azure SDK packages")
	} else if err != nil {
		t.Fatal(err)
	}
	return node
}
