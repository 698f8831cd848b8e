package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/internal/devmode"
)

// The cognitiveservices commands, driven as a person would, against a real
// dev server; the calls of the accounts' data plane come from this test as
// any program would make them.

// devData is what a test needs to reach a dev server as its admin: the
// management API's client, an HTTPS client trusting the dev CA, and the URL.
type devData struct {
	api *client.Client
	hc  *http.Client
	url string
}

func (d *devCLI) devData() devData {
	d.t.Helper()
	info, err := devmode.ReadInfo(d.data)
	if err != nil {
		d.t.Fatal(err)
	}
	hc := httpsClient(d.t, info.CACert)
	tokens := &client.ClientCredentials{TokenURL: client.TokenURL(info.AuthorityHost, info.TenantID),
		ClientID: info.Admin.ClientID, Secret: info.Admin.ClientSecret, HTTPClient: hc}
	return devData{api: client.New(info.URL, hc, tokens), hc: hc, url: info.URL}
}

// issueToken calls the account's STS exchange with key and returns the
// status and body.
func (dd devData) issueToken(t *testing.T, account, key string) (int, string) {
	t.Helper()
	status, body, err := dd.tryIssueToken(account, key)
	if err != nil {
		t.Fatalf("issueToken: %v", err)
	}
	return status, body
}

