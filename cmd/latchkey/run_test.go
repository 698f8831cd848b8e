package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// sdkApp is what a workload under `latchkey run` does: it uses an unchanged
// DefaultAzureCredential, prints the oid of the token it got and whether it
// saw any credential, and exits 7 so the test sees the code passed through.
func sdkApp() int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "credential:", err)
		return 1
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "token:", err)
		return 1
	}
	parts := strings.Split(tok.Token, ".")
	if len(parts) != 3 {
		fmt.Fprintln(os.Stderr, "the token is not a JWT")
		return 1
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		OID string `json:"oid"`
		Aud string `json:"aud"`
		MI  string `json:"xms_mirid"`
	}
	_ = json.Unmarshal(payload, &claims)
	fmt.Printf("oid=%s aud=%s mirid=%s secret_seen=%t\n", claims.OID, claims.Aud, claims.MI, os.Getenv("AZURE_CLIENT_SECRET") != "")
	return 7
}

// TestRunGivesTheChildAnIdentity: a child of `latchkey run` that uses an
// unchanged DefaultAzureCredential gets its token from the run's identity, sees
// no credential, and its exit code is passed through.
func TestRunGivesTheChildAnIdentity(t *testing.T) {
	d := startDevCLI(t)
	code, out, errLine := d.run("identity", "create", "runner")
	if code != 0 {
		t.Fatalf("identity create: exit %d: %s", code, errLine)
	}
	var mi struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &mi); err != nil || mi.ID == "" {
		t.Fatalf("identity create printed %q: %v", out, err)
	}

	// The child is this test binary in its SDK-app role; env(1) takes it out
	// of the CLI role that latchkey itself runs in.
	env := append(d.env, "AZURE_CLIENT_SECRET=planted-by-the-parent")
	child := []string{"env", "-u", "LATCHKEY_TEST_BE_CLI", "LATCHKEY_TEST_BE_SDK_APP=1", os.Args[0]}
	code, stdout, stderr := runCLI(t, env, append([]string{"run", "--identity", "runner", "--data", d.data, "--"}, child...)...)
	if code != 7 {
		t.Fatalf("latchkey run exited %d, want the child's 7; stdout %q stderr:\n%s", code, stdout, stderr)
	}
	want := fmt.Sprintf("oid=%s aud=https://vault.azure.net mirid=/identities/runner secret_seen=false", mi.ID)
	if !strings.Contains(stdout, want) {
		t.Errorf("child printed %q, want %q", stdout, want)
	}

	code, _, stderr = runCLI(t, env, append([]string{"run", "--identity", "nobody", "--data", d.data, "--"}, child...)...)
	if code == 0 || code == 7 || !strings.Contains(lastLine(stderr), "nobody") {
		t.Errorf("run as an unknown identity: exit %d, last line %q; want a failure naming it, before the child starts", code, lastLine(stderr))
	}
}