// tryIssueToken is issueToken for goroutines other than the test's.
func (dd devData) tryIssueToken(account, key string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, dd.url+"/accounts/"+account+"/sts/v1.0/issueToken", nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Ocp-Apim-Subscription-Key", key)
	resp, err := dd.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// chatUpstream is a small OpenAI-compatible provider on loopback that the dev
// server's gateway calls: it answers chat completions, and fails any call
// that does not carry its own key.
func chatUpstream(t *testing.T, key string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key || r.Header.Get("Api-Key") != "" || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, `{"error":{"message":"wrong key or path"}}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// chat makes a chat completion call through account with key in api-key and
// returns the status.
func (dd devData) chat(account, key string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, dd.url+"/accounts/"+account+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("api-key", key)
	resp, err := dd.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func TestCognitiveServicesCLI(t *testing.T) {
	d := startDevCLI(t)
	dd := d.devData()
	keyFile := filepath.Join(t.TempDir(), "upstream.key")
	os.WriteFile(keyFile, []byte("sk-upstream-31337\n"), 0o600)
	upstream := chatUpstream(t, "sk-upstream-31337")

	a := decodeOut[client.Account](t, d.ok("cognitiveservices", "account", "create", "--hub", "default", "--name", "aoai",
		"--upstream", upstream, "--upstream-key-file", keyFile, "--deployment", "gpt=gpt-4o-mini"))
	if a.ID != "/hubs/default/accounts/aoai" || a.AccountKind != "OpenAI" || a.Endpoint != dd.url+"/accounts/aoai" ||
		a.Upstream.Auth != "key" || a.Upstream.Vault != "default" || a.Upstream.Secret != "account-aoai-upstream" ||
		a.Identity.Type != "SystemAssigned" || a.Identity.PrincipalID == "" || a.ActiveKey != "key1" || a.Deployments["gpt"] != "gpt-4o-mini" {
		t.Errorf("account create = %+v", a)
	}
	if code, _, stderr := d.run("cognitiveservices", "account", "create", "--hub", "default", "--name", "x"); code != exitUsage || !strings.Contains(stderr, "upstream") {
		t.Errorf("account create without --upstream: exit %d, %q; want %d naming --upstream", code, stderr, exitUsage)
	}
	if code, _, _ := d.run("cognitiveservices", "account", "create", "--hub", "default", "--name", "x", "--upstream", "http://x/v1", "--upstream-key", "sk"); code != exitUsage {
		t.Errorf("a key given as a flag's value: exit %d, want %d (no such flag)", code, exitUsage)
	}
	d.fails("holds no key", "cognitiveservices", "account", "create", "--hub", "default", "--name", "x", "--upstream", "http://x/v1",
		"--upstream-key-file", os.DevNull)
	d.fails("not an absolute http or https URL", "cognitiveservices", "account", "create", "--hub", "default", "--name", "x", "--upstream", "x/v1")

	shown := d.ok("cognitiveservices", "account", "show", "--name", "aoai")
	if got := decodeOut[client.Account](t, shown); got.Identity.PrincipalID != a.Identity.PrincipalID {
		t.Errorf("account show = %+v", got)
	}
	list := d.ok("cognitiveservices", "account", "list")
	if !strings.Contains(list, "aoai") || !strings.Contains(list, "Endpoint") {
		t.Errorf("account list:\n%s", list)
	}
	for _, out := range []string{shown, list} {
		if strings.Contains(out, "sk-upstream-31337") {
			t.Errorf("the upstream key is shown:\n%s", out)
		}
	}

	// keys list prints exactly Azure's listKeys object.
	var keys map[string]string
	if err := json.Unmarshal([]byte(d.ok("cognitiveservices", "account", "keys", "list", "--name", "aoai")), &keys); err != nil ||
		len(keys) != 2 || len(keys["key1"]) != 64 || len(keys["key2"]) != 64 {
		t.Fatalf("keys list = %v, %v; want {key1, key2}", keys, err)
	}
	if status, tok := dd.issueToken(t, "aoai", keys["key1"]); status != http.StatusOK || strings.Count(tok, ".") != 2 {
		t.Errorf("the STS exchange with key1 = %d %q", status, tok)
	}
	if status, err := dd.chat("aoai", keys["key1"]); status != http.StatusOK || err != nil {
		t.Errorf("a chat completion with key1 through the gateway = %d, %v", status, err)
	}
	usage := decodeOut[client.AccountUsage](t, d.ok("cognitiveservices", "account", "usage", "--name", "aoai"))
	if usage.Requests != 1 || usage.PromptTokens != 7 || len(usage.Callers) != 1 || usage.Callers[0].Key != "key1" {
		t.Errorf("account usage = %+v", usage)
	}
	after := decodeOut[client.AccountKeys](t, d.ok("cognitiveservices", "account", "keys", "regenerate", "--name", "aoai", "--key-name", "key1"))
	if after.Key1 == keys["key1"] || after.Key2 != keys["key2"] {
		t.Errorf("keys regenerate --key-name key1 changed key1 %v, key2 %v", after.Key1 != keys["key1"], after.Key2 != keys["key2"])
	}
	if status, body := dd.issueToken(t, "aoai", keys["key1"]); status != http.StatusUnauthorized || !strings.Contains(body, `"code":"401"`) {
		t.Errorf("the regenerated key1: %d %s; want 401 in Azure's shape", status, body)
	}
	if status, _ := dd.issueToken(t, "aoai", keys["key2"]); status != http.StatusOK {
		t.Errorf("key2 after regenerating key1: %d, want 200", status)
	}
	d.fails("key1 or key2", "cognitiveservices", "account", "keys", "regenerate", "--name", "aoai", "--key-name", "key3")

	// --disable-local-auth refuses keys (403, Azure's AuthenticationTypeDisabled) until turned off.
	if u := decodeOut[client.Account](t, d.ok("cognitiveservices", "account", "update", "--name", "aoai", "--disable-local-auth")); !u.DisableLocalAuth {
		t.Errorf("account update --disable-local-auth = %+v", u)
	}
	if list := d.ok("cognitiveservices", "account", "list"); !strings.Contains(list, "disabled") {
		t.Errorf("account list does not show local auth disabled:\n%s", list)
	}
	if status, body := dd.issueToken(t, "aoai", keys["key2"]); status != http.StatusForbidden || !strings.Contains(body, "AuthenticationTypeDisabled") {
		t.Errorf("key2 under --disable-local-auth: %d %s; want 403 AuthenticationTypeDisabled", status, body)
	}
	if u := decodeOut[client.Account](t, d.ok("cognitiveservices", "account", "update", "--name", "aoai", "--disable-local-auth=false")); u.DisableLocalAuth {
		t.Errorf("account update --disable-local-auth=false = %+v", u)
	}
	if status, _ := dd.issueToken(t, "aoai", keys["key2"]); status != http.StatusOK {
		t.Errorf("key2 with local auth back: %d, want 200", status)
	}
	if active := decodeOut[client.ActiveKey](t, d.ok("cognitiveservices", "account", "keys", "active", "--name", "aoai")); active.KeyName != "key1" || active.Key != after.Key1 {
		t.Errorf("keys active = %+v", active)
	}
	if usage := d.ok("cognitiveservices", "account", "keys", "usage", "--name", "aoai"); !strings.Contains(usage, "key2") || !strings.Contains(usage, "127.0.0.1") {
		t.Errorf("keys usage:\n%s", usage)
	}
	d.ok("cognitiveservices", "account", "delete", "--name", "aoai")
	d.fails("does not exist", "cognitiveservices", "account", "show", "--name", "aoai")
	if status, _ := dd.issueToken(t, "aoai", after.Key2); status != http.StatusNotFound {
		t.Errorf("a key of the deleted account: %d, want 404", status)
	}
}

// TestCognitiveServicesRotateCLI rotates an account's keys while a client
// calls its model continuously through the gateway, taking before each call
// the key the rotation says consumers should use: no call fails, the regeneration of
// key1 is held back while key1 was used within the quiet period, naming the
// caller, and both keys end up new.
func TestCognitiveServicesRotateCLI(t *testing.T) {
	d := startDevCLI(t)
	dd := d.devData()
	keyFile := filepath.Join(t.TempDir(), "upstream.key")
	os.WriteFile(keyFile, []byte("sk-upstream-rot"), 0o600)
	d.ok("cognitiveservices", "account", "create", "--hub", "default", "--name", "aoai", "--upstream", chatUpstream(t, "sk-upstream-rot"),
		"--upstream-key-file", keyFile)
	before := decodeOut[client.AccountKeys](t, d.ok("cognitiveservices", "account", "keys", "list", "--name", "aoai"))

	var calls, failures atomic.Int64
	var mu sync.Mutex // guards firstFailure
	var firstFailure string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the client
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ak, err := dd.api.ActiveKey(t.Context(), "aoai")
			status, body := 0, "a model call through the gateway"
			if err == nil {
				status, err = dd.chat("aoai", ak.Key)
			}
			calls.Add(1)
			if err != nil || status != http.StatusOK {
				failures.Add(1)
				mu.Lock()
				if firstFailure == "" {
					firstFailure = fmt.Sprintf("%d %s %v", status, body, err)
				}
				mu.Unlock()
			}
		}
	}()
	for calls.Load() < 5 {
		time.Sleep(10 * time.Millisecond)
	}
	out := d.ok("cognitiveservices", "account", "keys", "rotate", "--name", "aoai", "--quiet-period", "1500ms", "--poll", "100ms")
	close(stop)
	<-done
	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d calls failed during the rotation; the first: %s", n, calls.Load(), firstFailure)
	}
	var steps []client.RotationStep
	heldNamed := false
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		st := decodeOut[client.RotationStep](t, line)
		steps = append(steps, st)
		if !st.Done && st.Step == 2 && len(st.Held) > 0 && st.Held[0].Caller == "127.0.0.1" && st.Held[0].KeyName == "key1" {
			heldNamed = true
		}
	}
	var done4 []int
	for _, st := range steps {
		if st.Done {
			done4 = append(done4, st.Step)
		}
	}
	if len(done4) != 4 || done4[0] != 1 || done4[1] != 2 || done4[2] != 3 || done4[3] != 4 || !steps[len(steps)-1].Finished {
		t.Errorf("rotate reported the steps done %v (finished %v); want 1, 2, 3, 4, finished:\n%s", done4, steps[len(steps)-1].Finished, out)
	}
	if !heldNamed {
		t.Errorf("rotate never held step 2 back naming the caller 127.0.0.1 of key1:\n%s", out)
	}
	after := decodeOut[client.AccountKeys](t, d.ok("cognitiveservices", "account", "keys", "list", "--name", "aoai"))
	if after.Key1 == before.Key1 || after.Key2 == before.Key2 {
		t.Errorf("after the rotation, key1 new %v, key2 new %v; want both", after.Key1 != before.Key1, after.Key2 != before.Key2)
	}
	t.Logf("%d calls during the rotation, none failed", calls.Load())

	// A new rotation: step 2 is held past --max-wait (key1 was just used), so
	// rotate stops, naming the caller; rotate --force goes on from step 2.
	d.fails("step 2 (regenerate key1) is held: 127.0.0.1 used key1", "cognitiveservices", "account", "keys", "rotate", "--name", "aoai",
		"--quiet-period", "1h", "--max-wait", "1ns", "--poll", "1ms")
	if a := decodeOut[client.Account](t, d.ok("cognitiveservices", "account", "show", "--name", "aoai")); a.Rotation == nil || a.Rotation.Step != 2 || a.ActiveKey != "key2" {
		t.Errorf("the account after a held rotation = %+v", a)
	}
	forced := strings.Split(strings.TrimSpace(d.ok("cognitiveservices", "account", "keys", "rotate", "--name", "aoai", "--force")), "\n")
	if len(forced) != 3 || !decodeOut[client.RotationStep](t, forced[2]).Finished {
		t.Errorf("rotate --force from step 2 printed:\n%s", strings.Join(forced, "\n"))
	}
}
